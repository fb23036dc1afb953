package competitions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
)

var publicPrivate = competitions.ScoringSettings{Mode: competitions.ModePublicPrivate}

// ppEnv is a public_private titanic-like competition with an owner.
func ppEnv(t *testing.T, units int) *env {
	return setup(t, setupOpts{units: units, cap: 10000, scoring: publicPrivate, owner: "owner"})
}

// submitAndScore submits file as v and scores it; it returns the scored
// submission as v sees it.
func (e *env) submitAndScore(t *testing.T, ctx context.Context, w *competitions.Worker, v competitions.Viewer, file []byte) competitions.Submission {
	t.Helper()
	res, err := e.svc.Submit(ctx, v, e.slug, "sub.csv", file)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	drain(t, ctx, w)
	sub, err := e.svc.GetSubmission(ctx, v, res.Submission.ID)
	if err != nil || sub.Status != "scored" {
		t.Fatalf("submission %d: %+v %v", res.Submission.ID, sub, err)
	}
	return sub
}

// rows splits a two-column CSV into its header and rows.
func rows(file []byte) (string, [][2]string) {
	lines := strings.Split(strings.TrimRight(string(file), "\r\n"), "\n")
	out := make([][2]string, 0, len(lines)-1)
	for _, l := range lines[1:] {
		id, v, _ := strings.Cut(strings.TrimRight(l, "\r"), ",")
		out = append(out, [2]string{id, v})
	}
	return lines[0], out
}

func csvOf(header string, rs [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for _, r := range rs {
		b.WriteString(r[0] + "," + r[1] + "\n")
	}
	return b.Bytes()
}

// flipped returns the titanic submission with the rows in idx flipped.
func flipped(file []byte, idx ...int) []byte {
	h, rs := rows(file)
	rs = append([][2]string(nil), rs...)
	for _, i := range idx {
		if rs[i][1] == "0" {
			rs[i][1] = "1"
		} else {
			rs[i][1] = "0"
		}
	}
	return csvOf(h, rs)
}

func TestSplitIsStableKeyedAndNearTheFraction(t *testing.T) {
	sp := competitions.Split{Secret: []byte("secret-a"), Fraction: 0.3}
	other := competitions.Split{Secret: []byte("secret-b"), Fraction: 0.3}
	const n = 10000
	var pub, differ int
	for i := range n {
		id := []byte(fmt.Sprint(892 + i))
		if sp.Public(id) {
			pub++
		}
		if sp.Public(id) != (competitions.Split{Secret: []byte("secret-a"), Fraction: 0.3}).Public(id) {
			t.Fatal("the same secret and id gave two answers")
		}
		if sp.Public(id) != other.Public(id) {
			differ++
		}
	}
	// 3 standard deviations of Binomial(10000, 0.3)/10000 is 0.0137.
	if f := float64(pub) / n; math.Abs(f-0.3) > 0.014 {
		t.Fatalf("public share %v, want about 0.3", f)
	}
	if differ < n/4 {
		t.Fatalf("another secret changed only %d of %d units: the split is not keyed", differ, n)
	}
	if sp.Fingerprint() == other.Fingerprint() || strings.Contains(sp.Fingerprint(), "secret") {
		t.Fatal("fingerprint does not tell splits apart or shows the secret")
	}
}

// TestSplitStableAcrossRestartAndRescore scores on a 10k-unit public_private
// competition, restarts the service (a new process reading the same
// database) and rescores with another build of the metric: the public
// units and both scores stay exactly the same, and the public part is about
// 30% of the units.
func TestSplitStableAcrossRestartAndRescore(t *testing.T) {
	e := setup(t, setupOpts{units: 10000, cap: 100, scoring: publicPrivate})
	ctx := ctxT(t, 3*time.Minute)
	u := e.user(t, "alice")
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	file := e.sample() // one row per unit
	sub := e.submitAndScore(t, ctx, w, u, flipped(file, 1, 2, 3, 500, 7000))
	before, err := e.svc.AdminSubmission(ctx, sub.ID)
	if err != nil || before.PrivateScore == nil {
		t.Fatalf("admin view %+v %v", before, err)
	}
	sc := before.Scores[0]
	if sc.SplitMethod != competitions.SplitOneRun || sc.SplitFingerprint == "" || sc.PublicUnits == nil {
		t.Fatalf("provenance %+v", sc)
	}
	if share := float64(*sc.PublicUnits) / 10000; math.Abs(share-0.3) > 0.014 || *sc.PublicUnits+*sc.PrivateUnits != 10000 {
		t.Fatalf("public units %d of %d+%d", *sc.PublicUnits, *sc.PublicUnits, *sc.PrivateUnits)
	}

	// Restart: a new Service on the same database and roots.
	svc2, err := competitions.New(competitions.Deps{Store: e.st, Engine: realEngine(t), Roots: e.roots})
	if err != nil {
		t.Fatal(err)
	}
	admin := competitions.Viewer{UserID: e.user(t, "admin").UserID, Admin: true}
	wasm := readScorer(t, "accuracy-c")
	if _, err := svc2.UploadScorer(ctx, admin, e.slug, "accuracy-c", "2", wasm); err != nil {
		t.Fatalf("upload: %v", err)
	}
	drain(t, ctx, svc2.NewWorker(competitions.WorkerOptions{}))
	after, err := svc2.AdminSubmission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Scores) != 2 {
		t.Fatalf("%d score rows after rescoring with a new scorer", len(after.Scores))
	}
	re := after.Scores[1]
	if re.ScorerDigest == sc.ScorerDigest || re.SplitFingerprint != sc.SplitFingerprint ||
		*re.PublicUnits != *sc.PublicUnits || re.PrimaryScore != sc.PrimaryScore || *re.PrivateScore != *sc.PrivateScore {
		t.Fatalf("rescore after restart changed the split: %+v vs %+v", re, sc)
	}
}

