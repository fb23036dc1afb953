package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/store/testdb"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Quiet route is counted in /metrics but not access-logged, unless it
// answers 5xx.
func TestQuietRoutesSkipTheAccessLog(t *testing.T) {
	t.Parallel()
	st := testdb.Store(t)
	id, err := identity.NewService(st, identity.Options{Params: identity.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	srv, err := httpapi.New(httpapi.Deps{Config: apitest.Config(t), Store: st, Identity: id, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(httpapi.Route{Method: "GET", Path: "/quiet-ok", Summary: "t", Raw: true, Quiet: true,
		Handler: func(c *fiber.Ctx) error { return c.SendStatus(200) }})
	srv.Handle(httpapi.Route{Method: "GET", Path: "/quiet-fail", Summary: "t", Raw: true, Quiet: true,
		Handler: func(c *fiber.Ctx) error { return httpapi.Problem(503, "down", "down") }})
	srv.Handle(httpapi.Route{Method: "GET", Path: "/loud", Summary: "t", Raw: true,
		Handler: func(c *fiber.Ctx) error { return c.SendStatus(200) }})
	for _, p := range []string{"/api/v2/quiet-ok", "/api/v2/quiet-fail", "/api/v2/loud"} {
		if _, err := srv.App().Test(httptest.NewRequest("GET", p, nil), -1); err != nil {
			t.Fatal(err)
		}
	}
	out := logs.String()
	if strings.Contains(out, `"path":"/api/v2/quiet-ok"`) {
		t.Errorf("a quiet 200 was access-logged:\n%s", out)
	}
	for _, want := range []string{`"path":"/api/v2/quiet-fail"`, `"path":"/api/v2/loud"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	// /metrics answers a direct scraper on loopback; App().Test's
	// connection has no address, so serve on a real one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if !strings.Contains(b.String(), `route="/api/v2/quiet-ok"`) {
		t.Errorf("the quiet route is not counted in /metrics")
	}
}
