package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/internal/reftest"
	"github.com/medforge/medforge/scorers/scorertest"
)

var cacheDir string

func TestMain(m *testing.M) {
	sandbox.MaybeRunWorker()
	dir, err := os.MkdirTemp("", "medforge-engine-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	if pool != nil {
		pool.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	poolOnce sync.Once
	pool     *sandbox.Pool
	poolErr  error
	modMu    sync.Mutex
	modules  = map[string]*sandbox.Module{}
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// scorer returns an engine.Engine over the shared pool and the built-in
// module of sp, built from source (or taken from $MEDFORGE_SCORERS_DIR).
func scorer(t testing.TB, sp spec.Spec) (*engine.Engine, *sandbox.Module) {
	t.Helper()
	poolOnce.Do(func() {
		pool, poolErr = sandbox.New(sandbox.Options{CacheDir: cacheDir, Workers: 2, Timeout: 30 * time.Second})
	})
	require.NoError(t, poolErr)
	modMu.Lock()
	defer modMu.Unlock()
	m, ok := modules[sp.Metric]
	if !ok {
		wasm, err := os.ReadFile(scorertest.Build(t, sp.Metric))
		require.NoError(t, err)
		m, err = pool.Load(ctxT(t, 2*time.Minute), wasm)
		require.NoError(t, err)
		modules[sp.Metric] = m
	}
	return engine.New(pool, submission.Limits{}), m
}

// scoreBytes validates data against the in-memory holdout h and runs m.
func scoreBytes(ctx context.Context, e *engine.Engine, sp spec.Spec, h *holdout.Holdout, data []byte, m *sandbox.Module) (*engine.Result, error) {
	v, err := e.Validate(sp, h, data)
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, v, m)
}

// writeFile writes content to a fresh file and returns its path.
func writeFile(t testing.TB, content string) string {
	p := filepath.Join(t.TempDir(), "holdout.csv")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

type refJob struct {
	name                string
	slug                string
	holdoutCSV, subPath string
	got                 *engine.Result
}

// runReference scores every job with the repository's own reference scorer
// (internal/reftest) in one python process.
func runReference(t *testing.T, jobs []refJob) []reftest.Answer {
	t.Helper()
	rj := make([]reftest.Job, len(jobs))
	for i, j := range jobs {
		rj[i] = reftest.Job{Competition: j.slug, Holdout: j.holdoutCSV, Submission: j.subPath}
	}
	return reftest.Score(t, rj)
}

// TestAgreesWithReference scores many generated data sets per competition
// through the real sandbox and compares with the repository's reference
// scorer (internal/reftest, pandas + sklearn) to 1e-9.
func TestAgreesWithReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	perSlug := map[string]int{spec.Titanic: 15, spec.CIFAR: 15, spec.RSNA: 40}
	var jobs []refJob
	for _, slug := range spec.BuiltinSlugs() {
		sp, _ := spec.Builtin(slug)
		sc, m := scorer(t, sp)
		for i := 0; i < perSlug[slug]; i++ {
			seed := uint64(1000*i + len(slug))
			n := []int{1, 2, 7, 50, 418, 1000}[i%6]
			f, err := synth.Generate(slug, seed, n)
			require.NoError(t, err)
			opts := synth.SubmissionOptions{
				Noise:            []float64{0, 0.1, 0.3, 0.5, 0.9}[i%5],
				Shuffle:          i%2 == 1,
				CRLF:             i%3 == 1,
				BOM:              i%4 == 2,
				QuoteAll:         i%5 == 3,
				ReverseColumns:   i%3 == 2,
				CoarseConfidence: i%2 == 0,
			}
			sub := f.Submission(seed+1, opts)
			h, err := holdout.ImportCSV(sp, f.Holdout)
			require.NoError(t, err)
			if i%2 == 0 { // score half of them from the Arrow form
				var buf bytes.Buffer
				require.NoError(t, h.WriteArrow(&buf))
				h, err = holdout.ReadArrow(sp, buf.Bytes())
				require.NoError(t, err)
			}
			res, err := scoreBytes(ctxT(t, time.Minute), sc, sp, h, sub, m)
			require.NoError(t, err, "%s #%d", slug, i)
			name := fmt.Sprintf("%s-%d", slug, i)
			hp, sp2 := filepath.Join(dir, name+"-holdout.csv"), filepath.Join(dir, name+"-sub.csv")
			require.NoError(t, os.WriteFile(hp, f.Holdout, 0o600))
			require.NoError(t, os.WriteFile(sp2, sub, 0o600))
			jobs = append(jobs, refJob{name: name, slug: slug, holdoutCSV: hp, subPath: sp2, got: res})
		}
	}
	answers := runReference(t, jobs)
	distinct := map[string]map[float64]bool{}
	for i, j := range jobs {
		a := answers[i]
		require.Empty(t, a.Error, j.name)
		require.NotNil(t, a.Score, j.name)
		require.InDelta(t, *a.Score, j.got.PrimaryScore, 1e-9, j.name)
		require.Equal(t, a.Rows, j.got.Rows, j.name)
		if distinct[j.slug] == nil {
			distinct[j.slug] = map[float64]bool{}
		}
		distinct[j.slug][math.Round(j.got.PrimaryScore*1e6)] = true
	}
	// The data sets are not degenerate: scores vary.
	for slug, d := range distinct {
		require.Greater(t, len(d), 4, slug)
	}
}

// TestRSNAEdgeCases checks hand-computed RSNA values through the sandbox.
func TestRSNAEdgeCases(t *testing.T) {
	t.Parallel()
	sp, _ := spec.Builtin(spec.RSNA)
	sc, m := scorer(t, sp)
	const head = "patientId,x,y,width,height,Target\n"
	tests := []struct {
		name    string
		holdout string
		sub     string
		want    float64
	}{
		{"all left out is 1", head + "a,,,,,0\nb,,,,,0\n", "patientId,PredictionString\na,\nb,\n", 1},
		{"no truth but a prediction scores 0", head + "a,,,,,0\nb,0,0,10,10,1\n", "patientId,PredictionString\na,0.5 0 0 10 10\nb,0.9 0 0 10 10\n", 0.5},
		{"no truth no prediction left out", head + "a,,,,,0\nb,0,0,10,10,1\n", "patientId,PredictionString\na,\nb,0.9 0 0 10 10\n", 1},
		{"empty prediction with truth scores 0", head + "a,0,0,10,10,1\nb,0,0,10,10,1\n", "patientId,PredictionString\na,\nb,1 0 0 10 10\n", 0.5},
		{"false positive", head + "a,0,0,10,10,1\n", "patientId,PredictionString\na,0.5 100 100 10 10 0.5 0 0 10 10\n", 0.5},
		// Two truth boxes G1=(0,0,10,10), G2=(6,0,10,10); pA=(3,0,10,10)
		// has IoU 7/13 with both, pB=(0,0,10,10) is G1. In order [pA,pB]
		// every threshold gives 1/3; in order [pB,pA] thresholds
		// .40-.50 give 1 and .55-.75 give 1/3: (3+5/3)/8 = 7/12.
		{"tie keeps string order A first", head + "a,0,0,10,10,1\na,6,0,10,10,1\n", "patientId,PredictionString\na,0.5 3 0 10 10 0.5 0 0 10 10\n", 1.0 / 3},
		{"tie keeps string order B first", head + "a,0,0,10,10,1\na,6,0,10,10,1\n", "patientId,PredictionString\na,0.5 0 0 10 10 0.5 3 0 10 10\n", 7.0 / 12},
		{"higher confidence first", head + "a,0,0,10,10,1\na,6,0,10,10,1\n", "patientId,PredictionString\na,0.4 3 0 10 10 0.6 0 0 10 10\n", 7.0 / 12},
		// IoU exactly 0.40 is a hit at t=0.40 only; exactly 0.45 at .40 and .45.
		{"iou equal to threshold 0.40", head + "a,0,0,10,10,1\n", "patientId,PredictionString\na,0.5 0 0 10 4\n", 1.0 / 8},
		{"iou equal to threshold 0.45", head + "a,0,0,10,10,1\n", "patientId,PredictionString\na,0.5 0 0 10 4.5\n", 2.0 / 8},
		{"touching boxes do not overlap", head + "a,0,0,10,10,1\n", "patientId,PredictionString\na,0.5 10 0 10 10\n", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := holdout.ImportCSV(sp, []byte(tc.holdout))
			require.NoError(t, err)
			res, err := scoreBytes(ctxT(t, time.Minute), sc, sp, h, []byte(tc.sub), m)
			require.NoError(t, err)
			require.InDelta(t, tc.want, res.PrimaryScore, 1e-12)
		})
	}
}

func TestClassificationEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, slug, holdout, sub string
		want                     float64
	}{
		{"all right", spec.Titanic, "PassengerId,Survived\n1,0\n2,1\n", "PassengerId,Survived\n2,1\n1,0\n", 1},
		{"all wrong", spec.Titanic, "PassengerId,Survived\n1,0\n2,1\n", "PassengerId,Survived\n1,1\n2,0\n", 0},
		{"one row", spec.CIFAR, "image_id,label\nx,42\n", "image_id,label\nx,42\n", 1},
		{"thirds", spec.CIFAR, "image_id,label\na,1\nb,2\nc,3\n", "label,image_id\n1,a\n0,b\n99,c\n", 1.0 / 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sp, _ := spec.Builtin(tc.slug)
			sc, m := scorer(t, sp)
			h, err := holdout.ImportCSV(sp, []byte(tc.holdout))
			require.NoError(t, err)
			// Score reads the holdout file through the engine's cache, the
			// way competitions does, and checks the recorded digest.
			ref := engine.HoldoutRef{Spec: sp, Path: writeFile(t, tc.holdout), Digest: h.Digest()}
			res, err := sc.Score(ctxT(t, time.Minute), ref, m, []byte(tc.sub))
			require.NoError(t, err)
			require.Equal(t, tc.want, res.PrimaryScore)
			require.Equal(t, h.Digest(), res.HoldoutDigest)
			require.Equal(t, "sha256:"+m.Digest, res.ScorerDigest)
			require.Equal(t, engine.Version, res.EngineVersion)
			require.Len(t, res.PerUnit, h.Units())
		})
	}
}

