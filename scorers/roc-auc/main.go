// Command roc-auc is the breast-cancer-diagnosis scorer module, written with
// the Go SDK: metrics.ROCAUCMetric (sklearn.metrics.roc_auc_score, ties
// included) behind the scorer ABI. Build: GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared (scorers/build.sh does).
package main

import (
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/sdk"
)

func init() { sdk.Register(metrics.ROCAUCMetric) }

func main() {}
