package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

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
