package routing_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

// standinImage is built once per test binary from deploy/packs/standin.
var standinImage string

func TestMain(m *testing.M) {
	var err error
	standinImage, err = stacktest.StandinImage()
	if err != nil {
		fmt.Fprintln(os.Stderr, "routing tests need the Docker engine to build the stand-in IDE image:", err)
		os.Exit(1)
	}
	if _, err := exec.LookPath("caddy"); err != nil {
		fmt.Fprintln(os.Stderr, "routing tests need Caddy (Debian's caddy 2.6.2; make deps installs it):", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// stack is the whole routing path on real parts: MariaDB, the session
// runtime on the Docker engine with the stand-in IDE, the API with the
// session-proxy endpoint, and Caddy with deploy/caddy/Caddyfile.local.
type stack struct {
	t        *testing.T
	st       store.Store
	svc      *sessions.Service
	table    *routing.Table
	api      *apitest.Env
	caddy    string // 127.0.0.1:port
	caddyLog *lockedBuf
	instance string
}

// The routing tests' names for the shared end-to-end helpers.
var (
	repoRoot   = stacktest.RepoRoot
	freePort   = stacktest.FreePort
	startCaddy = stacktest.StartCaddy
)

type lockedBuf = stacktest.LockedBuf

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, st: testdb.Fresh(t), instance: "rt-" + testdb.Unique("")}
	root := t.TempDir()
	ws, err := workspace.NewDirectory(filepath.Join(root, "workspaces"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := dockerrt.New(dockerrt.Options{ForbiddenDir: filepath.Join(root, "holdouts"), CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	gp, err := gpu.ParseDeclared("0,1,2,3")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("MEDFORGE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	t.Cleanup(func() { stacktest.RemoveInstance(s.instance) })
	s.svc, err = sessions.New(sessions.Config{
		Instance: s.instance, Packs: map[string]string{"default": standinImage},
		NanoCPUs: 500_000_000, MemoryBytes: 128 << 20, PidsLimit: 128,
		StartTimeout: 30 * time.Second, StopGrace: time.Second,
		PollInterval: 200 * time.Millisecond, BackoffMax: time.Second,
	}, s.st, gp, ws, rt, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.svc.Close)
	s.table, err = routing.NewTable(routing.Options{Store: s.st, Resolver: s.svc, Logger: log, ResyncEvery: time.Hour, FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.svc.OnChange(s.table.Apply)
	s.svc.OnExit(s.table.Forget)
	if err := s.svc.Start(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.table.Resync(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	s.api = apitest.New(t, apitest.Options{Store: s.st, Mount: s.table.Mount})
	s.caddy, s.caddyLog = startCaddy(t, strings.TrimPrefix(s.api.URL, "http://"))
	return s
}

// running creates a session for user and waits until it runs.
func (s *stack) running(userID int64, e sessions.Exposure) sessions.Session {
	s.t.Helper()
	ctx := ctxT(s.t, 90*time.Second)
	sess, err := s.svc.Create(ctx, sessions.CreateRequest{UserID: userID, Exposure: e})
	if err != nil {
		s.t.Fatalf("create session: %v", err)
	}
	return s.waitStatus(sess.ID, sessions.StatusRunning)
}

func (s *stack) waitStatus(id int64, want sessions.Status) sessions.Session {
	s.t.Helper()
	ctx := ctxT(s.t, 90*time.Second)
	for {
		got, err := s.svc.Get(ctx, id, 0)
		if err == nil && got.Status == want {
			return got
		}
		if err == nil && !got.Status.Active() && got.Status != want {
			s.t.Fatalf("session %d is %s (%s), want %s", id, got.Status, got.ErrorReason, want)
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("session %d never became %s (last %+v, %v)", id, want, got, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sessionHost is the session's host on the Caddy port.
func (s *stack) sessionHost(slug string, e sessions.Exposure) string {
	_, port, _ := net.SplitHostPort(s.caddy)
	return "s-" + slug + "." + string(e) + ".medforge.localhost:" + port
}

// client sends every request to Caddy whatever the URL's host says, so a
// request keeps its Host (as DNS for *.localhost would do).
func (s *stack) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.caddy)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type result struct {
	status int
	header http.Header
	body   string
}

// get sends GET http://host+path through Caddy with the cookie (when not
// empty) and extra headers.
func (s *stack) get(host, path, cookie string, hdr map[string]string) result {
	s.t.Helper()
	req, err := http.NewRequestWithContext(ctxT(s.t, 30*time.Second), http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: httpapi.CookieName, Value: cookie})
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := s.client().Do(req)
	if err != nil {
		s.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// raw sends a hand-written HTTP/1.1 request to Caddy and returns the status
// line's code and the whole response.
func (s *stack) raw(req string) (int, string) {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", s.caddy, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		s.t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		s.t.Fatalf("read response to %q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
