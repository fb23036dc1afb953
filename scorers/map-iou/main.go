// Command map-iou is the rsna-pneumonia-detection scorer module: metrics.MapIoUMetric
// behind the scorer ABI. Build: GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared (scorers/build.sh does).
package main

import (
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/sdk"
)

func init() { sdk.Register(metrics.MapIoUMetric) }

func main() {}
