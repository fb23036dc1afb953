package competitions_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/store/db"
)

// submitMany uploads n submissions from n users and returns their ids.
func submitMany(t *testing.T, ctx context.Context, e *env, n int, files func(i int) []byte) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range n {
		u := e.user(t, fmt.Sprintf("user %02d", i))
		res, err := e.svc.Submit(ctx, u, e.slug, "s.csv", files(i))
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		ids[i] = res.Submission.ID
	}
	return ids
}

// assertScoredOnce checks every submission is scored with exactly one
// official score row and scoreRows rows in all.
func assertScoredOnce(t *testing.T, ctx context.Context, e *env, ids []int64, scoreRows int) {
	t.Helper()
	for _, id := range ids {
		row, err := e.st.GetSubmission(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != db.SubmissionsStatusScored || row.Pending != 0 || !row.PrimaryScore.Valid {
			t.Fatalf("submission %d: status %s pending %d score %v (%s)", id, row.Status, row.Pending, row.PrimaryScore, row.InternalError)
		}
		scores, err := e.st.ListSubmissionScores(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		official := 0
		for _, s := range scores {
			if s.IsOfficial {
				official++
				if s.PrimaryScore != row.PrimaryScore.Float64 {
					t.Fatalf("submission %d: denormalised score %v != official %v", id, row.PrimaryScore.Float64, s.PrimaryScore)
				}
			}
		}
		if official != 1 || len(scores) != scoreRows {
			t.Fatalf("submission %d: %d score rows (%d official), want %d (1 official)", id, len(scores), official, scoreRows)
		}
	}
}

func noisy(e *env) func(int) []byte {
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	return func(i int) []byte {
		return f.Submission(uint64(i), synth.SubmissionOptions{Noise: 0.05 * float64(i%10), Shuffle: true})
	}
}

func TestTwoRacingWorkersScoreEachSubmissionOnce(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 3*time.Minute)
	ids := submitMany(t, ctx, e, 30, noisy(e))
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range 2 {
		w := e.svc.NewWorker(competitions.WorkerOptions{Name: fmt.Sprintf("w%d", i)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				did, err := w.RunOnce(ctx)
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if !did {
					return
				}
				counts[i]++
			}
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != 30 {
		t.Fatalf("workers scored %v, want 30 in all", counts)
	}
	assertScoredOnce(t, ctx, e, ids, 1)
}

func TestCrashedWorkerLeaseIsRecovered(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 2*time.Minute)
	ids := submitMany(t, ctx, e, 1, func(int) []byte { return e.sample() })
	// Worker A claims and dies at once: no heartbeat, no result.
	a := e.svc.NewWorker(competitions.WorkerOptions{Name: "doomed", Lease: 300 * time.Millisecond})
	if id, _, err := a.Claim(ctx); err != nil || id != ids[0] {
		t.Fatalf("claim: %d %v", id, err)
	}
	b := e.svc.NewWorker(competitions.WorkerOptions{Name: "survivor"})
	if did, err := b.RunOnce(ctx); err != nil || did {
		t.Fatalf("claim during a live lease: did=%v err=%v", did, err)
	}
	time.Sleep(350 * time.Millisecond)
	if did, err := b.RunOnce(ctx); err != nil || !did {
		t.Fatalf("recovery claim: did=%v err=%v", did, err)
	}
	assertScoredOnce(t, ctx, e, ids, 1)
	sub, _ := e.st.GetSubmission(ctx, ids[0])
	if sub.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", sub.Attempts)
	}
}

func TestPausedWorkerCannotFinishAfterTakeover(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 2*time.Minute)
	ids := submitMany(t, ctx, e, 1, func(int) []byte { return e.sample() })
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	var mu sync.Mutex
	e.eng.before = func(context.Context) error {
		mu.Lock()
		f := first
		first = false
		mu.Unlock()
		if f {
			close(entered)
			<-release
		}
		return nil
	}
	a := e.svc.NewWorker(competitions.WorkerOptions{Name: "paused"})
	aErr := make(chan error, 1)
	go func() { _, err := a.RunOnce(ctx); aErr <- err }()
	<-entered
	// A stalls (a long GC pause, a partition) past its lease.
	if _, err := e.st.DB().ExecContext(ctx, "UPDATE submissions SET lease_until = ? WHERE id = ?", time.Now().UTC().Add(-time.Second), ids[0]); err != nil {
		t.Fatal(err)
	}
	b := e.svc.NewWorker(competitions.WorkerOptions{Name: "successor"})
	if did, err := b.RunOnce(ctx); err != nil || !did {
		t.Fatalf("takeover: did=%v err=%v", did, err)
	}
	close(release)
	if err := <-aErr; !errors.Is(err, competitions.ErrLeaseLost) {
		t.Fatalf("paused worker: %v, want ErrLeaseLost", err)
	}
	assertScoredOnce(t, ctx, e, ids, 1)
}

func TestScorerFailureIsParticipantSafe(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	ids := submitMany(t, ctx, e, 2, func(int) []byte { return e.sample() })
	calls := 0
	e.eng.before = func(context.Context) error {
		calls++
		if calls == 1 {
			return &competitions.ScorerError{Message: "truth row 7 is 1", Detail: "holdout value leaked"}
		}
		return &competitions.ScorerError{Public: true, Message: "predictions must not be empty"}
	}
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	drain(t, ctx, w)
	for i, id := range ids {
		s, err := e.svc.GetSubmission(ctx, competitions.Viewer{Admin: true}, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status != "failed" {
			t.Fatalf("submission %d: %s", id, s.Status)
		}
		want := []string{"the scorer failed on this submission; an admin can see the details", "predictions must not be empty"}[i]
		if s.Error != want {
			t.Fatalf("public error %q, want %q", s.Error, want)
		}
		row, _ := e.st.GetSubmission(ctx, id)
		if row.InternalError == "" {
			t.Fatal("internal detail not kept for admins")
		}
	}
}

func TestInProcessWakeUpScoresPromptly(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{Poll: time.Hour})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	time.Sleep(50 * time.Millisecond) // let the loops go idle
	u := e.user(t, "eager")
	res, err := e.svc.Submit(ctx, u, e.slug, "s.csv", e.sample())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s, err := e.svc.GetSubmission(ctx, u, res.Submission.ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == "scored" {
			if s.PrimaryScore == nil || s.CILow == nil || *s.CILow > *s.PrimaryScore || *s.CIHigh < *s.PrimaryScore {
				t.Fatalf("scored submission %+v lacks a score inside its interval", s)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("submission not scored within 10s although the worker polls hourly")
}

func TestAdminScoreNowBusyAndNotFound(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	if _, err := e.svc.ScoreNow(ctx, w, 999999999); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	ids := submitMany(t, ctx, e, 1, func(int) []byte { return e.sample() })
	other := e.svc.NewWorker(competitions.WorkerOptions{Name: "holder"})
	if id, _, err := other.Claim(ctx); err != nil || id != ids[0] {
		t.Fatalf("claim: %v", err)
	}
	if _, err := e.svc.ScoreNow(ctx, w, ids[0]); !errors.Is(err, competitions.ErrBusy) {
		t.Fatalf("leased elsewhere: %v", err)
	}
}
