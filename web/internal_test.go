package web

import (
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/competitions"
)

func f(v float64) *float64 { return &v }

func TestBestOverTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	subs := []competitions.Submission{ // newest first, as the API lists them
		{ID: 5, Status: "scored", PrimaryScore: f(0.9), CreatedAt: t0.Add(5 * time.Hour)},
		{ID: 4, Status: "failed", CreatedAt: t0.Add(4 * time.Hour)},
		{ID: 3, Status: "scored", PrimaryScore: f(0.7), CreatedAt: t0.Add(3 * time.Hour)},
		{ID: 2, Status: "queued", CreatedAt: t0.Add(2 * time.Hour)},
		{ID: 1, Status: "scored", PrimaryScore: f(0.8), CreatedAt: t0.Add(time.Hour)},
	}
	tests := []struct {
		name   string
		higher bool
		want   []float64
	}{
		{"higher is better keeps improvements", true, []float64{0.8, 0.9}},
		{"lower is better keeps improvements", false, []float64{0.8, 0.7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bestOverTime(subs, tc.higher)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i].Best != tc.want[i] {
					t.Fatalf("got %+v, want %v", got, tc.want)
				}
			}
		})
	}
	if bestOverTime(nil, true) != nil || plotSVG(nil, "x") != "" {
		t.Fatal("no scored submissions must draw nothing")
	}
	svg := string(plotSVG(bestOverTime(subs, true), "accuracy"))
	for _, w := range []string{`role="img"`, "<title", "<desc", "Best accuracy over time: 2 improvements", "<path class=\"line\"", "0.9000"} {
		if !strings.Contains(svg, w) {
			t.Errorf("svg lacks %q:\n%s", w, svg)
		}
	}
	// One point: a flat line with a sane axis, no NaN.
	one := string(plotSVG([]plotPoint{{At: t0, Best: 1}}, "m"))
	if strings.Contains(one, "NaN") || strings.Contains(one, "Inf") {
		t.Fatalf("single point:\n%s", one)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/competitions/a": "/competitions/a", "": "/", "//evil.example": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "/a\r\nSet-Cookie: x": "/",
		"/\t/evil.example": "/", "/\t\\evil.example": "/", "/%09/evil.example": "/%09/evil.example",
		"/a\\b": "/", "/\x7f/evil.example": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
