package competitions_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/store/db"
)

func entry(sub, user int64, score float64, at int, count int) db.CompetitionLeaderboardEntriesRow {
	t := time.Date(2026, 1, 1, 0, 0, at, 0, time.UTC)
	return db.CompetitionLeaderboardEntriesRow{UserID: user, Submissions: int32(count), LastSubmissionAt: t,
		BestSubmissionID: sql.NullInt64{Int64: sub, Valid: sub > 0}, BestScore: sql.NullFloat64{Float64: score, Valid: sub > 0},
		BestAt: sql.NullTime{Time: t, Valid: sub > 0}, DisplayName: "u"}
}

func TestRank(t *testing.T) {
	tests := []struct {
		name   string
		higher bool
		rows   []db.CompetitionLeaderboardEntriesRow
		want   []int64 // best submission ids in rank order
	}{
		{"higher is better", true, []db.CompetitionLeaderboardEntriesRow{entry(1, 1, .5, 1, 1), entry(2, 2, .7, 2, 3), entry(3, 3, .6, 3, 1)}, []int64{2, 3, 1}},
		{"lower is better", false, []db.CompetitionLeaderboardEntriesRow{entry(1, 1, .5, 1, 1), entry(2, 2, .7, 2, 3), entry(3, 3, .6, 3, 1)}, []int64{1, 3, 2}},
		{"tie goes to the earlier submission", true, []db.CompetitionLeaderboardEntriesRow{entry(5, 1, .5, 9, 1), entry(6, 2, .5, 3, 1)}, []int64{6, 5}},
		{"same time: lower id wins", true, []db.CompetitionLeaderboardEntriesRow{entry(8, 1, .5, 3, 1), entry(7, 2, .5, 3, 1)}, []int64{7, 8}},
		{"users without a scored submission are absent", true, []db.CompetitionLeaderboardEntriesRow{entry(0, 1, 0, 1, 4), entry(2, 2, .1, 2, 1)}, []int64{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Any input order gives the same board.
			for _, rows := range [][]db.CompetitionLeaderboardEntriesRow{tc.rows, reversed(tc.rows)} {
				got := competitions.Rank(rows, tc.higher)
				if len(got) != len(tc.want) {
					t.Fatalf("%d entries, want %d", len(got), len(tc.want))
				}
				for i, e := range got {
					if e.SubmissionID != tc.want[i] || e.Rank != i+1 {
						t.Fatalf("entry %d = %+v, want submission %d rank %d", i, e, tc.want[i], i+1)
					}
				}
			}
		})
	}
}

