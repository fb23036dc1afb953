package web_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/store/testdb"
)

// stack is bin/medforge serving a fresh database (migrated and seeded with
// the built-in competitions and the local admin), optionally behind Caddy.
type stack struct {
	// URL is where a browser reaches the site: http://medforge.localhost:<port>.
	URL string
	// API is the server's own address (http://127.0.0.1:<port>).
	API           string
	AdminEmail    string
	AdminPassword string
	// Caddy is true when URL goes through Caddy's local Caddyfile.
	Caddy bool
}

// TestMain removes the medforge binary stacktest built for this run.
func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

func repoRoot(t testing.TB) string { return stacktest.RepoRoot(t) }

// startStack serves a fresh MedForge. withCaddy puts Caddy (deploy/caddy's
// local Caddyfile) in front when the caddy binary is installed.
func startStack(t *testing.T, withCaddy bool, extraEnv ...string) *stack {
	t.Helper()
	_, dsn := testdb.FreshNamed(t, false)
	bin := stacktest.Bin(t)
	run := t.TempDir()
	instance := "webtest-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	env := append(os.Environ(), "MEDFORGE_DSN="+dsn, "MEDFORGE_RUN_DIR="+run, "MEDFORGE_LOG_LEVEL=info",
		"MEDFORGE_DOMAIN=localhost", "MEDFORGE_GPUS=0", "MEDFORGE_SESSION_INSTANCE="+instance,
		"MEDFORGE_WORKER_POLL=200ms", "MEDFORGE_SESSION_POLL_INTERVAL=1s",
		"MEDFORGE_SESSION_CPUS=1", "MEDFORGE_SESSION_MEMORY=512m", "MEDFORGE_SESSION_PIDS=512")
	env = append(env, extraEnv...)
	for _, args := range [][]string{{"migrate", "up"}, {"seed", "--admin-password-file", filepath.Join(run, "admin-password")}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("medforge %v: %v\n%s", args, err, out)
		}
	}
	pw, err := os.ReadFile(filepath.Join(run, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stacktest.RemoveInstance(instance) })
	// the first start may build the stand-in IDE image
	srv := stacktest.Serve(t, bin, env, 4*time.Minute)
	_, port, _ := net.SplitHostPort(srv.Addr)
	s := &stack{API: srv.URL, URL: "http://medforge.localhost:" + port,
		AdminEmail: "admin@medforge.localhost", AdminPassword: strings.TrimSpace(string(pw))}
	if withCaddy {
		if _, err := exec.LookPath("caddy"); err == nil {
			caddy, _ := stacktest.StartCaddy(t, srv.Addr)
			_, cport, _ := net.SplitHostPort(caddy)
			s.URL, s.Caddy = "http://medforge.localhost:"+cport, true
		} else {
			t.Log("caddy is not installed: the browser talks to medforge directly")
		}
	}
	return s
}

// served reports whether the server's OpenAPI document lists path.
func (s *stack) served(t *testing.T, path string) bool {
	t.Helper()
	res, err := http.Get(s.API + "/api/v2/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return strings.Contains(string(b), `"`+path+`"`)
}
