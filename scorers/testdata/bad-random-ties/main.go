// Command bad-random-ties is a deliberately broken ROC AUC module for the
// certification report's determinism check: it breaks tied scores at random
// (math/rand/v2, seeded by the runtime from WASI random_get), so its score
// on a submission with ties depends on the sandbox's random source.
package main

import (
	"errors"
	"math/rand/v2"
	"sort"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/sdk"
)

func auc(in abi.Input) (abi.Result, error) {
	var truth, pred []float64
	for _, c := range in.Columns {
		switch c.Role {
		case abi.Truth:
			truth = c.Float64
		case abi.Prediction:
			pred = c.Float64
		}
	}
	if truth == nil || pred == nil {
		return abi.Result{}, errors.New("needs float truth and prediction")
	}
	type pair struct{ p, t, tie float64 }
	ps := make([]pair, in.Units)
	for i := range ps {
		ps[i] = pair{pred[i], truth[i], rand.Float64()}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].p != ps[j].p {
			return ps[i].p < ps[j].p
		}
		return ps[i].tie < ps[j].tie
	})
	var pos, neg, correct float64
	for _, x := range ps { // each positive beats every negative below it
		if x.t == 1 {
			pos++
			correct += neg
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return abi.Result{}, errors.New("one class")
	}
	return abi.Result{Primary: correct / (pos * neg)}, nil
}

func init() { sdk.Register(auc) }

func main() {}
