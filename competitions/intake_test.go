package competitions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/store"
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
	// 30 refused uploads of the same bytes, some refused after their file
	// was written, raced the accepted ones: the shared file must remain.
	if _, err := os.Stat(blobPath(e, subs[0].SHA256)); err != nil {
		t.Fatalf("the file of accepted submissions is gone: %v", err)
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
	if _, err := e.svc.Leaderboard(ctx, outsider, e.slug, competitions.BoardPublic, 0, 0); !errors.Is(err, competitions.ErrNotFound) {
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

func blobPath(e *env, digest string) string {
	return filepath.Join(e.roots.Submissions, "sha256", digest[:2], digest)
}

// capRefusingStore is the real store whose transactions refuse the daily
// cap, the way a concurrent upload that took the last slot makes them;
// before runs first (once the submitted file has been written).
type capRefusingStore struct {
	store.Store
	before func()
}

func (s capRefusingStore) InTx(ctx context.Context, fn func(store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(capRefusingStore{tx, s.before}) })
}

func (s capRefusingStore) BumpDailyCount(context.Context, db.BumpDailyCountParams) (int64, error) {
	s.before()
	return 0, nil
}

// An upload refused after its file was written removes the file, unless
// an accepted submission has the same bytes.
func TestRefusedUploadLeavesNoOrphanFile(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	accepted, err := e.svc.Submit(ctx, e.user(t, "first"), e.slug, "s.csv", e.sample())
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(e.sample(), []byte(",0\n"), []byte(",1\n"), 1)
	sum := sha256.Sum256(other)
	otherDigest := hex.EncodeToString(sum[:])
	if otherDigest == accepted.Submission.SHA256 {
		t.Fatal("the second file is not different")
	}

	var written []string
	refusing, err := competitions.New(competitions.Deps{Store: capRefusingStore{e.st, func() {
		for _, d := range []string{accepted.Submission.SHA256, otherDigest} {
			if _, err := os.Stat(blobPath(e, d)); err == nil {
				written = append(written, d)
			}
		}
	}}, Engine: e.eng, Roots: e.roots})
	if err != nil {
		t.Fatal(err)
	}
	late := e.user(t, "late")
	tests := []struct {
		name   string
		file   []byte
		digest string
		kept   bool
	}{
		{name: "same bytes as an accepted submission", file: e.sample(), digest: accepted.Submission.SHA256, kept: true},
		{name: "bytes nobody else submitted", file: other, digest: otherDigest, kept: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			written = nil
			_, err := refusing.Submit(ctx, late, e.slug, "s.csv", tc.file)
			var ce *competitions.CapError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a cap refusal", err)
			}
			if len(written) == 0 {
				t.Fatal("the refusal came before the file was written; the test proves nothing")
			}
			_, err = os.Stat(blobPath(e, tc.digest))
			if tc.kept && err != nil {
				t.Fatalf("the accepted submission's file is gone: %v", err)
			}
			if !tc.kept && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused upload's file is still there (stat: %v)", err)
			}
		})
	}
	// The same bytes can still be submitted and are stored again.
	res, err := e.svc.Submit(ctx, late, e.slug, "s.csv", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blobPath(e, res.Submission.SHA256)); err != nil {
		t.Fatalf("resubmitted file: %v", err)
	}
}

// removingStore deletes the stored file just before inserting the row, as
// a refused upload of the same bytes does when its removal commits first.
type removingStore struct {
	store.Store
	path func(digest string) string
}

func (s removingStore) InTx(ctx context.Context, fn func(store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(removingStore{tx, s.path}) })
}

func (s removingStore) InsertSubmission(ctx context.Context, arg db.InsertSubmissionParams) (int64, error) {
	if err := os.Remove(s.path(arg.ArtifactSha256)); err != nil {
		return 0, err
	}
	return s.Store.InsertSubmission(ctx, arg)
}

// An accepted upload whose file a concurrent refused upload removed before
// the row was inserted writes the file again before committing.
func TestAcceptedUploadRestoresARemovedFile(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	svc, err := competitions.New(competitions.Deps{Store: removingStore{e.st, func(d string) string { return blobPath(e, d) }},
		Engine: e.eng, Roots: e.roots})
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.Submit(ctx, e.user(t, "unlucky"), e.slug, "s.csv", e.sample())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(blobPath(e, res.Submission.SHA256))
	if err != nil || !bytes.Equal(got, e.sample()) {
		t.Fatalf("the accepted submission's file: %v", err)
	}
}

// TestConcurrentUploadsWhileScoringNeverFail is the contention finding:
// 20 rounds of 25 concurrent valid uploads by one user, while a worker
// scores what was accepted (its finish locks the same leaderboard entry and
// the competition row), give exactly the cap accepted and the rest refused
// for the cap: no upload fails with a server error (a deadlock once did).
func TestConcurrentUploadsWhileScoringNeverFail(t *testing.T) {
	const rounds, uploads, capN = 20, 25, 20
	e := setup(t, setupOpts{cap: capN})
	ctx := ctxT(t, 5*time.Minute)
	wctx, stop := context.WithCancel(ctx)
	var scored atomic.Int64
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() { runWorker(t, wctx, e, &scored) })
	}
	for round := range rounds {
		u := e.user(t, fmt.Sprintf("crowd%d", round))
		var ok, capped atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range uploads {
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
				default:
					t.Errorf("round %d upload %d: %v (a server error)", round, i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok.Load() != capN || capped.Load() != uploads-capN {
			t.Fatalf("round %d: accepted %d, capped %d; want %d and %d", round, ok.Load(), capped.Load(), capN, uploads-capN)
		}
	}
	stop()
	workers.Wait()
	if scored.Load() == 0 {
		t.Fatal("the worker scored nothing while uploads ran")
	}
	t.Logf("%d uploads accepted, %d scored during the run", rounds*capN, scored.Load())
}

// runWorker scores until ctx ends, counting what it scored.
func runWorker(t *testing.T, ctx context.Context, e *env, scored *atomic.Int64) {
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	for ctx.Err() == nil {
		did, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			t.Errorf("worker: %v", err)
			return
		}
		if did {
			scored.Add(1)
		} else {
			time.Sleep(2 * time.Millisecond)
		}
	}
}