func TestInvalidSubmissionNeverRunsModule(t *testing.T) {
	t.Parallel()
	sp, _ := spec.Builtin(spec.Titanic)
	sc, m := scorer(t, sp)
	h, err := holdout.ImportCSV(sp, []byte("PassengerId,Survived\n1,0\n2,1\n"))
	require.NoError(t, err)
	ref := engine.HoldoutRef{Spec: sp, Path: writeFile(t, "PassengerId,Survived\n1,0\n2,1\n"), Digest: h.Digest()}
	_, err = sc.Score(ctxT(t, time.Minute), ref, m, []byte("PassengerId,Survived\n1,0\n3,1\n"))
	ie, ok := engine.InvalidSubmission(err)
	require.True(t, ok, "%v", err)
	require.Contains(t, ie.Error(), `row 3, column "PassengerId", value "3": unknown id`)
	msg, public := engine.PublicMessage(err)
	require.True(t, public)
	require.Contains(t, msg, "unknown id")
	// The one rule: a run out of time or memory is the participant's to
	// know; a crash or a non-finite score (which may reveal holdout
	// values) is not.
	msg, public = engine.PublicMessage(fmt.Errorf("wrapped: %w", sandbox.ErrTimeout))
	require.True(t, public)
	require.Equal(t, "scoring exceeded its time limit", msg)
	for _, hidden := range []error{&sandbox.TrapError{Detail: "holdout value 0.73"}, fmt.Errorf("run: %w", engine.ErrNotFinite)} {
		msg, public = engine.PublicMessage(hidden)
		require.False(t, public)
		require.NotContains(t, msg, "0.73")
	}
}

// TestValidateThenRun checks the two-step API: validation needs no pool,
// and Run scores what Validate accepted.
func TestValidateThenRun(t *testing.T) {
	t.Parallel()
	sp, _ := spec.Builtin(spec.CIFAR)
	h, err := holdout.ImportCSV(sp, []byte("image_id,label\na,1\nb,2\n"))
	require.NoError(t, err)
	v, err := engine.New(nil, submission.Limits{}).Validate(sp, h, []byte("image_id,label\nb,2\na,5\n"))
	require.NoError(t, err)
	require.Equal(t, 2, v.Units())
	_, err = engine.New(nil, submission.Limits{}).Validate(sp, h, []byte("image_id,label\nb,2\n"))
	_, invalid := engine.InvalidSubmission(err)
	require.True(t, invalid)
	_, err = engine.New(nil, submission.Limits{}).Run(ctxT(t, time.Minute), v, nil)
	require.Error(t, err)
	sc, m := scorer(t, sp)
	res, err := sc.Run(ctxT(t, time.Minute), v, m)
	require.NoError(t, err)
	require.Equal(t, 0.5, res.PrimaryScore)
	require.Equal(t, map[string]float64{"correct": 1}, res.Secondary)
}
