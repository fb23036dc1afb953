package scoring_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/scorers/scorertest"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunWorker()
	code := m.Run()
	if holdoutDir != "" {
		_ = os.RemoveAll(holdoutDir)
	}
	os.Exit(code)
}

var (
	once sync.Once
	eng  *scoring.Engine
	ho   competitions.Holdout
	syn  *synth.Files
	// holdoutDir holds the fixture's holdout; TestMain removes it.
	holdoutDir string
)

// fixture is the adapter over a real pool with a titanic-format holdout
// written the way competitions stores it (Arrow, named by digest).
func fixture(tb testing.TB) (*scoring.Engine, competitions.Holdout, *synth.Files) {
	once.Do(func() {
		pool, err := sandbox.New(sandbox.Options{Workers: 1})
		if err != nil {
			tb.Fatal(err)
		}
		eng = scoring.New(pool, submission.Limits{})
		syn, _ = synth.Generate(spec.Titanic, 7, 100)
		sp, _ := spec.Builtin(spec.Titanic)
		h, err := holdout.ImportCSV(sp, syn.Holdout)
		if err != nil {
			tb.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "scoring-test-")
		if err != nil {
			tb.Fatal(err)
		}
		holdoutDir = dir
		p := filepath.Join(dir, "h.arrow")
		f, _ := os.Create(p)
		if err := h.WriteArrow(f); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		d := h.Digest()[len("sha256:"):]
		ho = competitions.Holdout{ID: 1, Digest: d, Path: p, Rows: h.Units(), Spec: sp}
	})
	return eng, ho, syn
}

func TestScoreAndErrors(t *testing.T) {
	e, h, f := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wasm, err := os.ReadFile(scorertest.Build(t, "accuracy"))
	if err != nil {
		t.Fatal(err)
	}
	m := competitions.ScorerModule{Digest: "x", Wasm: wasm}
	res, err := e.Score(ctx, h, m, f.Submission(1, synth.SubmissionOptions{}))
	if err != nil || res.PrimaryScore != 1 || len(res.PerUnit) != 100 {
		t.Fatalf("perfect submission: %+v %v", res, err)
	}
	if v, err := e.Check(ctx, m); err != nil || v != "1" {
		t.Fatalf("check: %q %v", v, err)
	}
	var se *competitions.ScorerError
	if _, err := e.Check(ctx, competitions.ScorerModule{Wasm: []byte("\x00asm\x01\x00\x00\x00\x05")}); !errors.As(err, &se) || !se.Public {
		t.Fatalf("junk module: %v", err)
	}
	wrong := h
	wrong.Digest = "0000"
	if _, err := e.Validate(ctx, wrong, f.SampleSubmission); err == nil {
		t.Fatal("a holdout whose digest does not match was used")
	}
}

func FuzzValidate(f *testing.F) {
	e, h, syn := fixture(f)
	f.Add(syn.SampleSubmission)
	f.Add([]byte("PassengerId,Survived\n"))
	f.Add([]byte("Survived,PassengerId\r\n1,1\r\n"))
	f.Add([]byte("\xef\xbb\xbf\"PassengerId\",\"Survived\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := e.Validate(ctx, h, data)
		if err == nil {
			if v.Units() != h.Rows {
				t.Fatalf("valid file with %d rows for %d units", v.Units(), h.Rows)
			}
			return
		}
		var ie *competitions.InvalidError
		if !errors.As(err, &ie) || len(ie.Problems) == 0 {
			t.Fatalf("refusal %v is not an *InvalidError with problems", err)
		}
	})
}
