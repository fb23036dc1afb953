package competitions_test

import (
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/store/db"
)

func row(id, user int64, score float64, at int, status db.SubmissionsStatus) db.CompetitionLeaderboardRowsRow {
	r := db.CompetitionLeaderboardRowsRow{ID: id, UserID: user, Status: status,
		CreatedAt: time.Date(2026, 1, 1, 0, 0, at, 0, time.UTC), DisplayName: "u"}
	if status == db.SubmissionsStatusScored {
		r.PrimaryScore = sql.NullFloat64{Float64: score, Valid: true}
	}
	return r
}

func TestRank(t *testing.T) {
	scored, failed := db.SubmissionsStatusScored, db.SubmissionsStatusFailed
	tests := []struct {
		name   string
		higher bool
		rows   []db.CompetitionLeaderboardRowsRow
		want   []int64 // best submission ids in rank order
		counts []int
	}{
		{"best per user, higher is better", true,
			[]db.CompetitionLeaderboardRowsRow{row(1, 1, .5, 1, scored), row(2, 1, .7, 2, scored), row(3, 2, .6, 3, scored)},
			[]int64{2, 3}, []int{2, 1}},
		{"lower is better", false,
			[]db.CompetitionLeaderboardRowsRow{row(1, 1, .5, 1, scored), row(2, 1, .7, 2, scored), row(3, 2, .6, 3, scored)},
			[]int64{1, 3}, []int{2, 1}},
		{"tie goes to the earlier submission", true,
			[]db.CompetitionLeaderboardRowsRow{row(5, 1, .5, 9, scored), row(6, 2, .5, 3, scored)},
			[]int64{6, 5}, []int{1, 1}},
		{"same time: lower id wins", true,
			[]db.CompetitionLeaderboardRowsRow{row(8, 1, .5, 3, scored), row(7, 2, .5, 3, scored)},
			[]int64{7, 8}, []int{1, 1}},
		{"user's own tie keeps the earlier submission", true,
			[]db.CompetitionLeaderboardRowsRow{row(9, 1, .5, 5, scored), row(4, 1, .5, 5, scored)},
			[]int64{4}, []int{2}},
		{"unscored users are absent but counted", true,
			[]db.CompetitionLeaderboardRowsRow{row(1, 1, 0, 1, failed), row(2, 1, .1, 2, scored), row(3, 2, 0, 3, failed)},
			[]int64{2}, []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Any input order gives the same board.
			for _, rows := range [][]db.CompetitionLeaderboardRowsRow{tc.rows, reversed(tc.rows)} {
				got := competitions.Rank(rows, tc.higher)
				if len(got) != len(tc.want) {
					t.Fatalf("%d entries, want %d", len(got), len(tc.want))
				}
				for i, e := range got {
					if e.SubmissionID != tc.want[i] || e.Rank != i+1 || e.Submissions != tc.counts[i] {
						t.Fatalf("entry %d = %+v, want submission %d rank %d count %d", i, e, tc.want[i], i+1, tc.counts[i])
					}
				}
			}
		})
	}
}

func reversed(rs []db.CompetitionLeaderboardRowsRow) []db.CompetitionLeaderboardRowsRow {
	out := make([]db.CompetitionLeaderboardRowsRow, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
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
	before, err := e.svc.Leaderboard(ctx, v, e.slug, 0, 0)
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
	after, err := e.svc.Leaderboard(ctx, v, e.slug, 0, 0)
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
