package competitions_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunWorker()
	code := m.Run()
	if scorersDir != "" {
		_ = os.RemoveAll(scorersDir)
	}
	os.Exit(code)
}

var (
	poolOnce sync.Once
	pool     *sandbox.Pool
	poolErr  error
)

// realEngine is the production engine on a sandbox pool shared by the tests.
func realEngine(t testing.TB) *scoring.Engine {
	t.Helper()
	poolOnce.Do(func() { pool, poolErr = sandbox.New(sandbox.Options{Workers: 2}) })
	if poolErr != nil {
		t.Fatalf("sandbox pool: %v", poolErr)
	}
	return scoring.New(pool, submission.Limits{})
}

var (
	scorersOnce sync.Once
	scorersDir  string
)

// builtScorers returns a directory holding the built-in modules, made once
// per test binary and removed by TestMain (the modules themselves come from
// scorertest's cache, shared across runs).
func builtScorers(t testing.TB) string {
	t.Helper()
	scorersOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medforge-comp-scorers-")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"accuracy", "accuracy-c", "top1", "map-iou", "roc-auc"} {
			data, err := os.ReadFile(scorertest.Build(t, n))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, n+".wasm"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		scorersDir = dir
	})
	return scorersDir
}

// hookEngine wraps the real engine; before, when set, runs before each
// scoring run (Score, or Run of a submission aligned at intake).
type hookEngine struct {
	competitions.Engine
	before func(ctx context.Context) error
}

func (h *hookEngine) Score(ctx context.Context, ho competitions.Holdout, m competitions.ScorerModule, f []byte) (*engine.Result, error) {
	if h.before != nil {
		if err := h.before(ctx); err != nil {
			return nil, err
		}
	}
	return h.Engine.Score(ctx, ho, m, f)
}

func (h *hookEngine) Run(ctx context.Context, v *engine.Validated, m competitions.ScorerModule) (*engine.Result, error) {
	if h.before != nil {
		if err := h.before(ctx); err != nil {
			return nil, err
		}
	}
	return h.Engine.Run(ctx, v, m)
}

type env struct {
	st    store.Store
	svc   *competitions.Service
	eng   *hookEngine
	slug  string
	b     *competitions.Bundle
	roots competitions.Roots
	owner competitions.Viewer // zero unless setupOpts.owner
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type setupOpts struct {
	metric string // default accuracy
	units  int    // default 418
	cap    int    // default 20
	now    func() time.Time
	// scoring: the competition's scoring mode and split (zero: single).
	scoring competitions.ScoringSettings
	// owner, when set, creates a user of that name who owns the competition.
	owner string
}

// setup installs a fresh synthetic competition (unique slug) in the
// package's shared database.
func setup(t *testing.T, o setupOpts) *env { return setupTB(t, o) }

func setupB(b *testing.B) *env { return setupTB(b, setupOpts{cap: 10000}) }

func (e *env) userB(tb testing.TB) int64 {
	return testdb.User(tb, e.st, testdb.UserOpts{DisplayName: "bench"}).ID
}

func setupTB(t testing.TB, o setupOpts) *env {
	t.Helper()
	if o.metric == "" {
		o.metric = "accuracy"
	}
	if o.units == 0 {
		o.units = 418
	}
	if o.cap == 0 {
		o.cap = 20
	}
	base := map[string]string{"accuracy": spec.Titanic, "top1": spec.CIFAR, "map-iou": spec.RSNA, "roc-auc": spec.BreastCancer}[o.metric]
	sp, _ := spec.Builtin(base)
	sp.Slug = testdb.Unique("c")
	st := testdb.Fresh(t)
	eng := &hookEngine{Engine: realEngine(t)}
	roots := competitions.Under(t.TempDir())
	svc, err := competitions.New(competitions.Deps{Store: st, Engine: eng, Roots: roots, Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	var b *competitions.Bundle
	if o.metric == "roc-auc" {
		b, err = breastCancerBundle(sp, o.cap, builtScorers(t)) // real data, 170 units
	} else {
		b, err = bundle.Synthetic(sp, "Test "+sp.Slug, "synthetic", o.units, o.cap, builtScorers(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Scoring = o.scoring
	var owner competitions.Viewer
	if o.owner != "" {
		owner.UserID = testdb.User(t, st, testdb.UserOpts{DisplayName: o.owner}).ID
		b.Owner = owner.UserID
	}
	if _, err := svc.Install(ctxT(t, time.Minute), 0, b); err != nil {
		t.Fatalf("install: %v", err)
	}
	return &env{st: st, svc: svc, eng: eng, slug: sp.Slug, b: b, roots: roots, owner: owner}
}

// breastCancerBundle is sp (the breast-cancer spec under a test slug) with
// the real breast-cancer holdout and public files, scored by roc-auc: a
// metric that gives no per-unit contributions.
func breastCancerBundle(sp spec.Spec, dailyCap int, scorersDir string) (*competitions.Bundle, error) {
	train, test, sample, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		return nil, err
	}
	h, err := holdout.ImportCSV(sp, hold)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(filepath.Join(scorersDir, "roc-auc.wasm"))
	if err != nil {
		return nil, err
	}
	return &competitions.Bundle{
		Spec: sp, Title: "Test " + sp.Slug, Description: "breast cancer", Exposure: "EXTERNAL", DailyCap: dailyCap, Holdout: h,
		ScorerName: "roc-auc", ScorerVersion: "builtin", Scorer: wasm,
		Files: []competitions.PublicFile{
			{Name: "train.csv", Kind: competitions.KindTraining, Data: train},
			{Name: "test.csv", Kind: competitions.KindPublicEval, Data: test},
			{Name: bundle.SampleName, Kind: competitions.KindSampleSubmission, Data: sample},
		},
	}, nil
}

func (e *env) sample() []byte {
	for _, f := range e.b.Files {
		if f.Kind == competitions.KindSampleSubmission {
			return f.Data
		}
	}
	return nil
}

func (e *env) user(t *testing.T, name string) competitions.Viewer {
	u := testdb.User(t, e.st, testdb.UserOpts{DisplayName: name})
	return competitions.Viewer{UserID: u.ID}
}

// drain runs worker w until the queue holds nothing it can claim.
func drain(t *testing.T, ctx context.Context, w *competitions.Worker) int {
	t.Helper()
	n := 0
	for {
		did, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatalf("worker: %v", err)
		}
		if !did {
			return n
		}
		n++
	}
}

// drainConcurrently runs one worker per options, all at once, each until
// the queue holds nothing it can claim; a worker error fails the test.
func drainConcurrently(tb testing.TB, ctx context.Context, svc *competitions.Service, opts ...competitions.WorkerOptions) {
	tb.Helper()
	var wg sync.WaitGroup
	for _, o := range opts {
		w := svc.NewWorker(o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				did, err := w.RunOnce(ctx)
				if err != nil {
					tb.Error(err)
					return
				}
				if !did {
					return
				}
			}
		}()
	}
	wg.Wait()
}
