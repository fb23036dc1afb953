package web

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/identity"
)

func board() competitions.Leaderboard {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	return competitions.Leaderboard{Competition: "t", Board: "public", ScoringMode: "public_private", HigherIsBetter: true, Total: 3,
		Significance: competitions.Significance{Available: true, Covered: 3, Resamples: 1000},
		Entries: []competitions.Entry{
			{Rank: 1, DisplayName: "Ada", Score: 0.82, CILow: f(0.76), CIHigh: f(0.88), PValueVsLeader: f(1), DiffVsLeader: f(0), DiffLow: f(0), DiffHigh: f(0), RankLow: i(1), RankHigh: i(2), TiedWithLeader: b(true)},
			{Rank: 2, DisplayName: "Bob <script>", Score: 0.81, CILow: f(0.75), CIHigh: f(0.87), PValueVsLeader: f(0.5), DiffVsLeader: f(-0.01), DiffLow: f(-0.03), DiffHigh: f(0.01), RankLow: i(1), RankHigh: i(2), TiedWithLeader: b(true)},
			{Rank: 3, DisplayName: "Cy", Score: 0.6, CILow: f(0.52), CIHigh: f(0.68), PValueVsLeader: f(0), DiffVsLeader: f(-0.22), DiffLow: f(-0.3), DiffHigh: f(-0.15), RankLow: i(3), RankHigh: i(3), TiedWithLeader: b(false)},
		}}
}

func TestForestPlotMarksTheTieGroup(t *testing.T) {
	svg := string(forestSVG(board()))
	for _, want := range []string{`class="plot forest"`, `<g class="entry tie" data-rank="1">`, `<g class="entry tie" data-rank="2">`,
		`<g class="entry" data-rank="3">`, `class="ci"`, `class="leader"`, "Tied with #1 (difference not significant at 5%): #1 Ada, #2 Bob &lt;script&gt;.",
		"vs #1 p = 0.500", `role="img"`} {
		if !strings.Contains(svg, want) {
			t.Fatalf("forest plot lacks %q:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "<script>") {
		t.Fatal("a display name was not escaped")
	}
	// Rank 1 is drawn above rank 3.
	if strings.Index(svg, `data-rank="1"`) > strings.Index(svg, `data-rank="3"`) {
		t.Fatal("ranks out of order")
	}
	if forestSVG(competitions.Leaderboard{}) != "" {
		t.Fatal("an empty board drew a plot")
	}
	lb := board()
	lb.Significance = competitions.Significance{Note: "no per-unit contributions"}
	for i := range lb.Entries {
		lb.Entries[i].TiedWithLeader = nil
	}
	if svg := string(forestSVG(lb)); !strings.Contains(svg, "tie group is unavailable") || strings.Contains(svg, "entry tie") {
		t.Fatalf("unavailable tie group:\n%s", svg)
	}
}

// TestCompetitionPageBoards renders the competition page's leaderboard for
// a public_private competition: board tabs, the tie marks, rank
// intervals, the forest plot and the final toggles; and the message when
// the private board is not revealed.
func TestCompetitionPageBoards(t *testing.T) {
	ui := &UI{pages: map[string]*template.Template{}}
	if err := ui.parse(); err != nil {
		t.Fatal(err)
	}
	score := 0.8
	d := compData{Comp: competitions.Competition{Slug: "t", Title: "T", ScoringMode: "public_private", PublicFraction: 0.3, FinalLimit: 2, HigherIsBetter: true},
		Board: board(), BoardName: "public",
		Mine: &mySubmissions{DailyCap: 5, RemainingToday: 4, Submissions: []competitions.Submission{
			{ID: 7, Filename: "a.csv", Status: "scored", PrimaryScore: &score, IsFinal: true, CreatedAt: time.Now()},
			{ID: 8, Filename: "b.csv", Status: "scored", PrimaryScore: &score, CreatedAt: time.Now()}}}}
	render := func(d compData) string {
		var buf bytes.Buffer
		v := &view{Title: "T", User: &identity.User{}, Data: d}
		if err := ui.pages["competition"].ExecuteTemplate(&buf, "layout", v); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	out := render(d)
	for _, want := range []string{`aria-current="page">Public board`, "Private board", "scores 30% of the test set",
		`class="ns">=</abbr>`, "1–2", "-0.0100 (p 0.500)", `class="plot forest"`,
		`data-method="DELETE"`, `data-method="PUT"`, "★ final", "/submissions/8/final"} {
		if !strings.Contains(out, want) {
			t.Fatalf("page lacks %q", want)
		}
	}
	d.BoardName, d.PrivateHidden, d.Board = "private", true, competitions.Leaderboard{}
	if out := render(d); !strings.Contains(out, "The private board is revealed when the competition ends.") {
		t.Fatal("hidden private board not explained")
	}
}
