package competitions_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

// noSandboxEngine is the API's engine in TestSandboxJobsRunInTheWorker: it
// validates submissions (plain Go) but counts every call that would load
// or run a module, which must stay zero.
type noSandboxEngine struct {
	competitions.Engine
	runs atomic.Int32
}

func (e *noSandboxEngine) Check(ctx context.Context, m competitions.ScorerModule) (string, error) {
	e.runs.Add(1)
	return e.Engine.Check(ctx, m)
}

func (e *noSandboxEngine) Score(ctx context.Context, h competitions.Holdout, m competitions.ScorerModule, f []byte) (*engine.Result, error) {
	e.runs.Add(1)
	return e.Engine.Score(ctx, h, m, f)
}

func (e *noSandboxEngine) Run(ctx context.Context, v *engine.Validated, m competitions.ScorerModule) (*engine.Result, error) {
	e.runs.Add(1)
	return e.Engine.Run(ctx, v, m)
}

// TestSandboxJobsRunInTheWorker plays the Compose stack: an API service
// (SandboxJobs, no worker) and a separate worker service share the
// database and the data roots. Certification reports, the certification
// of a new scorer on a published competition and an admin's scorer-upload
// validation all run in the worker; the API never loads a module. Without
// a worker the API answers PendingError with a queued job, which the
// worker picks up later; asking again is answered from the result.
// jobsEnv is an API service (SandboxJobs) and a separate worker service on
// one database and one set of data roots, with a draft whose scorer is set.
type jobsEnv struct {
	*authorEnv
	apiEng    *noSandboxEngine
	workerSvc *competitions.Service
	good      []byte
}

