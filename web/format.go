package web

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medforge/medforge/competitions"
)

func fmtScore(p *float64) string {
	if p == nil {
		return "—"
	}
	return strconv.FormatFloat(*p, 'f', 4, 64)
}

func fmtCI(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return "—"
	}
	return fmt.Sprintf("%.4f – %.4f", *lo, *hi)
}

func fmtTime(v any) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if t == nil {
			return "—"
		}
		return fmtTime(*t)
	}
	return ""
}

func fmtAgo(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

func shortDigest(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// pct is done/total as a whole percentage (0 when total is 0).
func pct(done, total int) int {
	if total <= 0 {
		return 0
	}
	return done * 100 / total
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// plotPoint is the best official score so far at a moment.
type plotPoint struct {
	At   time.Time
	Best float64
}

// bestOverTime is the running best of the scored submissions, oldest first:
// one point per submission that improved on the best so far.
func bestOverTime(subs []competitions.Submission, higher bool) []plotPoint {
	scored := make([]competitions.Submission, 0, len(subs))
	for _, s := range subs {
		if s.Status == "scored" && s.PrimaryScore != nil && !math.IsNaN(*s.PrimaryScore) && !math.IsInf(*s.PrimaryScore, 0) {
			scored = append(scored, s)
		}
	}
	sort.Slice(scored, func(i, j int) bool {
		if !scored[i].CreatedAt.Equal(scored[j].CreatedAt) {
			return scored[i].CreatedAt.Before(scored[j].CreatedAt)
		}
		return scored[i].ID < scored[j].ID
	})
	var out []plotPoint
	for _, s := range scored {
		v := *s.PrimaryScore
		if len(out) == 0 || (higher && v > out[len(out)-1].Best) || (!higher && v < out[len(out)-1].Best) {
			out = append(out, plotPoint{At: s.CreatedAt, Best: v})
		}
	}
	return out
}

// plotSVG draws pts as an inline SVG step chart of the best score over
// time, with axis labels and a text description for screen readers.
func plotSVG(pts []plotPoint, metric string) template.HTML {
	if len(pts) == 0 {
		return ""
	}
	const w, h, left, right, top, bottom = 640.0, 240.0, 64.0, 16.0, 16.0, 40.0
	t0, t1 := pts[0].At, time.Now().UTC()
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	lo, hi := pts[0].Best, pts[0].Best
	for _, p := range pts {
		lo, hi = math.Min(lo, p.Best), math.Max(hi, p.Best)
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.05*math.Max(1e-3, math.Abs(lo)), hi+0.05*math.Max(1e-3, math.Abs(hi))
	}
	pad := (hi - lo) * 0.1
	lo, hi = lo-pad, hi+pad
	x := func(t time.Time) float64 {
		return left + (w-left-right)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-(v-lo)/(hi-lo)) }
	var path strings.Builder
	for i, p := range pts {
		if i == 0 {
			fmt.Fprintf(&path, "M%.1f %.1f", x(p.At), y(p.Best))
			continue
		}
		fmt.Fprintf(&path, " H%.1f V%.1f", x(p.At), y(p.Best))
	}
	fmt.Fprintf(&path, " H%.1f", x(t1))
	last := pts[len(pts)-1]
	desc := fmt.Sprintf("Best %s over time: %d improvements from %s to %s; best so far %.4f.",
		metric, len(pts), t0.Format("2006-01-02 15:04"), last.At.Format("2006-01-02 15:04"), last.Best)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="plot-title plot-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="plot-title">Best score over time</title><desc id="plot-desc">%s</desc>`, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`, left, top, left, h-bottom)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f"/>`, left, y(v), w-right, y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="%.1f" text-anchor="end">%.3f</text>`, left-6, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="%.0f" text-anchor="start">%s</text>`, left, h-bottom+18, t0.Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="%.0f" text-anchor="end">%s</text>`, w-right, h-bottom+18, t1.Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text class="label" x="%.0f" y="%.0f" text-anchor="middle">time (UTC)</text>`, (w+left)/2, h-6)
	fmt.Fprintf(&b, `<path class="line" d="%s"/>`, path.String())
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="4"><title>%s: %.4f</title></circle>`, x(p.At), y(p.Best), p.At.Format("2006-01-02 15:04:05"), p.Best)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
