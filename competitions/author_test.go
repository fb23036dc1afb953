package competitions_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

type authorEnv struct {
	st     store.Store
	svc    *competitions.Service
	author competitions.Viewer
}

func setupAuthor(t *testing.T) *authorEnv {
	t.Helper()
	st := testdb.Fresh(t)
	svc, err := competitions.New(competitions.Deps{Store: st, Engine: realEngine(t), Roots: competitions.Under(t.TempDir()),
		BuiltinScorers: builtScorers(t), MaxAuthorDailyCap: 50,
		Limits: competitions.ScoringLimits{Timeout: 60 * time.Second, MemoryBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	u := testdb.User(t, st, testdb.UserOpts{CanAuthor: true})
	return &authorEnv{st: st, svc: svc, author: competitions.Viewer{UserID: u.ID, Author: true}}
}

// draft creates a breast-cancer-shaped draft under slug with metric (a
// built-in name, or a label) and uploads its holdout and public files.
func (e *authorEnv) draft(t testing.TB, slug, metric string) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	d := bundle.BreastCancerDraft()
	d.Slug, d.Metric = slug, metric
	if _, err := e.svc.CreateDraft(ctx, e.author, d); err != nil {
		t.Fatalf("create: %v", err)
	}
	train, test, sample, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.UploadHoldout(ctx, e.author, slug, hold)
	if err != nil || info.Rows != 170 || info.Version != 1 || len(info.Digest) != 64 {
		t.Fatalf("holdout: %+v, %v", info, err)
	}
	for kind, f := range map[string][2]any{competitions.KindTraining: {"train.csv", train},
		competitions.KindPublicEval: {"test.csv", test}, competitions.KindSampleSubmission: {"sample_submission.csv", sample}} {
		if _, err := e.svc.UploadFile(ctx, e.author, slug, kind, f[0].(string), f[1].([]byte)); err != nil {
			t.Fatalf("upload %s: %v", f[0], err)
		}
	}
}

func check(r competitions.CertificationReport, name string) competitions.CertCheck {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return competitions.CertCheck{Name: name, Detail: "missing from the report"}
}

// TestCertificationReportChecks runs the report on the real roc-auc module
// (every check passes) and on three purpose-built bad modules, each of
// which fails the check it was built for: a sign slip (perfect not best),
// random tie-breaking (nondeterministic) and a panic on a NaN logit
// (crashes on adversarial input).
func TestCertificationReportChecks(t *testing.T) {
	t.Parallel()
	e := setupAuthor(t)
	ctx := ctxT(t, 10*time.Minute)
	e.draft(t, "cert-checks", "auc-dev")
	rep, err := e.svc.Report(ctx, e.author, "cert-checks")
	if err != nil || rep.OK || check(rep, competitions.CheckReady).OK || !strings.Contains(rep.Checks[0].Detail, "scorer module") {
		t.Fatalf("report without a scorer: %+v, %v", rep, err)
	}
	for _, tc := range []struct {
		module string
		fails  []string // exactly these checks fail
	}{
		{"scorers/testdata/bad-inverted", []string{competitions.CheckPerfect, competitions.CheckPermuted}},
		{"scorers/testdata/bad-random-ties", []string{competitions.CheckDeterminism}},
		{"scorers/testdata/bad-nan-crash", []string{competitions.CheckAdversarial}},
		{"roc-auc", nil},
	} {
		t.Run(tc.module, func(t *testing.T) {
			var path string
			if strings.Contains(tc.module, "/") {
				path = scorertest.BuildGo(t, tc.module)
			} else {
				path = scorertest.Build(t, tc.module)
			}
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.UploadAuthorScorer(ctx, e.author, "cert-checks", tc.module, "1", wasm); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			rep, err := e.svc.Report(ctx, e.author, "cert-checks")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: report in %v: %v", tc.module, time.Since(began), rep.Failed())
			if got := strings.Join(rep.Failed(), ","); got != strings.Join(tc.fails, ",") {
				for _, c := range rep.Checks {
					t.Logf("  %s ok=%t: %s", c.Name, c.OK, c.Detail)
				}
				t.Fatalf("failed checks %q, want %q", got, tc.fails)
			}
			if rep.OK != (len(tc.fails) == 0) || len(rep.Checks) != 7 {
				t.Fatalf("report ok=%t with %d checks", rep.OK, len(rep.Checks))
			}
			if rep.Adversarial == nil || rep.Adversarial.Total != competitions.AdversarialCases && tc.module != "scorers/testdata/bad-nan-crash" {
				t.Fatalf("adversarial: %+v", rep.Adversarial)
			}
			if a := rep.Adversarial; a.RejectedByValidation+a.RefusedByModule+a.Scored+a.Failed != a.Total {
				t.Fatalf("adversarial outcomes do not add up: %+v", a)
			}
			if rep.Module == nil || len(rep.Module.Imports) == 0 || rep.Module.TimeLimitMillis != 60000 || rep.Resources == nil || rep.Resources.PeakMemoryBytes == 0 {
				t.Fatalf("module %+v resources %+v", rep.Module, rep.Resources)
			}
			// Fetching again serves the kept report.
			again, err := e.svc.Report(ctx, e.author, "cert-checks")
			if err != nil || !again.CheckedAt.Equal(rep.CheckedAt) {
				t.Fatalf("report not kept: %v %v", again.CheckedAt, err)
			}
			_, perr := e.svc.Publish(ctx, e.author, "cert-checks")
			var nc *competitions.NotCertifiedError
			if len(tc.fails) > 0 && !errors.As(perr, &nc) {
				t.Fatalf("publish with failed checks: %v", perr)
			}
			if len(tc.fails) == 0 && perr != nil {
				t.Fatalf("publish: %v", perr)
			}
		})
	}
	// Published: a broken scorer is certified before it goes live, and
	// refused without changing anything.
	bad, _ := os.ReadFile(scorertest.BuildGo(t, "scorers/testdata/bad-inverted"))
	_, err = e.svc.UploadAuthorScorer(ctx, e.author, "cert-checks", "bad", "2", bad)
	var nc *competitions.NotCertifiedError
	if !errors.As(err, &nc) || !strings.Contains(err.Error(), "perfect") {
		t.Fatalf("bad scorer on a published competition: %v", err)
	}
	ac, err := e.svc.AuthorCompetition(ctx, e.author, "cert-checks")
	if err != nil || ac.Scorer == nil || ac.Scorer.Name != "roc-auc" || !ac.Published || !ac.Certified {
		t.Fatalf("after the refused upload: %+v %v", ac.Scorer, err)
	}
}

// TestDraftsAreSecret: a draft is invisible to everyone but its owner and
// admins; authoring needs can_author; another author's competition is
// not found; INTERNAL needs an admin; a draft takes no submissions.
func TestDraftsAreSecret(t *testing.T) {
	t.Parallel()
	e := setupAuthor(t)
	ctx := ctxT(t, 2*time.Minute)
	e.draft(t, "secret-draft", "roc-auc")
	other := competitions.Viewer{UserID: testdb.User(t, e.st, testdb.UserOpts{CanAuthor: true}).ID, Author: true}
	plain := competitions.Viewer{UserID: testdb.User(t, e.st, testdb.UserOpts{}).ID}
	admin := competitions.Viewer{UserID: testdb.User(t, e.st, testdb.UserOpts{Admin: true}).ID, Admin: true}
	for name, v := range map[string]competitions.Viewer{"anonymous": {}, "plain user": plain, "other author": other} {
		if _, err := e.svc.GetCompetition(ctx, v, "secret-draft"); !errors.Is(err, competitions.ErrNotFound) {
			t.Errorf("%s: get draft: %v", name, err)
		}
		if _, err := e.svc.GetDataset(ctx, v, "secret-draft"); !errors.Is(err, competitions.ErrNotFound) {
			t.Errorf("%s: get draft dataset: %v", name, err)
		}
		if _, _, err := e.svc.OpenFile(ctx, v, "secret-draft", "train.csv"); !errors.Is(err, competitions.ErrNotFound) {
			t.Errorf("%s: download from a draft: %v", name, err)
		}
		list, _ := e.svc.ListCompetitions(ctx, v)
		ds, _ := e.svc.ListDatasets(ctx, v)
		if len(list) != 0 || len(ds) != 0 {
			t.Errorf("%s: lists show the draft: %v %v", name, list, ds)
		}
	}
	if _, err := e.svc.AuthorCompetition(ctx, other, "secret-draft"); !errors.Is(err, competitions.ErrNotFound) {
		t.Errorf("other author: %v", err)
	}
	if _, err := e.svc.UploadHoldout(ctx, other, "secret-draft", []byte("id,malignant\n1,1\n")); !errors.Is(err, competitions.ErrNotFound) {
		t.Errorf("other author's holdout upload: %v", err)
	}
	if _, err := e.svc.AuthorCompetition(ctx, plain, "secret-draft"); !errors.Is(err, competitions.ErrForbidden) {
		t.Errorf("non-author: %v", err)
	}
	if _, err := e.svc.CreateDraft(ctx, plain, bundle.BreastCancerDraft()); !errors.Is(err, competitions.ErrForbidden) {
		t.Errorf("non-author create: %v", err)
	}
	for name, v := range map[string]competitions.Viewer{"owner": e.author, "admin": admin} {
		if _, err := e.svc.GetCompetition(ctx, v, "secret-draft"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := e.svc.AuthorCompetition(ctx, v, "secret-draft"); err != nil {
			t.Errorf("%s: author view: %v", name, err)
		}
	}
	_, _, sample, _, _ := bundle.BreastCancerFiles()
	if _, err := e.svc.Submit(ctx, e.author, "secret-draft", "s.csv", sample); !errors.Is(err, competitions.ErrNotOpen) {
		t.Errorf("submission to a draft: %v", err)
	}
	d := bundle.BreastCancerDraft()
	d.Slug, d.Exposure = "internal-one", "INTERNAL"
	if _, err := e.svc.CreateDraft(ctx, e.author, d); !errors.Is(err, competitions.ErrForbidden) {
		t.Errorf("author creates INTERNAL: %v", err)
	}
	d.Slug = "secret-draft"
	d.Exposure = ""
	if _, err := e.svc.CreateDraft(ctx, other, d); !errors.Is(err, competitions.ErrConflict) {
		t.Errorf("taken slug: %v", err)
	}
	d.Slug, d.DailyCap = "too-many", 51
	var ve *competitions.ValidationError
	if _, err := e.svc.CreateDraft(ctx, e.author, d); !errors.As(err, &ve) || ve.Fields[0].Field != "daily_cap" {
		t.Errorf("cap over the admin bound: %v", err)
	}
	// A holdout that does not fit the spec names its problem and changes nothing.
	_, err := e.svc.UploadHoldout(ctx, e.author, "secret-draft", []byte("id,benign\n1,1\n"))
	var ie *competitions.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(ie.Error(), "malignant") {
		t.Errorf("bad holdout: %v", err)
	}
	ac, _ := e.svc.AuthorCompetition(ctx, e.author, "secret-draft")
	if ac.Holdout == nil || ac.Holdout.Version != 1 || ac.Published {
		t.Errorf("bad holdout changed the draft: %+v", ac)
	}
	// A sample submission that does not fit the holdout is refused.
	if _, err := e.svc.UploadFile(ctx, e.author, "secret-draft", competitions.KindSampleSubmission, "sample_submission.csv", []byte("id,malignant\n1,0.5\n")); !errors.As(err, &ie) {
		t.Errorf("bad sample: %v", err)
	}
}

// TestAuthorScoringMode sets the scoring mode and split through the author
// endpoints' service: a public_private draft with its fraction, refused
// bad values naming the field, and a fraction that would leave the public
// part of the holdout empty.
func TestAuthorScoringMode(t *testing.T) {
	t.Parallel()
	e := setupAuthor(t)
	ctx := ctxT(t, 2*time.Minute)
	d := bundle.BreastCancerDraft()
	d.Slug, d.Metric = "split-draft", "roc-auc"
	frac := 0.25
	d.ScoringMode, d.PublicFraction, d.FinalLimit = competitions.ModePublicPrivate, &frac, 3
	ac, err := e.svc.CreateDraft(ctx, e.author, d)
	if err != nil || ac.ScoringMode != competitions.ModePublicPrivate || ac.PublicFraction != 0.25 || ac.FinalLimit != 3 || ac.DisplayDigits != 5 {
		t.Fatalf("create: %+v %v", ac, err)
	}
	_, _, _, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UploadHoldout(ctx, e.author, d.Slug, hold); err != nil {
		t.Fatal(err)
	}
	var ve *competitions.ValidationError
	bad := 1.5
	if _, err := e.svc.UpdateDraft(ctx, e.author, d.Slug, competitions.DraftPatch{PublicFraction: &bad}); !errors.As(err, &ve) || ve.Fields[0].Field != "public_fraction" {
		t.Fatalf("fraction 1.5: %v", err)
	}
	tiny := 1e-12
	if _, err := e.svc.UpdateDraft(ctx, e.author, d.Slug, competitions.DraftPatch{PublicFraction: &tiny}); !errors.As(err, &ve) || !strings.Contains(ve.Error(), "both parts need at least one") {
		t.Fatalf("a fraction leaving the public part empty: %v", err)
	}
	mode := "leaky"
	if _, err := e.svc.UpdateDraft(ctx, e.author, d.Slug, competitions.DraftPatch{ScoringMode: &mode}); !errors.As(err, &ve) || ve.Fields[0].Field != "scoring_mode" {
		t.Fatalf("unknown mode: %v", err)
	}
	single := competitions.ModeSingle
	ac, err = e.svc.UpdateDraft(ctx, e.author, d.Slug, competitions.DraftPatch{ScoringMode: &single})
	if err != nil || ac.ScoringMode != competitions.ModeSingle || ac.PublicFraction != 0 {
		t.Fatalf("back to single: %+v %v", ac, err)
	}
}
