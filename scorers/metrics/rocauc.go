package metrics

import (
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/medforge/medforge/engine/abi"
)

// ErrOneClass is returned by ROCAUC when the truth holds only one class:
// the area under the ROC curve is not defined then (sklearn raises
// ValueError in the same case).
var ErrOneClass = errors.New("ROC AUC is not defined: the truth holds only one class")

// ROCAUC returns the area under the ROC curve of scores pred against binary
// truth (each 0 or 1), as sklearn.metrics.roc_auc_score computes it: tied
// scores form one step of the curve, which the trapezoidal rule turns into
// half credit for every (positive, negative) pair with equal scores. It is
// computed exactly, as the Mann-Whitney count of correctly ordered pairs
// (ties count one half) over all pairs, in integers, then divided once; so
// the result is the correctly rounded area. pred must hold no NaN. truth and
// pred have the same length; scratch, when it has room, is reused.
func ROCAUC(truth, pred []float64, scratch []float64) (auc float64, positives, negatives int, err error) {
	n := len(truth)
	pred = pred[:n]
	for _, t := range truth {
		if t == 1 {
			positives++
		} else if t != 0 {
			return 0, 0, 0, errors.New("truth values must be 0 or 1, got " + strconv.FormatFloat(t, 'g', -1, 64))
		}
	}
	negatives = n - positives
	if positives == 0 || negatives == 0 {
		return 0, positives, negatives, ErrOneClass
	}
	buf := scratch[:0]
	if cap(buf) < n {
		buf = make([]float64, 0, n)
	}
	pos := buf[:positives]
	neg := buf[positives:n]
	ip, in := 0, 0
	for i, t := range truth {
		if t == 1 {
			pos[ip] = pred[i]
			ip++
		} else {
			neg[in] = pred[i]
			in++
		}
	}
	slices.Sort(pos)
	slices.Sort(neg)
	// For each distinct negative score v (taken in ascending order): twice
	// its pairs = 2*(positives above v) + (positives equal to v).
	var twice uint64
	j := 0 // pos[:j] are < v
	for i := 0; i < len(neg); {
		v := neg[i]
		k := i
		for k < len(neg) && neg[k] == v {
			k++
		}
		for j < len(pos) && pos[j] < v {
			j++
		}
		e := j
		for e < len(pos) && pos[e] == v {
			e++
		}
		above := uint64(len(pos) - e)
		equal := uint64(e - j)
		twice += uint64(k-i) * (2*above + equal)
		i = k
	}
	return float64(twice) / (2 * float64(positives) * float64(negatives)), positives, negatives, nil
}

// ROCAUCMetric is the breast-cancer-diagnosis scorer: one Float64 truth
// column (0 or 1 per unit) and one Float64 prediction column (a probability
// in [0, 1]); primary = ROCAUC, secondaries "positives" and "negatives".
// It has no per-unit contributions (the area is not a mean over units), so
// leaderboards show no interval for it. A prediction outside [0, 1] is a
// public error naming the unit's id.
func ROCAUCMetric(in abi.Input) (abi.Result, error) {
	truth, err := column(in, abi.Truth, abi.Float64, "truth")
	if err != nil {
		return abi.Result{}, err
	}
	pred, err := column(in, abi.Prediction, abi.Float64, "prediction")
	if err != nil {
		return abi.Result{}, err
	}
	for i, p := range pred.Float64[:in.Units] {
		if !(p >= 0 && p <= 1) {
			return abi.Result{}, &abi.GuestError{Public: true,
				Message: "predictions must be probabilities in [0, 1]; " + unitName(in, i) + " has " + strconv.FormatFloat(p, 'g', -1, 64)}
		}
	}
	auc, np, nn, err := ROCAUC(truth.Float64[:in.Units], pred.Float64, nil)
	if err != nil {
		return abi.Result{}, err
	}
	if math.IsNaN(auc) {
		return abi.Result{}, errors.New("ROC AUC is NaN")
	}
	return abi.Result{Primary: auc, Secondary: []abi.Named{
		{Name: "positives", Value: float64(np)}, {Name: "negatives", Value: float64(nn)}}}, nil
}

// unitName names unit i by its key (the submission id) when the input
// carries one, else by its position.
func unitName(in abi.Input, i int) string {
	for _, c := range in.Columns {
		if c.Role != abi.Key {
			continue
		}
		switch c.Type {
		case abi.Int64:
			return "id " + strconv.FormatInt(c.Int64[i], 10)
		case abi.Utf8:
			if i+1 < len(c.Offsets) {
				return "id " + strconv.Quote(string(c.Data[c.Offsets[i]:c.Offsets[i+1]]))
			}
		}
	}
	return "unit " + strconv.Itoa(i+1)
}
