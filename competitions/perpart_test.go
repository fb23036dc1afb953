package competitions_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/bundle"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/scorers/metrics"
)

// TestPerPartSplitEndToEnd: a public_private competition whose metric
// gives no per-unit contributions (ROC AUC on the real breast-cancer
// holdout, 170 units), through intake and the worker on real MariaDB.
// Each submission is scored on both parts by a sandbox run of the module
// on each part's units alone: the first one also runs over the whole
// holdout, which shows that the module gives no contributions (3 runs);
// from then on it is two runs per submission. Both results are stored
// with their provenance (split_method per_part, the split's fingerprint,
// the part sizes, no per-unit contributions) and equal ROC AUC computed on
// the host over each part's units. The boards say that the significance
// figures are unavailable, and the private part is in no competitor's view
// before the reveal (404 for the private board), then on the private board.
func TestPerPartSplitEndToEnd(t *testing.T) {
	e := setup(t, setupOpts{metric: "roc-auc", cap: 100, scoring: publicPrivate, owner: "owner"})
	ctx := ctxT(t, 2*time.Minute)
	w := e.svc.NewWorker(competitions.WorkerOptions{})
	eng := e.eng.Engine.(*scoring.Engine)

	_, _, _, hold, err := bundle.BreastCancerFiles()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(hold)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ids, truth := make([]string, 0, len(recs)-1), make([]float64, 0, len(recs)-1)
	for _, r := range recs[1:] {
		v, _ := strconv.ParseFloat(r[1], 64)
		ids, truth = append(ids, r[0]), append(truth, v)
	}
	var secret []byte
	var fraction float64
	if err := e.st.DB().QueryRowContext(ctx, `SELECT split_secret, public_fraction FROM competitions WHERE slug = ?`, e.slug).Scan(&secret, &fraction); err != nil {
		t.Fatal(err)
	}
	split := competitions.Split{Secret: secret, Fraction: fraction}
	predictions := func(seed uint64, signal float64) ([]byte, []float64) {
		r := rand.New(rand.NewPCG(seed, 7))
		pred := make([]float64, len(ids))
		var b bytes.Buffer
		b.WriteString("id,malignant\n")
		for i, id := range ids {
			pred[i] = signal*truth[i] + (1-signal)*r.Float64()
			b.WriteString(id + "," + strconv.FormatFloat(pred[i], 'g', -1, 64) + "\n")
		}
		return b.Bytes(), pred
	}
	hostAUC := func(pred []float64, public bool) float64 {
		var tt, pp []float64
		for i, id := range ids {
			if split.Public([]byte(id)) == public {
				tt, pp = append(tt, truth[i]), append(pp, pred[i])
			}
		}
		v, _, _, err := metrics.ROCAUC(tt, pp, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	alice, bob := e.user(t, "alice"), e.user(t, "bob")
	type scored struct {
		v      competitions.Viewer
		sub    competitions.Submission
		pred   []float64
		record competitions.ScoreRecord
	}
	var subs []scored
	for i, c := range []struct {
		v      competitions.Viewer
		signal float64
		runs   int64
	}{{alice, 0.35, 3}, {bob, 0.15, 2}, {alice, 0.25, 2}} {
		file, pred := predictions(uint64(i+1), c.signal)
		before := eng.SandboxRuns()
		sub := e.submitAndScore(t, ctx, w, c.v, file)
		if got := eng.SandboxRuns() - before; got != c.runs {
			t.Fatalf("submission %d took %d sandbox runs, want %d", i+1, got, c.runs)
		}
		adm, err := e.svc.AdminSubmission(ctx, sub.ID)
		if err != nil || len(adm.Scores) != 1 || adm.PrivateScore == nil {
			t.Fatalf("admin view of submission %d: %+v %v", sub.ID, adm, err)
		}
		sc := adm.Scores[0]
		if sc.SplitMethod != competitions.SplitPerPart || sc.SplitFingerprint != split.Fingerprint() ||
			sc.PublicUnits == nil || sc.PrivateUnits == nil || int(*sc.PublicUnits+*sc.PrivateUnits) != len(ids) || *sc.PublicUnits == 0 {
			t.Fatalf("provenance of submission %d: %+v", sub.ID, sc)
		}
		if want := hostAUC(pred, true); math.Abs(sc.PrimaryScore-want) > 1e-12 {
			t.Fatalf("public part %v, host ROC AUC over the public units %v", sc.PrimaryScore, want)
		}
		if want := hostAUC(pred, false); math.Abs(*sc.PrivateScore-want) > 1e-12 {
			t.Fatalf("private part %v, host ROC AUC over the private units %v", *sc.PrivateScore, want)
		}
		var method string
		var noUnits bool
		if err := e.st.DB().QueryRowContext(ctx, `SELECT split_method, unit_scores IS NULL FROM submission_scores WHERE id = ?`, sc.ID).Scan(&method, &noUnits); err != nil {
			t.Fatal(err)
		}
		if method != "per_part" || !noUnits {
			t.Fatalf("stored split_method %q, unit_scores null %v", method, noUnits)
		}
		if *sub.PrimaryScore != roundTo(sc.PrimaryScore, 5) {
			t.Fatalf("the participant sees %v for the public score %v", *sub.PrimaryScore, sc.PrimaryScore)
		}
		subs = append(subs, scored{c.v, sub, pred, sc})
	}

	// Before the reveal: the private board is 404 for competitors and
	// anonymous callers; no competitor view holds a private score.
	for _, v := range []competitions.Viewer{alice, bob, {}} {
		if _, err := e.svc.Leaderboard(ctx, v, e.slug, competitions.BoardPrivate, 0, 0); !errors.Is(err, competitions.ErrNotFound) {
			t.Fatalf("private board before the reveal for %+v: %v", v, err)
		}
	}
	for _, v := range []competitions.Viewer{alice, bob} {
		var views []any
		lbJSON, err := e.svc.LeaderboardJSON(ctx, v, e.slug, competitions.BoardPublic, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, json.RawMessage(lbJSON))
		mine, _, _, err := e.svc.MySubmissions(ctx, v, e.slug)
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, mine)
		for _, s := range subs {
			if s.v == v {
				got, err := e.svc.GetSubmission(ctx, v, s.sub.ID)
				if err != nil {
					t.Fatal(err)
				}
				views = append(views, got)
			}
		}
		body, _ := json.Marshal(views)
		if bytes.Contains(body, []byte("private_score")) {
			t.Fatalf("a competitor view names a private score: %s", body)
		}
		for _, s := range subs {
			for _, r := range renderings(*s.record.PrivateScore) {
				if bytes.Contains(body, []byte(r)) {
					t.Fatalf("a competitor view holds private score %v as %q: %s", *s.record.PrivateScore, r, body)
				}
			}
		}
	}

	pub, err := e.svc.Leaderboard(ctx, alice, e.slug, competitions.BoardPublic, 0, 0)
	if err != nil || len(pub.Entries) != 2 {
		t.Fatalf("public board: %+v %v", pub, err)
	}
	unavailable := func(lb competitions.Leaderboard) {
		t.Helper()
		if lb.Significance.Available || !strings.Contains(lb.Significance.Note, "no per-unit contributions") {
			t.Fatalf("%s board significance: %+v", lb.Board, lb.Significance)
		}
		for _, en := range lb.Entries {
			if en.PValueVsLeader != nil || en.DiffVsLeader != nil || en.RankLow != nil || en.TiedWithLeader != nil {
				t.Fatalf("%s board entry with figures although none are available: %+v", lb.Board, en)
			}
		}
	}
	unavailable(pub)
	owners, err := e.svc.Leaderboard(ctx, e.owner, e.slug, competitions.BoardPrivate, 0, 0)
	if err != nil || len(owners.Entries) != 2 {
		t.Fatalf("the owner's private board: %+v %v", owners, err)
	}
	unavailable(owners)

	// The reveal opens the private board: ranked by the private scores of
	// each user's best public submissions (no finals marked).
	if _, err := e.svc.Reveal(ctx, e.owner, e.slug); err != nil {
		t.Fatal(err)
	}
	priv, err := e.svc.Leaderboard(ctx, bob, e.slug, competitions.BoardPrivate, 0, 0)
	if err != nil || !priv.Revealed || len(priv.Entries) != 2 {
		t.Fatalf("revealed private board: %+v %v", priv, err)
	}
	unavailable(priv)
	for _, en := range priv.Entries {
		var want *float64
		for _, s := range subs {
			if s.sub.ID == en.SubmissionID {
				want = s.record.PrivateScore
			}
		}
		if want == nil || en.Score != roundTo(*want, 5) {
			t.Fatalf("private entry %+v: want the private score %v of its submission", en, want)
		}
	}
}

// renderings are the ways a score could appear in a response body.
func renderings(x float64) []string {
	out := []string{strconv.FormatFloat(x, 'g', -1, 64)}
	for _, d := range []int{4, 5, 6} {
		out = append(out, strconv.FormatFloat(roundTo(x, d), 'g', -1, 64), fmt.Sprintf("%.*f", d, x))
	}
	return out
}
