package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/medforge/medforge/httpapi"
)

// OKRaw sends byte for byte the body OK sends for the same value given as
// json.RawMessage (the cached leaderboard pages rely on it), whatever the
// data holds: HTML characters escaped by json.Marshal, non-ASCII, nulls,
// nesting, and a request id that needs escaping.
func TestOKRawMatchesOK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    any
		rid  string
	}{
		{"object", map[string]any{"a": 1, "b": []any{nil, true, 2.5e-7}, "c": map[string]string{"d": "e"}}, "r-1"},
		{"html and unicode", map[string]string{"name": "<b>Zoë & \u2028 \"quoted\"</b>"}, "id\"with\\quotes"},
		{"array", []int{1, 2, 3}, ""},
		{"null", nil, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			app := fiber.New()
			app.Use(func(c *fiber.Ctx) error { c.Locals("medforge.request_id", tc.rid); return c.Next() })
			app.Get("/ok", func(c *fiber.Ctx) error { return httpapi.OK(c, 200, json.RawMessage(raw)) })
			app.Get("/raw", func(c *fiber.Ctx) error { return httpapi.OKRaw(c, 200, raw) })
			body := func(path string) (string, string) {
				res, err := app.Test(httptest.NewRequest("GET", path, nil))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				return string(b), res.Header.Get("Content-Type")
			}
			ok, okType := body("/ok")
			got, gotType := body("/raw")
			if got != ok || gotType != okType {
				t.Fatalf("OKRaw %q (%s)\nOK    %q (%s)", got, gotType, ok, okType)
			}
			var env struct {
				Meta struct {
					RequestID string `json:"request_id"`
				} `json:"meta"`
			}
			if err := json.Unmarshal([]byte(got), &env); err != nil || env.Meta.RequestID != tc.rid {
				t.Fatalf("envelope %s: %v, request id %q", got, err, env.Meta.RequestID)
			}
		})
	}
}

// BenchmarkEnvelope sends a leaderboard-sized page (100 entries with their
// figures, about 36 KB of JSON) through OKRaw against the reference, OK
// with the same bytes as json.RawMessage, in one Fiber app.
func BenchmarkEnvelope(b *testing.B) {
	type entry struct {
		Rank           int      `json:"rank"`
		DisplayName    string   `json:"display_name"`
		Score          float64  `json:"score"`
		CILow          float64  `json:"ci_low"`
		CIHigh         float64  `json:"ci_high"`
		SubmissionID   int64    `json:"submission_id"`
		PValueVsLeader *float64 `json:"p_value_vs_leader"`
		DiffVsLeader   *float64 `json:"diff_vs_leader"`
		DiffLow        *float64 `json:"diff_low"`
		DiffHigh       *float64 `json:"diff_high"`
		RankLow        *int     `json:"rank_low"`
		RankHigh       *int     `json:"rank_high"`
		TiedWithLeader *bool    `json:"tied_with_leader"`
	}
	page := make([]entry, 100)
	for i := range page {
		p, d, r, tied := 0.0123456789*float64(i), -0.00123456789*float64(i), i+1, i < 5
		page[i] = entry{Rank: i + 1, DisplayName: fmt.Sprintf("competitor number %d", i), Score: 0.8123456789 - float64(i)*1e-3,
			CILow: 0.77123456789, CIHigh: 0.85123456789, SubmissionID: int64(100000 + i),
			PValueVsLeader: &p, DiffVsLeader: &d, DiffLow: &d, DiffHigh: &p, RankLow: &r, RankHigh: &r, TiedWithLeader: &tied}
	}
	raw, _ := json.Marshal(map[string]any{"competition": "bench", "board": "public", "entries": page})
	app := fiber.New()
	app.Get("/ok", func(c *fiber.Ctx) error { return httpapi.OK(c, 200, json.RawMessage(raw)) })
	app.Get("/raw", func(c *fiber.Ctx) error { return httpapi.OKRaw(c, 200, raw) })
	h := app.Handler()
	for _, path := range []string{"/ok", "/raw"} {
		b.Run(path[1:], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			var ctx fasthttp.RequestCtx
			for range b.N {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod("GET")
				ctx.Request.SetRequestURI(path)
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatal(ctx.Response.StatusCode())
				}
			}
		})
	}
}
