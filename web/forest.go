package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/medforge/medforge/competitions"
)

// forestMax is the most entries the forest plot draws (the top of the board).
const forestMax = 30

// forestSVG draws the board's first entries as a forest plot: one row per
// entry, rank on the y axis (1 at the top), its score as a dot and its 95%
// interval as a bar on the x axis. Entries tied with #1 (their paired
// difference from the leader is not significant at 5%) are drawn in the
// "tie" class and listed in the description for screen readers. It draws
// nothing when no entry has an interval.
func forestSVG(lb competitions.Leaderboard) template.HTML {
	es := lb.Entries[:min(len(lb.Entries), forestMax)]
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, e := range es {
		lo, hi = math.Min(lo, e.Score), math.Max(hi, e.Score)
		if e.CILow != nil && e.CIHigh != nil {
			lo, hi = math.Min(lo, *e.CILow), math.Max(hi, *e.CIHigh)
		}
	}
	if len(es) == 0 || math.IsInf(lo, 0) {
		return ""
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.01, hi+0.01
	}
	pad := (hi - lo) * 0.05
	lo, hi = lo-pad, hi+pad
	const w, left, right, top, bottom, row = 640.0, 150.0, 16.0, 16.0, 40.0, 18.0
	h := top + bottom + row*float64(len(es))
	x := func(v float64) float64 { return left + (w-left-right)*(v-lo)/(hi-lo) }
	y := func(i int) float64 { return top + row*(float64(i)+0.5) }
	var tied []string
	for _, e := range es {
		if e.TiedWithLeader != nil && *e.TiedWithLeader {
			tied = append(tied, fmt.Sprintf("#%d %s", e.Rank, e.DisplayName))
		}
	}
	desc := fmt.Sprintf("Score and 95%% interval of the top %d entries of the %s board, rank 1 at the top.", len(es), lb.Board)
	if len(tied) > 0 {
		desc += " Tied with #1 (difference not significant at 5%): " + strings.Join(tied, ", ") + "."
	} else if !lb.Significance.Available {
		desc += " The tie group is unavailable: the metric gives no per-unit contributions."
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot forest" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="forest-title forest-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="forest-title">Forest plot of the %s board</title><desc id="forest-desc">%s</desc>`, lb.Board, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, left, h-bottom, w-right, h-bottom)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"/>`, x(v), top, x(v), h-bottom)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.0f" text-anchor="middle">%.3f</text>`, x(v), h-bottom+16, v)
	}
	fmt.Fprintf(&b, `<text class="label" x="%.0f" y="%.0f" text-anchor="middle">score (95%% interval)</text>`, (w+left)/2, h-6)
	if len(es) > 0 && len(tied) > 0 {
		// The leader's score, to read the tie group against.
		fmt.Fprintf(&b, `<line class="leader" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"/>`, x(es[0].Score), top, x(es[0].Score), h-bottom)
	}
	for i, e := range es {
		class := "entry"
		if e.TiedWithLeader != nil && *e.TiedWithLeader {
			class = "entry tie"
		}
		name := e.DisplayName
		if len(name) > 18 {
			name = name[:17] + "…"
		}
		fmt.Fprintf(&b, `<g class="%s" data-rank="%d">`, class, e.Rank)
		fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="%.1f" text-anchor="end">%d %s</text>`, left-6, y(i)+4, e.Rank, template.HTMLEscapeString(name))
		tip := fmt.Sprintf("#%d %s: %.4f", e.Rank, e.DisplayName, e.Score)
		if e.CILow != nil && e.CIHigh != nil {
			fmt.Fprintf(&b, `<line class="ci" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x(*e.CILow), y(i), x(*e.CIHigh), y(i))
			tip += fmt.Sprintf(" (95%% %.4f – %.4f)", *e.CILow, *e.CIHigh)
		}
		if e.PValueVsLeader != nil && e.Rank > 1 {
			tip += fmt.Sprintf("; vs #1 p = %.3f", *e.PValueVsLeader)
		}
		fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4"><title>%s</title></circle></g>`, x(e.Score), y(i), template.HTMLEscapeString(tip))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
