package scoring_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/scorers/metrics"
	"github.com/medforge/medforge/scorers/scorertest"
)

// TestScoreSplitOneRunForMeans: accuracy is a mean of per-unit
// contributions, so one sandbox run gives both parts, and each part's
// score is its units' accuracy.
func TestScoreSplitOneRunForMeans(t *testing.T) {
	e, h, f := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wasm, _ := os.ReadFile(scorertest.Build(t, "accuracy"))
	m := competitions.ScorerModule{Digest: "split-acc", Wasm: wasm}
	sp := competitions.Split{Secret: []byte("k"), Fraction: 0.3}
	file := f.Submission(3, synth.SubmissionOptions{Noise: 0.3})
	res, err := e.ScoreSplit(ctx, h, m, file, sp)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != competitions.SplitOneRun || len(res.PerUnit) != h.Rows || res.Public.Units+res.Private.Units != h.Rows {
		t.Fatalf("%+v", res)
	}
	full, err := e.Score(ctx, h, m, file)
	if err != nil {
		t.Fatal(err)
	}
	whole := (res.Public.Primary*float64(res.Public.Units) + res.Private.Primary*float64(res.Private.Units)) / float64(h.Rows)
	if math.Abs(whole-full.PrimaryScore) > 1e-12 {
		t.Fatalf("parts %v/%v do not make the whole %v", res.Public.Primary, res.Private.Primary, full.PrimaryScore)
	}
	units, err := e.PublicUnits(ctx, h, sp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range units {
		if units[i] != res.InPublic[i] {
			t.Fatal("PublicUnits disagrees with the scoring split")
		}
	}
	// Secondaries over the whole holdout would leak the private part.
	if len(res.Public.Secondary) != 0 || len(res.Private.Secondary) != 0 {
		t.Fatalf("one-run split returned secondaries: %+v", res)
	}
}

// TestScoreSplitPerPartForOtherMetrics: ROC AUC is not a mean over units,
// so each part runs on its own units, and agrees with the metric computed
// on the host over those units.
func TestScoreSplitPerPartForOtherMetrics(t *testing.T) {
	sp := spec.Spec{Slug: "auc-split", Metric: "roc-auc", HigherIsBetter: true, ID: "id",
		Columns: []spec.Column{{Name: "p", Type: spec.Float}}, Layout: spec.Rows}
	r := rand.New(rand.NewPCG(1, 2))
	n := 400
	truth, pred := make([]float64, n), make([]float64, n)
	var hb, sb bytes.Buffer
	hb.WriteString("id,p\n")
	sb.WriteString("id,p\n")
	for i := range n {
		if r.Float64() < 0.4 {
			truth[i] = 1
		}
		pred[i] = math.Min(1, math.Max(0, 0.35*truth[i]+0.65*r.Float64()))
		fmt.Fprintf(&hb, "u%d,%v\n", i, truth[i])
		fmt.Fprintf(&sb, "u%d,%v\n", i, pred[i])
	}
	hd, err := holdout.ImportCSV(sp, hb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "auc.arrow")
	fh, _ := os.Create(p)
	if err := hd.WriteArrow(fh); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	h := competitions.Holdout{ID: 2, Digest: hd.Digest()[len("sha256:"):], Path: p, Rows: n, Spec: sp}
	e, _, _ := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wasm, _ := os.ReadFile(scorertest.Build(t, "roc-auc"))
	m := competitions.ScorerModule{Digest: "split-auc", Wasm: wasm}
	split := competitions.Split{Secret: []byte("auc"), Fraction: 0.3}
	res, err := e.ScoreSplit(ctx, h, m, sb.Bytes(), split)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != competitions.SplitPerPart || res.PerUnit != nil {
		t.Fatalf("method %s", res.Method)
	}
	for _, part := range []struct {
		public bool
		got    float64
	}{{true, res.Public.Primary}, {false, res.Private.Primary}} {
		var tt, pp []float64
		for i := range n {
			if split.Public([]byte(fmt.Sprintf("u%d", i))) == part.public {
				tt, pp = append(tt, truth[i]), append(pp, pred[i])
			}
		}
		want, _, _, err := metrics.ROCAUC(tt, pp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(want-part.got) > 1e-12 {
			t.Fatalf("public=%v part: %v, host says %v", part.public, part.got, want)
		}
	}
	if len(res.Public.Secondary) == 0 {
		t.Fatal("a per-part run keeps its part's secondaries")
	}
}