func TestBothPartsScoredAndPrivateHiddenUntilReveal(t *testing.T) {
	e := ppEnv(t, 418)
	ctx := ctxT(t, 2*time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	alice, bob := e.user(t, "alice"), e.user(t, "bob")
	sa := e.submitAndScore(t, ctx, w, alice, noisy(e)(2))
	e.submitAndScore(t, ctx, w, bob, noisy(e)(5))

	adm, err := e.svc.AdminSubmission(ctx, sa.ID)
	if err != nil || adm.PrivateScore == nil || sa.PrimaryScore == nil {
		t.Fatalf("%+v %v", adm, err)
	}
	// Both parts together are the whole-holdout accuracy.
	full, err := e.svc.Validate(ctx, e.slug, noisy(e)(2))
	if err != nil {
		t.Fatal(err)
	}
	sc := adm.Scores[0]
	whole := (sc.PrimaryScore*float64(*sc.PublicUnits) + *sc.PrivateScore*float64(*sc.PrivateUnits)) / 418
	if math.Abs(whole-full) > 1e-12 {
		t.Fatalf("public %v on %d and private %v on %d units do not make the whole %v", sc.PrimaryScore, *sc.PublicUnits, *sc.PrivateScore, *sc.PrivateUnits, full)
	}
	if *sa.PrimaryScore != roundTo(sc.PrimaryScore, 5) {
		t.Fatalf("the participant sees %v, not the public score %v to 5 significant digits", *sa.PrimaryScore, sc.PrimaryScore)
	}
	// Private board: 404 for participants and anonymous callers, visible
	// to the owner and admins.
	admin := competitions.Viewer{UserID: e.user(t, "admin").UserID, Admin: true}
	for _, v := range []competitions.Viewer{alice, bob, {}} {
		if _, err := e.svc.Leaderboard(ctx, v, e.slug, competitions.BoardPrivate, 0, 0); !errors.Is(err, competitions.ErrNotFound) {
			t.Fatalf("private board before the reveal for %+v: %v", v, err)
		}
		if _, err := e.svc.Reveal(ctx, v, e.slug); !errors.Is(err, competitions.ErrForbidden) {
			t.Fatalf("reveal by %+v: %v", v, err)
		}
	}
	for _, v := range []competitions.Viewer{e.owner, admin} {
		lb, err := e.svc.Leaderboard(ctx, v, e.slug, competitions.BoardPrivate, 0, 0)
		if err != nil || len(lb.Entries) != 2 || lb.Board != "private" || lb.Revealed {
			t.Fatalf("private board for %+v: %+v %v", v, lb, err)
		}
	}
	pub, err := e.svc.Leaderboard(ctx, alice, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil || len(pub.Entries) != 2 {
		t.Fatal(err)
	}
	for _, en := range pub.Entries {
		if en.SubmissionID == sa.ID && en.Score != roundTo(sc.PrimaryScore, 5) {
			t.Fatalf("public board shows %v for public score %v (5 significant digits)", en.Score, sc.PrimaryScore)
		}
	}
	// Reveal: audited, one-way, then public.
	if _, err := e.svc.Reveal(ctx, e.owner, e.slug); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.Reveal(ctx, admin, e.slug) // again: nothing changes
	if err != nil || c.PrivateRevealedAt == nil {
		t.Fatalf("%+v %v", c, err)
	}
	evs, err := e.st.ListAuditEventsByAction(ctx, "competition.reveal")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.TargetID == e.slug {
			n++
			if ev.ActorUserID.Int64 != e.owner.UserID {
				t.Fatalf("reveal audited for actor %d", ev.ActorUserID.Int64)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d reveal audit events, want 1", n)
	}
	lb, err := e.svc.Leaderboard(ctx, competitions.Viewer{}, e.slug, competitions.BoardPrivate, 0, 0)
	if err != nil || !lb.Revealed || len(lb.Entries) != 2 {
		t.Fatalf("revealed private board: %+v %v", lb, err)
	}
	// A rescore after the reveal keeps both boards.
	if _, err := e.svc.RescoreCompetition(ctx, 0, e.slug, "after reveal"); err != nil {
		t.Fatal(err)
	}
	drain(t, ctx, w)
	lb2, _ := e.svc.Leaderboard(ctx, competitions.Viewer{}, e.slug, competitions.BoardPrivate, 0, 0)
	pub2, _ := e.svc.Leaderboard(ctx, competitions.Viewer{}, e.slug, competitions.BoardPublic, 0, 0)
	for i := range lb.Entries {
		if lb2.Entries[i].Score != lb.Entries[i].Score || lb2.Entries[i].SubmissionID != lb.Entries[i].SubmissionID ||
			pub2.Entries[i].SubmissionID != pub.Entries[i].SubmissionID {
			t.Fatalf("rescore after the reveal changed the boards")
		}
	}
	if _, err := e.svc.SetFinal(ctx, alice, e.slug, sa.ID, true); !errors.Is(err, competitions.ErrSelectionClosed) {
		t.Fatalf("final selection after the reveal: %v", err)
	}
}

func roundTo(x float64, digits int) float64 {
	var v float64
	fmt.Sscan(fmt.Sprintf("%.*g", digits, x), &v)
	return v
}

func readScorer(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(builtScorers(t) + "/" + name + ".wasm")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFinalSelectionWithAndWithoutChoice(t *testing.T) {
	e := ppEnv(t, 418)
	ctx := ctxT(t, 2*time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	u := e.user(t, "carol")
	var subs []competitions.Submission
	for i := range 4 {
		subs = append(subs, e.submitAndScore(t, ctx, w, u, noisy(e)(i*2+1)))
	}
	admin := competitions.Viewer{UserID: e.user(t, "admin").UserID, Admin: true}
	private := func() competitions.Entry {
		t.Helper()
		lb, err := e.svc.Leaderboard(ctx, admin, e.slug, competitions.BoardPrivate, 0, 0)
		if err != nil || len(lb.Entries) != 1 {
			t.Fatalf("%+v %v", lb, err)
		}
		return lb.Entries[0]
	}
	privOf := func(id int64) float64 {
		a, err := e.svc.AdminSubmission(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return *a.PrivateScore
	}
	pubOf := func(id int64) float64 { a, _ := e.svc.AdminSubmission(ctx, id); return *a.PrimaryScore }
	// Without a choice: the best private among the two best public ones.
	order := append([]competitions.Submission(nil), subs...)
	for i := range order {
		for j := i + 1; j < len(order); j++ {
			if pubOf(order[j].ID) > pubOf(order[i].ID) || pubOf(order[j].ID) == pubOf(order[i].ID) && order[j].ID < order[i].ID {
				order[i], order[j] = order[j], order[i]
			}
		}
	}
	want := order[0].ID
	if privOf(order[1].ID) > privOf(order[0].ID) {
		want = order[1].ID
	}
	if got := private(); got.SubmissionID != want {
		t.Fatalf("default finals: private entry %d, want %d", got.SubmissionID, want)
	}
	// With a choice: the worst public one alone.
	worst := order[len(order)-1].ID
	s, err := e.svc.SetFinal(ctx, u, e.slug, worst, true)
	if err != nil || !s.IsFinal {
		t.Fatalf("mark: %+v %v", s, err)
	}
	if _, err := e.svc.SetFinal(ctx, u, e.slug, worst, true); err != nil {
		t.Fatalf("marking again is idempotent: %v", err)
	}
	if got := private(); got.SubmissionID != worst || got.Score != privOf(worst) {
		t.Fatalf("chosen final: private entry %+v, want %d", got, worst)
	}
	if _, err := e.svc.SetFinal(ctx, u, e.slug, order[0].ID, true); err != nil {
		t.Fatal(err)
	}
	var fl *competitions.FinalLimitError
	if _, err := e.svc.SetFinal(ctx, u, e.slug, order[1].ID, true); !errors.As(err, &fl) || fl.Limit != 2 {
		t.Fatalf("third final: %v", err)
	}
	if _, err := e.svc.SetFinal(ctx, u, e.slug, worst, false); err != nil {
		t.Fatal(err)
	}
	if got := private(); got.SubmissionID != order[0].ID {
		t.Fatalf("after unmarking: %d, want %d", got.SubmissionID, order[0].ID)
	}
	// Another user's submission is not found; a single-mode competition
	// has no finals.
	if _, err := e.svc.SetFinal(ctx, e.user(t, "mallory"), e.slug, worst, true); !errors.Is(err, competitions.ErrNotFound) {
		t.Fatalf("someone else's submission: %v", err)
	}
	single := setup(t, setupOpts{})
	if _, err := single.svc.SetFinal(ctx, u, single.slug, worst, true); !errors.Is(err, competitions.ErrNoPrivateBoard) {
		t.Fatalf("single mode: %v", err)
	}
}

func TestSelectionDeadline(t *testing.T) {
	now := time.Now().UTC()
	clock := now
	deadline := now.Add(time.Hour)
	e := setup(t, setupOpts{cap: 100, owner: "owner", now: func() time.Time { return clock },
		scoring: competitions.ScoringSettings{Mode: competitions.ModePublicPrivate, SelectionDeadline: &deadline}})
	ctx := ctxT(t, time.Minute)
	u := e.user(t, "dave")
	s := e.submitAndScore(t, ctx, e.svc.NewWorker(competitions.WorkerOptions{}), u, e.sample())
	if _, err := e.svc.SetFinal(ctx, u, e.slug, s.ID, true); err != nil {
		t.Fatal(err)
	}
	clock = deadline
	if _, err := e.svc.SetFinal(ctx, u, e.slug, s.ID, false); !errors.Is(err, competitions.ErrSelectionClosed) {
		t.Fatalf("after the deadline: %v", err)
	}
}

// TestTieGroupAndPairedFigures: two nearly identical submissions are both
// in the leader's tie group; a clearly worse one is not.
func TestTieGroupAndPairedFigures(t *testing.T) {
	e := setup(t, setupOpts{cap: 100})
	ctx := ctxT(t, 2*time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	base := noisy(e)(1)
	e.submitAndScore(t, ctx, w, e.user(t, "a"), base)
	e.submitAndScore(t, ctx, w, e.user(t, "b"), flipped(base, 10, 20))
	e.submitAndScore(t, ctx, w, e.user(t, "c"), noisy(e)(9))
	lb, err := e.svc.Leaderboard(ctx, competitions.Viewer{}, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil || len(lb.Entries) != 3 || !lb.Significance.Available || lb.Significance.Covered != 3 {
		t.Fatalf("%+v %v", lb, err)
	}
	for i, en := range lb.Entries {
		if en.PValueVsLeader == nil || en.RankLow == nil || en.RankHigh == nil || en.TiedWithLeader == nil || en.DiffLow == nil {
			t.Fatalf("entry %d lacks figures: %+v", i, en)
		}
		if *en.RankLow > en.Rank || *en.RankHigh < en.Rank {
			t.Fatalf("entry %d: rank %d outside [%d, %d]", i, en.Rank, *en.RankLow, *en.RankHigh)
		}
	}
	if !*lb.Entries[0].TiedWithLeader || !*lb.Entries[1].TiedWithLeader || !lb.Entries[1].NotSignificant {
		t.Fatalf("nearly identical submissions not tied: %+v", lb.Entries[1])
	}
	if *lb.Entries[2].TiedWithLeader || *lb.Entries[2].PValueVsLeader >= 0.05 {
		t.Fatalf("a much worse submission tied: p=%v", *lb.Entries[2].PValueVsLeader)
	}
}

// TestLabelRecoveryDoesNotCarryToPrivate runs the attack of issue 13 on a
// public_private titanic-like competition: flip one prediction per
// submission, keep the flip when the public score rises. The attacker ends
// with a perfect public part, and the private score has not moved,
// because the flips that help the private part never show on the public
// board.
func TestLabelRecoveryDoesNotCarryToPrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("419 scorings")
	}
	e := ppEnv(t, 418)
	ctx := ctxT(t, 5*time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	attacker := e.user(t, "attacker")
	base := noisy(e)(4)
	start := e.submitAndScore(t, ctx, w, attacker, base)
	baseline := *start.PrimaryScore
	_, rs := rows(base)
	var keep []int
	for i := range rs {
		s := e.submitAndScore(t, ctx, w, attacker, flipped(base, i))
		if *s.PrimaryScore > baseline {
			keep = append(keep, i)
		}
	}
	final := e.submitAndScore(t, ctx, w, attacker, flipped(base, keep...))
	admin := competitions.Viewer{Admin: true, UserID: e.user(t, "admin").UserID}
	a0, _ := e.svc.AdminSubmission(ctx, start.ID)
	a1, _ := e.svc.AdminSubmission(ctx, final.ID)
	t.Logf("public %.4f -> %.4f; private %.4f -> %.4f after %d submissions", *a0.PrimaryScore, *a1.PrimaryScore,
		*a0.PrivateScore, *a1.PrivateScore, len(rs)+2)
	if *a1.PrimaryScore != 1 || *a1.PrimaryScore-*a0.PrimaryScore < 0.1 {
		t.Fatalf("the attack should win the public board: %v -> %v", *a0.PrimaryScore, *a1.PrimaryScore)
	}
	if *a1.PrivateScore != *a0.PrivateScore {
		t.Fatalf("the attack carried over to the private board: %v -> %v", *a0.PrivateScore, *a1.PrivateScore)
	}
	// With default finals (the best public ones), the private board shows
	// the attacker at the baseline's private score.
	lb, err := e.svc.Leaderboard(ctx, admin, e.slug, competitions.BoardPrivate, 0, 0)
	if err != nil || len(lb.Entries) != 1 || lb.Entries[0].Score > *a0.PrivateScore+1e-12 {
		t.Fatalf("private board %+v %v", lb, err)
	}
}

// TestFinalLimitHoldsUnderConcurrency: a crowd of concurrent marks of one
// user's submissions leaves exactly final_limit finals.
func TestFinalLimitHoldsUnderConcurrency(t *testing.T) {
	e := ppEnv(t, 418)
	ctx := ctxT(t, 2*time.Minute)
	u := e.user(t, "crowd")
	var ids []int64
	for i := range 6 {
		res, err := e.svc.Submit(ctx, u, e.slug, "s.csv", noisy(e)(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Submission.ID)
	}
	var wg sync.WaitGroup
	var ok, limited atomic.Int32
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.SetFinal(ctx, u, e.slug, ids[i%len(ids)], true)
			var fl *competitions.FinalLimitError
			switch {
			case err == nil:
				ok.Add(1)
			case errors.As(err, &fl):
				limited.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	finals := 0
	mine, _, _, err := e.svc.MySubmissions(ctx, u, e.slug)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		if s.IsFinal {
			finals++
		}
	}
	if finals != competitions.DefaultFinalLimit || limited.Load() == 0 {
		t.Fatalf("%d finals after %d accepted and %d limited marks, want %d", finals, ok.Load(), limited.Load(), competitions.DefaultFinalLimit)
	}
}
