// Command bad-nan-crash is a deliberately broken ROC AUC module for the
// certification report's adversarial check: before scoring it takes the
// logit of every prediction and panics when one is NaN (a negative
// prediction) instead of refusing the submission with a public error.
package main

import (
	"math"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/sdk"
)

func score(in abi.Input) (abi.Result, error) {
	for _, c := range in.Columns {
		if c.Role == abi.Prediction {
			for _, p := range c.Float64 {
				if math.IsNaN(math.Log(p) - math.Log1p(-p)) {
					panic("NaN logit")
				}
			}
		}
	}
	return metrics.ROCAUCMetric(in)
}

func init() { sdk.Register(score) }

func main() {}
