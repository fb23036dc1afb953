// Command top1 is the cifar-100-classification scorer module: metrics.Top1Metric
// behind the scorer ABI. Build: GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared (scorers/build.sh does).
package main

import (
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/sdk"
)

func init() { sdk.Register(metrics.Top1Metric) }

func main() {}
