package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/medforge/medforge/client"
)

func TestPrintBoardShowsPairedFigures(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	lb := client.Leaderboard{Competition: "c", Board: "public", HigherIsBetter: true, Total: 3,
		Significance: client.Significance{Available: true, Covered: 3},
		Entries: []client.Entry{
			{Rank: 1, DisplayName: "lead", Score: 0.81, PValueVsLeader: f(1), DiffVsLeader: f(0), DiffLow: f(0), DiffHigh: f(0), RankLow: i(1), RankHigh: i(2), TiedWithLeader: b(true)},
			{Rank: 2, DisplayName: "close", Score: 0.805, PValueVsLeader: f(0.62), DiffVsLeader: f(-0.005), DiffLow: f(-0.02), DiffHigh: f(0.01), RankLow: i(1), RankHigh: i(2), TiedWithLeader: b(true)},
			{Rank: 3, DisplayName: "far", Score: 0.6, PValueVsLeader: f(0), DiffVsLeader: f(-0.21), DiffLow: f(-0.26), DiffHigh: f(-0.16), RankLow: i(3), RankHigh: i(3), TiedWithLeader: b(false)},
		}}
	var out bytes.Buffer
	printBoard(&out, lb)
	for _, want := range []string{"RANK 95%", "VS #1 (95%)", "1=", "2=", "1-2", "-0.0050 (-0.0200, +0.0100)", "0.620", "= : tied with #1"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("board output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "3=") {
		t.Fatalf("a significantly worse entry marked tied:\n%s", out.String())
	}
	out.Reset()
	printBoard(&out, client.Leaderboard{Competition: "c", Total: 1, Significance: client.Significance{Note: "the metric gives no per-unit contributions"},
		Entries: []client.Entry{{Rank: 1, DisplayName: "x", Score: 0.9}}})
	if !strings.Contains(out.String(), "Significance unavailable: the metric gives no per-unit contributions") {
		t.Fatalf("unavailable figures not said:\n%s", out.String())
	}
}

// TestCompetitorCLIFinalsAndPrivateBoard: on a public_private competition
// the CLI marks and unmarks finals, and the private board is not found
// for a competitor before the reveal.
func TestCompetitorCLIFinalsAndPrivateBoard(t *testing.T) {
	t.Parallel()
	s := startCompetitorStack(t)
	c := s.cli
	if _, err := s.st.DB().Exec(`UPDATE competitions SET scoring_mode = 'public_private', split_secret = UNHEX(SHA2('cli', 256)) WHERE slug = 'titanic-survival'`); err != nil {
		t.Fatal(err)
	}
	good := s.sample(t)
	out := c.ok("", "submit", "--json", "--competition", "titanic-survival", "--wait", good)
	var res client.SubmitResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	id := strconv.FormatInt(res.Submission.ID, 10)
	out = c.ok("", "final", "titanic-survival", id)
	if !strings.Contains(out, "is final") {
		t.Fatalf("final:\n%s", out)
	}
	out = c.ok("", "submissions", "--json", "titanic-survival")
	if !strings.Contains(out, `"is_final": true`) {
		t.Fatalf("submissions after final:\n%s", out)
	}
	out = c.ok("", "final", "--unset", "titanic-survival", id)
	if !strings.Contains(out, "no longer final") {
		t.Fatalf("final --unset:\n%s", out)
	}
	if out, code := c.run("", "leaderboard", "--board", "private", "titanic-survival"); code != exitNotFound {
		t.Fatalf("private board before the reveal: exit %d:\n%s", code, out)
	}
	if out, code := c.run("", "final", "cifar-100-classification", id); code == 0 || !strings.Contains(out, "not found") && !strings.Contains(out, "private board") {
		t.Fatalf("final on another competition: exit %d:\n%s", code, out)
	}
	out = c.ok("", "leaderboard", "titanic-survival")
	if !strings.Contains(out, "RANK 95%") || !strings.Contains(out, "1=") {
		t.Fatalf("leaderboard:\n%s", out)
	}
}