func setupJobs(t testing.TB, slug string) *jobsEnv {
	t.Helper()
	st := testdb.Fresh(t)
	roots := competitions.Under(t.TempDir())
	limits := competitions.ScoringLimits{Timeout: 60 * time.Second, MemoryBytes: 1 << 30}
	apiEng := &noSandboxEngine{Engine: realEngine(t)}
	api, err := competitions.New(competitions.Deps{Store: st, Engine: apiEng, Roots: roots, BuiltinScorers: builtScorers(t),
		MaxAuthorDailyCap: 50, Limits: limits, SandboxJobs: true, SandboxJobWait: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	workerSvc, err := competitions.New(competitions.Deps{Store: st, Engine: realEngine(t), Roots: roots, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	e := &authorEnv{st: st, svc: api, author: competitions.Viewer{UserID: testdb.User(t, st, testdb.UserOpts{CanAuthor: true}).ID, Author: true}}
	e.draft(t, slug, "auc-dev")
	good, err := os.ReadFile(scorertest.Build(t, "roc-auc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.UploadAuthorScorer(ctxT(t, time.Minute), e.author, slug, "auc", "1", good); err != nil {
		t.Fatalf("scorer on a draft (no run needed): %v", err)
	}
	return &jobsEnv{authorEnv: e, apiEng: apiEng, workerSvc: workerSvc, good: good}
}

func TestSandboxJobsRunInTheWorker(t *testing.T) {
	t.Parallel()
	const slug = "jobs-journey"
	je := setupJobs(t, slug)
	e, api, st, apiEng, workerSvc, good := je.authorEnv, je.svc, je.st, je.apiEng, je.workerSvc, je.good
	admin := competitions.Viewer{UserID: testdb.User(t, st, testdb.UserOpts{Admin: true}).ID, Admin: true}
	ctx := ctxT(t, 10*time.Minute)

	// No worker yet: the report is a queued job; asking again joins it.
	_, err := api.Report(competitions.JobWait(ctx, 300*time.Millisecond), e.author, slug)
	var pe *competitions.PendingError
	if !errors.As(err, &pe) || pe.Job.Kind != competitions.JobCertify || pe.Job.Status != competitions.JobQueued {
		t.Fatalf("report without a worker: %v", err)
	}
	_, err = api.Report(competitions.JobWait(ctx, 0), e.author, slug)
	var again *competitions.PendingError
	if !errors.As(err, &again) || again.Job.ID != pe.Job.ID {
		t.Fatalf("asking again queued another job: %v", err)
	}
	other := competitions.Viewer{UserID: testdb.User(t, st, testdb.UserOpts{CanAuthor: true}).ID, Author: true}
	if _, err := api.SandboxJobOf(ctx, other, slug, pe.Job.ID); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("another author reads the job: %v", err)
	}

	// The worker service starts and runs it.
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = workerSvc.NewWorker(competitions.WorkerOptions{Poll: 50 * time.Millisecond}).Run(wctx)
	}()
	t.Cleanup(func() { stop(); <-done })
	rep, err := api.Report(ctx, e.author, slug)
	if err != nil || !rep.OK {
		t.Fatalf("report once the worker ran it: ok=%t failed=%v err=%v", rep.OK, rep.Failed(), err)
	}
	j, err := api.SandboxJobOf(ctx, e.author, slug, pe.Job.ID)
	if err != nil || j.Status != competitions.JobDone || j.Attempts != 1 || j.FinishedAt == nil {
		t.Fatalf("job after the run: %+v, %v", j, err)
	}
	if _, err := api.Publish(ctx, e.author, slug); err != nil {
		t.Fatalf("publish: %v", err)
	}

	// A broken scorer on the published competition: certified in the
	// worker, refused, nothing changed.
	bad, err := os.ReadFile(scorertest.BuildGo(t, "scorers/testdata/bad-inverted"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.UploadAuthorScorer(ctx, e.author, slug, "auc", "2", bad)
	var nc *competitions.NotCertifiedError
	if !errors.As(err, &nc) {
		t.Fatalf("broken scorer on a published competition: %v", err)
	}
	ac, err := api.AuthorCompetition(ctx, e.author, slug)
	if err != nil || ac.Scorer == nil || ac.Scorer.Version != "1" || !ac.Certified {
		t.Fatalf("after the refusal: %+v, %v", ac.Scorer, err)
	}

	// An admin's scorer upload is validated in the worker too: a module
	// that loads is accepted, one that does not is rejected with its check.
	up, err := api.UploadScorer(ctx, admin, slug, "auc-admin", "3", good)
	if err != nil || !up.Report.OK || up.Report.SampleScore == nil {
		t.Fatalf("admin upload: %+v, %v", up.Report, err)
	}
	junk := append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 64)...)
	_, err = api.UploadScorer(ctx, admin, slug, "junk", "4", junk)
	var rej *competitions.ScorerRejectedError
	if !errors.As(err, &rej) || rej.Report.OK {
		t.Fatalf("junk module: %v", err)
	}
	if n := apiEng.runs.Load(); n != 0 {
		t.Fatalf("the API's engine loaded or ran a module %d times; every run belongs to the worker", n)
	}
}

// A job whose worker died (its lease ran out) is claimed again by another
// worker and finished; one claimed more than MaxAttempts times is failed
// with the reason, and asking again queues a new job instead of reusing it.
func TestSandboxJobLeases(t *testing.T) {
	t.Parallel()
	const slug = "jobs-leases"
	je := setupJobs(t, slug)
	ctx := ctxT(t, 5*time.Minute)
	pending := func() competitions.SandboxJob {
		t.Helper()
		_, err := je.svc.Report(competitions.JobWait(ctx, 0), je.author, slug)
		var pe *competitions.PendingError
		if !errors.As(err, &pe) {
			t.Fatalf("report without a worker: %v", err)
		}
		return pe.Job
	}
	died := func(id int64, attempts int) {
		t.Helper()
		if _, err := je.st.DB().ExecContext(ctx, `UPDATE sandbox_jobs SET status = 'running', lease_token = 'dead', lease_owner = 'gone:1',
			lease_until = NOW(6) - INTERVAL 1 SECOND, attempts = ? WHERE id = ?`, attempts, id); err != nil {
			t.Fatal(err)
		}
	}
	w := je.workerSvc.NewWorker(competitions.WorkerOptions{MaxAttempts: 3})
	j := pending()
	died(j.ID, 1)
	if did, err := w.RunOnce(ctx); !did || err != nil {
		t.Fatalf("the abandoned job was not claimed: %t, %v", did, err)
	}
	got, err := je.svc.SandboxJobOf(ctx, je.author, slug, j.ID)
	if err != nil || got.Status != competitions.JobDone || got.Attempts != 2 {
		t.Fatalf("after another worker took it: %+v, %v", got, err)
	}
	if rep, err := je.svc.Report(competitions.JobWait(ctx, 0), je.author, slug); err != nil || !rep.OK {
		t.Fatalf("report from the finished job: %v", err)
	}

	// A new module, a new job; it keeps dying until the worker gives up.
	bad, err := os.ReadFile(scorertest.BuildGo(t, "scorers/testdata/bad-inverted"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := je.svc.UploadAuthorScorer(ctx, je.author, slug, "auc", "2", bad); err != nil {
		t.Fatal(err)
	}
	j = pending()
	died(j.ID, 3)
	if did, err := w.RunOnce(ctx); !did || err != nil {
		t.Fatalf("the worn-out job: %t, %v", did, err)
	}
	got, _ = je.svc.SandboxJobOf(ctx, je.author, slug, j.ID)
	if got.Status != competitions.JobFailed || got.Error == "" {
		t.Fatalf("a job past MaxAttempts: %+v", got)
	}
	if again := pending(); again.ID == j.ID || again.Status != competitions.JobQueued {
		t.Fatalf("asking again after a failed job: %+v", again)
	}
	if n := je.apiEng.runs.Load(); n != 0 {
		t.Fatalf("the API ran a module %d times", n)
	}
}

// BenchmarkCertificationReport: one certification report of breast-cancer
// size (170 holdout rows, 200 adversarial cases), computed in the
// requesting process (the reference: what the API did before sandbox jobs)
// and as a sandbox job that a separate worker service runs while the
// request waits. Each iteration changes the sample submission, so no
// report is reused. ops/bench/bench-sandboxjobs.sh prints the ratio.
func BenchmarkCertificationReport(b *testing.B) {
	const slug = "jobs-bench"
	je := setupJobs(b, slug)
	ctx := context.Background()
	_, _, sample, _, err := bundle.BreastCancerFiles()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	report := func(b *testing.B, svc *competitions.Service) {
		n++
		// A different, still valid sample: one more row predicts 0.25.
		lines := strings.SplitAfter(string(sample), "\n")
		for i := 1; i <= n && i < len(lines)-1; i++ {
			id, _, _ := strings.Cut(lines[i], ",")
			lines[i] = id + ",0.25\n"
		}
		if _, err := je.svc.UploadFile(ctx, je.author, slug, competitions.KindSampleSubmission, "sample_submission.csv", []byte(strings.Join(lines, ""))); err != nil {
			b.Fatal(err)
		}
		rep, err := svc.Report(ctx, je.author, slug)
		if err != nil || !rep.OK {
			b.Fatalf("report: %v %v", rep.Failed(), err)
		}
	}
	b.Run("in-process", func(b *testing.B) {
		for range b.N {
			report(b, je.workerSvc) // no SandboxJobs: computed here
		}
	})
	b.Run("sandbox-job", func(b *testing.B) {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = je.workerSvc.NewWorker(competitions.WorkerOptions{Poll: 250 * time.Millisecond}).Run(wctx)
		}()
		defer func() { stop(); <-done }()
		for range b.N {
			report(b, je.svc)
		}
	})
}

// TestScoreNowRunsInTheWorker: an admin's score now on the API service
// (SandboxJobs, no worker of its own) moves the submission to the front of
// the scoring queue, ahead of a rescoring queued earlier; without a worker
// it answers ScorePendingError, a worker holding it makes it ErrBusy, and
// once a worker service runs it the answer is the scored submission. The
// API's engine never loads or runs a module.
func TestScoreNowRunsInTheWorker(t *testing.T) {
	t.Parallel()
	const slug = "score-now-in-worker"
	je := setupJobs(t, slug)
	e, api, st, apiEng, workerSvc := je.authorEnv, je.svc, je.st, je.apiEng, je.workerSvc
	admin := testdb.User(t, st, testdb.UserOpts{Admin: true}).ID
	ctx := ctxT(t, 10*time.Minute)
	startWorker := func() (stop func()) {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = workerSvc.NewWorker(competitions.WorkerOptions{Poll: 50 * time.Millisecond}).Run(wctx)
		}()
		return func() { cancel(); <-done }
	}

	// Published, two submissions scored by the worker service.
	stop := startWorker()
	if _, err := api.Publish(ctx, e.author, slug); err != nil {
		t.Fatalf("publish: %v", err)
	}
	_, _, sample, _, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i := range 2 {
		u := competitions.Viewer{UserID: testdb.User(t, st, testdb.UserOpts{}).ID}
		res, err := api.Submit(ctx, u, slug, "s.csv", sample)
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		ids = append(ids, res.Submission.ID)
	}
	for _, id := range ids {
		for {
			row, err := st.GetSubmission(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if row.Pending == 0 && row.Status == "scored" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stop()

	// No worker: both queued for rescoring, then the second scored now.
	if _, err := api.RescoreCompetition(ctx, admin, slug, "test"); err != nil {
		t.Fatal(err)
	}
	_, err = api.ScoreNow(competitions.JobWait(ctx, 300*time.Millisecond), nil, ids[1])
	var pe *competitions.ScorePendingError
	if !errors.As(err, &pe) || pe.Submission.ID != ids[1] || !pe.Submission.Rescoring || pe.Submission.Status != "scored" {
		t.Fatalf("score now without a worker: %+v, %v", pe, err)
	}
	if _, err := api.ScoreNow(competitions.JobWait(ctx, 0), nil, 999999999); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	// The front of the queue: a worker claims it before the older rescoring.
	holder := workerSvc.NewWorker(competitions.WorkerOptions{Name: "holder", Lease: 300 * time.Millisecond})
	if id, _, err := holder.Claim(ctx); err != nil || id != ids[1] {
		t.Fatalf("first claim %d, want the scored-now %d: %v", id, ids[1], err)
	}
	if _, err := api.ScoreNow(competitions.JobWait(ctx, 0), nil, ids[1]); !errors.Is(err, competitions.ErrBusy) {
		t.Fatalf("held by a worker: %v", err)
	}

	// A new submission never scored: score now leaves it new (already
	// ahead of rescorings) and the scorer must really run for it.
	fresh, err := api.Submit(ctx, competitions.Viewer{UserID: testdb.User(t, st, testdb.UserOpts{}).ID}, slug, "s.csv", sample)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.ScoreNow(competitions.JobWait(ctx, 0), nil, fresh.Submission.ID); !errors.As(err, &pe) || pe.Submission.Status != "queued" {
		t.Fatalf("score now of a new submission without a worker: %+v, %v", pe, err)
	}

	// The worker service runs: the holder's lease runs out, the submission
	// is claimed again and the answer is the scored submission (409 busy
	// while the worker holds it, as before).
	time.Sleep(400 * time.Millisecond)
	stop = startWorker()
	defer stop()
	for _, id := range []int64{ids[1], fresh.Submission.ID} {
		sub, err := api.ScoreNow(ctx, nil, id)
		for i := 0; errors.Is(err, competitions.ErrBusy) && i < 200; i++ {
			time.Sleep(20 * time.Millisecond)
			sub, err = api.ScoreNow(ctx, nil, id)
		}
		if err != nil || sub.Status != "scored" || sub.PrimaryScore == nil || sub.Rescoring {
			t.Fatalf("score now of %d with the worker: %+v, %v", id, sub, err)
		}
	}
	if n := apiEng.runs.Load(); n != 0 {
		t.Fatalf("the API's engine loaded or ran a module %d times; every run belongs to the worker", n)
	}
}
