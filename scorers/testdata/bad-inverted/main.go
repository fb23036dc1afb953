// Command bad-inverted is a deliberately broken ROC AUC module for the
// certification report's perfect-submission check: a sign slip makes it
// return 1 - AUC while the competition maximizes, so the perfect submission
// scores worst.
package main

import (
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/sdk"
)

func score(in abi.Input) (abi.Result, error) {
	res, err := metrics.ROCAUCMetric(in)
	res.Primary = 1 - res.Primary
	return res, err
}

func init() { sdk.Register(score) }

func main() {}
