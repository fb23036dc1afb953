package competitions_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/synth"
)

// BenchmarkScoreTitanic measures claim + score + official switch of
// titanic-size submissions with Concurrency loops on one Service.
func BenchmarkScoreTitanic(b *testing.B) {
	t := &testing.T{}
	_ = t
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("loops=%d", conc), func(b *testing.B) {
			e := setupB(b)
			ctx := context.Background()
			f, _ := synth.Generate("titanic-survival", 20260217, 418)
			u := competitions.Viewer{UserID: e.userB(b)}
			for i := range b.N {
				if _, err := e.svc.Submit(ctx, u, e.slug, "s.csv", f.Submission(uint64(i), synth.SubmissionOptions{Noise: .2})); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			drainConcurrently(b, ctx, e.svc, make([]competitions.WorkerOptions, conc)...)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "scored/s")
		})
	}
}

func BenchmarkEngineOnly(b *testing.B) {
	e := setupB(b)
	ctx := context.Background()
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	file := f.Submission(1, synth.SubmissionOptions{Noise: .2})
	c, _ := e.st.GetCompetitionBySlug(ctx, e.slug)
	h, _ := e.st.GetHoldoutVersion(ctx, c.CurrentHoldoutID.Int64)
	m, _ := e.st.GetScorerModule(ctx, c.CurrentScorerID.Int64)
	_ = h
	_ = m
	b.ResetTimer()
	for range b.N {
		if _, err := e.svc.Validate(ctx, e.slug, file); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEngineOnlyC(b *testing.B) {
	e := setupB(b)
	ctx := context.Background()
	wasm, _ := os.ReadFile(filepath.Join(builtScorers(b), "accuracy-c.wasm"))
	admin := competitions.Viewer{UserID: e.userB(b), Admin: true}
	if _, err := e.svc.UploadScorer(ctx, admin, e.slug, "c", "1", wasm); err != nil {
		b.Fatal(err)
	}
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	file := f.Submission(1, synth.SubmissionOptions{Noise: .2})
	b.ResetTimer()
	for range b.N {
		if _, err := e.svc.Validate(ctx, e.slug, file); err != nil {
			b.Fatal(err)
		}
	}
}