func reversed(rs []db.CompetitionLeaderboardEntriesRow) []db.CompetitionLeaderboardEntriesRow {
	out := make([]db.CompetitionLeaderboardEntriesRow, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}

func TestLeaderboardBestPerUserAndDirection(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 2*time.Minute)
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	a, b := e.user(t, "ann"), e.user(t, "bob")
	var aIDs []int64
	for _, noise := range []float64{0.4, 0.05, 0.25} {
		res, err := e.svc.Submit(ctx, a, e.slug, "a.csv", f.Submission(uint64(noise*100), synth.SubmissionOptions{Noise: noise}))
		if err != nil {
			t.Fatal(err)
		}
		aIDs = append(aIDs, res.Submission.ID)
	}
	res, err := e.svc.Submit(ctx, b, e.slug, "b.csv", f.Submission(9, synth.SubmissionOptions{Noise: 0.15}))
	if err != nil {
		t.Fatal(err)
	}
	bID := res.Submission.ID
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	drain(t, ctx, w)
	lb, err := e.svc.Leaderboard(ctx, a, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Entries) != 2 || lb.Entries[0].SubmissionID != aIDs[1] || lb.Entries[0].Submissions != 3 || lb.Entries[1].SubmissionID != bID {
		t.Fatalf("board %+v", lb.Entries)
	}
	// Turn the direction around: every user's best is recomputed.
	e.b.Spec.HigherIsBetter = false
	inst, err := e.svc.Install(ctx, 0, e.b)
	if err != nil || inst.Rescore == nil {
		t.Fatalf("install: %+v %v", inst, err)
	}
	// Before any rescoring runs, the board (cached above) already ranks the
	// new way: the import moved every best and the board's version.
	lb, err = e.svc.Leaderboard(ctx, a, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Entries) != 2 || lb.Entries[0].SubmissionID != aIDs[0] || lb.Entries[1].SubmissionID != bID || lb.HigherIsBetter {
		t.Fatalf("reversed board before rescoring %+v (higher is better: %t)", lb.Entries, lb.HigherIsBetter)
	}
	drain(t, ctx, w)
	assertScoredOnce(t, ctx, e, append(aIDs, bID), 1)
	lb, err = e.svc.Leaderboard(ctx, a, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Entries) != 2 || lb.Entries[0].SubmissionID != aIDs[0] || lb.Entries[1].SubmissionID != bID || lb.HigherIsBetter {
		t.Fatalf("reversed board %+v", lb.Entries)
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	per := make([]float64, 418)
	for i := range per {
		if i%3 != 0 {
			per[i] = 1
		}
	}
	per[5] = math.NaN()
	lo1, hi1, ok := competitions.Bootstrap(per, 42)
	lo2, hi2, _ := competitions.Bootstrap(per, 42)
	if !ok || lo1 != lo2 || hi1 != hi2 {
		t.Fatalf("not deterministic: [%v,%v] vs [%v,%v]", lo1, hi1, lo2, hi2)
	}
	mean := 0.0
	n := 0
	for _, v := range per {
		if !math.IsNaN(v) {
			mean += v
			n++
		}
	}
	mean /= float64(n)
	if !(lo1 < mean && mean < hi1) || hi1-lo1 > 0.15 || hi1-lo1 < 0.03 {
		t.Fatalf("interval [%v,%v] around mean %v is implausible", lo1, hi1, mean)
	}
	// Continuous contributions take the resampling path.
	cont := make([]float64, 300)
	for i := range cont {
		cont[i] = float64(i%7) / 7
	}
	clo, chi, ok := competitions.Bootstrap(cont, 9)
	clo2, chi2, _ := competitions.Bootstrap(cont, 9)
	if !ok || clo != clo2 || chi != chi2 || !(clo < 3.0/7 && 3.0/7 < chi) {
		t.Fatalf("continuous interval [%v,%v] / [%v,%v]", clo, chi, clo2, chi2)
	}
	if _, _, ok := competitions.Bootstrap([]float64{1}, 1); ok {
		t.Fatal("one unit gave an interval")
	}
}

func TestRescoreWithTiesKeepsOrderAndNeverDuplicates(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 3*time.Minute)
	// Five users submit the same file: all tie; order is submission order.
	ids := submitMany(t, ctx, e, 5, func(int) []byte { return e.sample() })
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	drain(t, ctx, w)
	v := e.user(t, "spectator")
	before, err := e.svc.Leaderboard(ctx, v, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Entries) != 5 {
		t.Fatalf("%d entries", len(before.Entries))
	}
	for i, en := range before.Entries {
		if en.SubmissionID != ids[i] || en.Rank != i+1 || (i > 0 && !en.NotSignificant) {
			t.Fatalf("entry %d: %+v", i, en)
		}
	}
	// Rescore with the same scorer and holdout: no new rows.
	job, err := e.svc.RescoreCompetition(ctx, 0, e.slug, "test")
	if err != nil || job.Total != 5 {
		t.Fatalf("rescore: %+v %v", job, err)
	}
	drain(t, ctx, w)
	assertScoredOnce(t, ctx, e, ids, 1)
	if job, _ = e.svc.RescoreStatus(ctx, e.slug, job.ID); job.State != "finished" || job.Done != 5 {
		t.Fatalf("job %+v", job)
	}
	// A new scorer (the C build of accuracy: same numbers, new digest).
	wasm, err := os.ReadFile(filepath.Join(builtScorers(t), "accuracy-c.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	admin := competitions.Viewer{UserID: e.user(t, "admin").UserID, Admin: true}
	up, err := e.svc.UploadScorer(ctx, admin, e.slug, "accuracy-c", "2", wasm)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if !up.Report.OK || up.Report.SampleScore == nil || up.Rescore == nil || up.Rescore.Total != 5 {
		t.Fatalf("upload result %+v", up)
	}
	drain(t, ctx, w)
	assertScoredOnce(t, ctx, e, ids, 2)
	after, err := e.svc.Leaderboard(ctx, v, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version <= before.Version {
		t.Fatalf("leaderboard version %d not after %d", after.Version, before.Version)
	}
	for i := range before.Entries {
		if after.Entries[i].SubmissionID != before.Entries[i].SubmissionID || after.Entries[i].Score != before.Entries[i].Score {
			t.Fatalf("order changed at %d: %+v vs %+v", i, after.Entries[i], before.Entries[i])
		}
	}
	// Uploading the same module again changes nothing.
	up2, err := e.svc.UploadScorer(ctx, admin, e.slug, "accuracy-c", "2", wasm)
	if err != nil || up2.Rescore != nil {
		t.Fatalf("re-upload: %+v %v", up2, err)
	}
	events, err := e.st.ListAuditEventsByAction(ctx, "competition.scorer_upload")
	if err != nil || len(events) == 0 {
		t.Fatalf("no audit event: %v", err)
	}
}

func TestScorerUploadValidation(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 2*time.Minute)
	admin := competitions.Viewer{UserID: e.user(t, "admin").UserID, Admin: true}
	top1, err := os.ReadFile(filepath.Join(builtScorers(t), "map-iou.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		wasm  []byte
		check string
	}{
		{"empty", nil, "size"},
		{"not wasm", []byte("#!/bin/sh\nrm -rf /\n"), "format"},
		{"truncated wasm", []byte("\x00asm\x01\x00\x00\x00\x01"), "load"},
		{"wrong metric for the data", top1, "sample"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.UploadScorer(ctx, admin, e.slug, "x", "1", tc.wasm)
			var re *competitions.ScorerRejectedError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want *ScorerRejectedError", err)
			}
			last := re.Report.Checks[len(re.Report.Checks)-1]
			if last.Name != tc.check || last.OK || re.Report.OK {
				t.Fatalf("report %+v, want failed check %q", re.Report, tc.check)
			}
		})
	}
	stranger := e.user(t, "stranger")
	if _, err := e.svc.UploadScorer(ctx, stranger, e.slug, "x", "1", []byte("\x00asm")); !errors.Is(err, competitions.ErrForbidden) {
		t.Fatalf("non-owner upload: %v", err)
	}
}

func TestBootstrapBinaryMatchesResampling(t *testing.T) {
	// The binomial shortcut gives the interval resampling would.
	per := make([]float64, 418)
	for i := range per {
		if i%5 < 3 {
			per[i] = 1
		}
	}
	lo, hi, ok := competitions.Bootstrap(per, 7)
	// At n = 418 the bootstrap interval of a proportion is close to the
	// normal approximation.
	mean, sd := 0.6, math.Sqrt(0.6*0.4/418)
	if !ok || math.Abs(lo-(mean-1.96*sd)) > 0.01 || math.Abs(hi-(mean+1.96*sd)) > 0.01 {
		t.Fatalf("interval [%v,%v], want about [%v,%v]", lo, hi, mean-1.96*sd, mean+1.96*sd)
	}
	if lo2, hi2, _ := competitions.Bootstrap(per, 7); lo2 != lo || hi2 != hi {
		t.Fatal("not deterministic")
	}
	if lo, hi, _ := competitions.Bootstrap(make([]float64, 10), 1); lo != 0 || hi != 0 {
		t.Fatalf("constant data: [%v,%v]", lo, hi)
	}
}

func TestConcurrentSwitchesKeepTheTrueBest(t *testing.T) {
	// One user, many submissions scored by racing workers: the entry's best
	// must be the true best whatever order the switches commit in.
	e := setup(t, setupOpts{cap: 100})
	ctx := ctxT(t, 3*time.Minute)
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	u := e.user(t, "prolific")
	for i := range 24 {
		if _, err := e.svc.Submit(ctx, u, e.slug, "s.csv", f.Submission(uint64(i), synth.SubmissionOptions{Noise: float64(i%12) / 24})); err != nil {
			t.Fatal(err)
		}
	}
	opts := make([]competitions.WorkerOptions, 4)
	for i := range opts {
		opts[i].Name = fmt.Sprint("w", i)
	}
	drainConcurrently(t, ctx, e.svc, opts...)
	subs, _, _, err := e.svc.MySubmissions(ctx, u, e.slug)
	if err != nil {
		t.Fatal(err)
	}
	best := subs[0]
	for _, s := range subs {
		if *s.PrimaryScore > *best.PrimaryScore || *s.PrimaryScore == *best.PrimaryScore && s.ID < best.ID {
			best = s
		}
	}
	lb, err := e.svc.Leaderboard(ctx, u, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Entries) != 1 || lb.Entries[0].SubmissionID != best.ID || lb.Entries[0].Submissions != 24 {
		t.Fatalf("entry %+v, want best submission %d (%v)", lb.Entries, best.ID, *best.PrimaryScore)
	}
}

// A direction change that lands while a submission scores: its switch ranks
// the user's submissions the new way, even when every other submission of
// the user was rescored before it finished.
func TestSwitchDuringDirectionChangeUsesTheNewDirection(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, 2*time.Minute)
	f, _ := synth.Generate("titanic-survival", 20260217, 418)
	a := e.user(t, "ann")
	good, err := e.svc.Submit(ctx, a, e.slug, "good.csv", f.Submission(5, synth.SubmissionOptions{Noise: 0.05}))
	if err != nil {
		t.Fatal(err)
	}
	w := e.svc.NewWorker(competitions.WorkerOptions{Name: "a"})
	drain(t, ctx, w)
	bad, err := e.svc.Submit(ctx, a, e.slug, "bad.csv", f.Submission(40, synth.SubmissionOptions{Noise: 0.4}))
	if err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool // the install's own scorer check scores too
	e.eng.before = func(hctx context.Context) error {
		var herr error
		if !fired.CompareAndSwap(false, true) {
			return nil
		}
		func() {
			e.b.Spec.HigherIsBetter = false
			if _, herr = e.svc.Install(hctx, 0, e.b); herr != nil {
				return
			}
			// Another worker rescores the good submission meanwhile.
			other := e.svc.NewWorker(competitions.WorkerOptions{Name: "b"})
			for {
				did, err := other.RunOnce(hctx)
				if err != nil || !did {
					herr = err
					return
				}
			}
		}()
		return herr
	}
	drain(t, ctx, w)
	lb, err := e.svc.Leaderboard(ctx, a, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if lb.HigherIsBetter || len(lb.Entries) != 1 || lb.Entries[0].SubmissionID != bad.Submission.ID {
		t.Fatalf("board %+v, want ann's lower-scoring submission %d (good was %d)", lb.Entries, bad.Submission.ID, good.Submission.ID)
	}
}
