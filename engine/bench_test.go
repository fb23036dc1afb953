package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/synth"
)

// BenchmarkScoreTitanic1M measures the engine (Validate then Run) on a 1M-row
// submission in holdout order against a prepared holdout: validation and
// alignment, then the sandboxed accuracy module (reported apart as
// validate-ms and metric-ms).
func BenchmarkScoreTitanic1M(b *testing.B) {
	sp, _ := spec.Builtin(spec.Titanic)
	f, err := synth.Generate(spec.Titanic, 1, 1_000_000)
	require.NoError(b, err)
	h, err := holdout.ImportCSV(sp, f.Holdout)
	require.NoError(b, err)
	sub := f.Submission(2, synth.SubmissionOptions{Noise: 0.2})
	sc, m := scorer(b, sp)
	ctx := ctxT(b, 10*time.Minute)
	var val, met float64
	b.ResetTimer()
	for b.Loop() {
		res, err := scoreBytes(ctx, sc, sp, h, sub, m)
		if err != nil {
			b.Fatal(err)
		}
		val += res.Timing.ValidateMS
		met += res.Timing.MetricMS
	}
	b.ReportMetric(val/float64(b.N), "validate-ms")
	b.ReportMetric(met/float64(b.N), "metric-ms")
}
