package competitions_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/store/db"
)

func TestDailyCapExactUnderConcurrency(t *testing.T) {
	e := setup(t, setupOpts{cap: 20})
	ctx := ctxT(t, 2*time.Minute)
	u := e.user(t, "racer")
	var ok, capped, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := e.svc.Submit(ctx, u, e.slug, "s.csv", e.sample())
			var ce *competitions.CapError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &ce):
				capped.Add(1)
				if ce.Cap != 20 || ce.RetryAfter <= 0 || ce.RetryAfter > 24*time.Hour {
					t.Errorf("upload %d: cap error %+v", i, ce)
				}
			default:
				other.Add(1)
				t.Errorf("upload %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != 20 || capped.Load() != 30 {
		t.Fatalf("accepted %d, capped %d, other %d; want 20 and 30", ok.Load(), capped.Load(), other.Load())
	}
	subs, capN, remaining, err := e.svc.MySubmissions(ctx, u, e.slug)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 20 || capN != 20 || remaining != 0 {
		t.Fatalf("stored %d submissions, cap %d, remaining %d; want 20, 20, 0", len(subs), capN, remaining)
	}
}

func TestInvalidFileDoesNotUseCap(t *testing.T) {
	e := setup(t, setupOpts{cap: 2})
	ctx := ctxT(t, time.Minute)
	u := e.user(t, "sloppy")
	bad := []struct {
		name string
		file string
	}{
		{"empty", ""},
		{"wrong header", "id,label\n1,0\n"},
		{"missing rows", "PassengerId,Survived\n892,0\n"},
		{"bad value", "PassengerId,Survived\n892,7\n"},
		{"not csv", "\x00\x01\x02"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Submit(ctx, u, e.slug, "bad.csv", []byte(tc.file))
			var ie *competitions.InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("got %v, want *InvalidError with problems", err)
			}
		})
	}
	for i := range 2 {
		res, err := e.svc.Submit(ctx, u, e.slug, "good.csv", e.sample())
		if err != nil {
			t.Fatalf("valid upload %d after invalid ones: %v", i, err)
		}
		if res.RemainingToday != 1-i {
			t.Fatalf("remaining %d after %d uploads", res.RemainingToday, i+1)
		}
	}
	var ce *competitions.CapError
	if _, err := e.svc.Submit(ctx, u, e.slug, "good.csv", e.sample()); !errors.As(err, &ce) {
		t.Fatalf("third valid upload: %v, want cap error", err)
	}
}

func TestDailyCapResetsAtUTCMidnight(t *testing.T) {
	var now atomic.Value
	now.Store(time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC))
	e := setup(t, setupOpts{cap: 1, now: func() time.Time { return now.Load().(time.Time) }})
	ctx := ctxT(t, time.Minute)
	u := e.user(t, "night owl")
	if _, err := e.svc.Submit(ctx, u, e.slug, "a.csv", e.sample()); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Submit(ctx, u, e.slug, "b.csv", e.sample())
	var ce *competitions.CapError
	if !errors.As(err, &ce) || ce.RetryAfter != time.Minute {
		t.Fatalf("got %v, want cap error retrying after 1m", err)
	}
	now.Store(time.Date(2026, 3, 2, 0, 0, 1, 0, time.UTC))
	if _, err := e.svc.Submit(ctx, u, e.slug, "c.csv", e.sample()); err != nil {
		t.Fatalf("after midnight: %v", err)
	}
}

func TestSubmissionIsStoredContentAddressed(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	u := e.user(t, "archivist")
	res, err := e.svc.Submit(ctx, u, e.slug, "../../etc/passwd", e.sample())
	if err != nil {
		t.Fatal(err)
	}
	if res.Submission.Filename != "passwd" || res.Submission.Status != "queued" || res.Submission.RowCount != 418 {
		t.Fatalf("submission %+v", res.Submission)
	}
	row, err := e.st.GetSubmission(ctx, res.Submission.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != db.SubmissionsStatusQueued || row.ArtifactSha256 != res.Submission.SHA256 || row.Pending != 1 {
		t.Fatalf("row %+v", row)
	}
}

func TestInternalCompetitionInvisible(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	e.b.Exposure = "INTERNAL"
	if _, err := e.svc.Install(ctx, 0, e.b); err != nil {
		t.Fatal(err)
	}
	outsider := e.user(t, "outsider")
	insider := competitions.Viewer{UserID: e.user(t, "insider").UserID, Internal: true}
	if _, err := e.svc.GetCompetition(ctx, outsider, e.slug); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("outsider get: %v", err)
	}
	if _, err := e.svc.Submit(ctx, outsider, e.slug, "s.csv", e.sample()); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("outsider submit: %v", err)
	}
	if _, err := e.svc.Leaderboard(ctx, outsider, e.slug, 0, 0); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("outsider leaderboard: %v", err)
	}
	list, err := e.svc.ListCompetitions(ctx, outsider)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Slug == e.slug {
			t.Fatal("outsider lists the internal competition")
		}
	}
	if _, err := e.svc.GetCompetition(ctx, insider, e.slug); err != nil {
		t.Fatalf("insider get: %v", err)
	}
}
