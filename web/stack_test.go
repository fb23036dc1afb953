package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/sessions"
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
	logs  *lockedBuf
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func medforgeBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("MEDFORGE_BIN"); b != "" {
		return b
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medforge-web-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "medforge")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/medforge/medforge/cmd/medforge").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// startStack serves a fresh MedForge. withCaddy puts Caddy (deploy/caddy's
// local Caddyfile) in front when the caddy binary is installed.
func startStack(t *testing.T, withCaddy bool, extraEnv ...string) *stack {
	t.Helper()
	_, dsn := testdb.FreshNamed(t, false)
	bin := medforgeBin(t)
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
	port := freePort(t)
	api := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "serve", "--listen", api)
	cmd.Env = env
	logs := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		removeInstance(instance)
		if t.Failed() {
			t.Logf("medforge serve log (tail):\n%s", tail(logs.String(), 60))
		}
	})
	s := &stack{API: "http://" + api, URL: "http://medforge.localhost:" + strconv.Itoa(port),
		AdminEmail: "admin@medforge.localhost", AdminPassword: strings.TrimSpace(string(pw)), logs: logs}
	waitHTTP(t, s.API+"/healthz", done, logs)
	if withCaddy {
		if _, err := exec.LookPath("caddy"); err == nil {
			cport := startCaddy(t, api)
			s.URL, s.Caddy = "http://medforge.localhost:"+strconv.Itoa(cport), true
		} else {
			t.Log("caddy is not installed: the browser talks to medforge directly")
		}
	}
	return s
}

func waitHTTP(t *testing.T, url string, done chan struct{}, logs *lockedBuf) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute) // the first start may build the stand-in IDE image
	for {
		res, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode < 500 {
				return
			}
		}
		select {
		case <-done:
			t.Fatalf("medforge serve exited:\n%s", tail(logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("medforge serve never answered %s: %v\n%s", url, err, tail(logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
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

func startCaddy(t testing.TB, api string) int {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("caddy", "run", "--adapter", "caddyfile", "--config", filepath.Join(repoRoot(t), "deploy", "caddy", "Caddyfile.local"))
	cmd.Env = append(os.Environ(),
		"MEDFORGE_CADDY_PORT="+strconv.Itoa(port), "MEDFORGE_CADDY_BIND=127.0.0.1",
		"MEDFORGE_DOMAIN=localhost", "MEDFORGE_API_UPSTREAM="+api, "MEDFORGE_WEB_UPSTREAM="+api,
		"HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	logs := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("caddy log (tail):\n%s", tail(logs.String(), 30))
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return port
		}
		select {
		case <-done:
			t.Fatalf("caddy exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeInstance force-removes session containers a test run left behind.
func removeInstance(instance string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label="+sessions.LabelInstance+"="+instance).Output()
	if err != nil {
		return
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			_ = exec.CommandContext(ctx, "docker", "rm", "-f", id).Run()
		}
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
