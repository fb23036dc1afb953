// Package apitest runs a real MedForge HTTP server on a loopback port over a
// real migrated MariaDB (store/testdb), for tests of any capability's
// endpoints. It is for tests only and never used by production code.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/identity/httpadmin"
	"github.com/medforge/medforge/identity/httpidentity"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

// Options customize a test server; all fields are optional.
type Options struct {
	// Store defaults to testdb.Store(t), the package's shared database.
	Store store.Store
	// Config edits the test configuration (domain localhost, plain HTTP).
	Config func(*config.Config)
	// Identity edits the identity options (cheap argon2 TestParams by default).
	Identity func(*identity.Options)
	// Mount registers the capability's routes before the server starts
	// (identity's endpoints, identity/httpidentity and httpadmin, are
	// always mounted).
	Mount func(s *httpapi.Server)
}

// Env is a running server and a client for it.
type Env struct {
	Server *httpapi.Server
	Store  store.Store
	Config config.Config
	// URL is http://127.0.0.1:<port>, without a trailing slash.
	URL    string
	Client *http.Client
}

// Config returns a valid test configuration (see Options.Config).
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, _, err := config.Load(func(string) (string, bool) { return "", false }, nil, nil)
	if err != nil {
		t.Fatalf("apitest: default config: %v", err)
	}
	cfg.DSN = "unused-by-apitest"
	cfg.LogLevel = "error"
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// New starts a server for this test and stops it when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	st := o.Store
	if st == nil {
		st = testdb.Store(t)
	}
	cfg := Config(t)
	if o.Config != nil {
		o.Config(&cfg)
	}
	idOpt := identity.OptionsFromConfig(cfg)
	idOpt.Params = identity.TestParams
	if o.Identity != nil {
		o.Identity(&idOpt)
	}
	id, err := identity.NewService(st, idOpt)
	if err != nil {
		t.Fatalf("apitest: identity: %v", err)
	}
	// Logs are discarded unless MEDFORGE_TEST_LOG is set (then JSON on stderr).
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if os.Getenv("MEDFORGE_TEST_LOG") != "" {
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := httpapi.New(httpapi.Deps{Config: cfg, Store: st, Identity: id, Logger: log})
	if err != nil {
		t.Fatalf("apitest: server: %v", err)
	}
	httpidentity.Mount(srv, id)
	httpadmin.Mount(srv, id)
	if o.Mount != nil {
		o.Mount(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apitest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("apitest: server did not shut down")
		}
	})
	return &Env{
		Server: srv, Store: st, Config: cfg, URL: "http://" + ln.Addr().String(),
		Client: client,
	}
}

// ReqOpt changes one request.
type ReqOpt func(*http.Request)

// Cookie sends the identity cookie, under both of its names (the server
// reads the one its settings name, SessionCookieName, and ignores the
// other), so one helper serves plain-HTTP and HTTPS configurations.
func Cookie(token string) ReqOpt {
	return func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: token})
		r.AddCookie(&http.Cookie{Name: httpapi.SecureCookieName, Value: token})
	}
}

// Bearer sends Authorization: Bearer token.
func Bearer(token string) ReqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// Origin sends an Origin header.
func Origin(origin string) ReqOpt { return Header("Origin", origin) }

// Header sets a request header.
func Header(k, v string) ReqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// Response is a fully read response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	raw    *http.Response
}

// Cookies are the response's Set-Cookie cookies.
func (r *Response) Cookies() []*http.Cookie { return r.raw.Cookies() }

// SessionCookie is the identity cookie the response set (either name), or
// nil.
func (r *Response) SessionCookie() *http.Cookie {
	for _, c := range r.raw.Cookies() {
		if c.Name == httpapi.CookieName || c.Name == httpapi.SecureCookieName {
			return c
		}
	}
	return nil
}

// Do sends method path (relative to the server, e.g. "/api/v2/me") with body
// encoded as JSON unless it is nil, a string or []byte (sent as is).
func (e *Env) Do(t testing.TB, method, path string, body any, opts ...ReqOpt) *Response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("apitest: encode body: %v", err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.URL+path, rd)
	if err != nil {
		t.Fatalf("apitest: request: %v", err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("apitest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("apitest: read %s %s: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, raw: resp}
}

// Envelope is a decoded success body.
type Envelope struct {
	Data json.RawMessage `json:"data"`
	Meta map[string]any  `json:"meta"`
}

// Data checks the status and decodes the envelope's data into v (when not
// nil); it returns the envelope.
func (r *Response) Data(t testing.TB, wantStatus int, v any) Envelope {
	t.Helper()
	if r.Status != wantStatus {
		t.Fatalf("status %d, want %d; body: %s", r.Status, wantStatus, r.Body)
	}
	var env Envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		t.Fatalf("body is not an envelope: %v: %s", err, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			t.Fatalf("decode data: %v: %s", err, env.Data)
		}
	}
	return env
}

// Problem is a decoded problem+json body.
type Problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Code      string               `json:"code"`
	RequestID string               `json:"request_id"`
	Errors    []httpapi.FieldError `json:"errors"`
	Extra     map[string]any       `json:"-"`
}

// Problem checks the status, the content type and the code (when not empty)
// and decodes the problem.
func (r *Response) Problem(t testing.TB, wantStatus int, wantCode string) Problem {
	t.Helper()
	if r.Status != wantStatus {
		t.Fatalf("status %d, want %d; body: %s", r.Status, wantStatus, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body: %s", ct, r.Body)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("body is not a problem: %v: %s", err, r.Body)
	}
	if wantCode != "" && p.Code != wantCode {
		t.Fatalf("problem code %q, want %q; body: %s", p.Code, wantCode, r.Body)
	}
	return p
}
