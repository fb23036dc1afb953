package stacktest

import (
	"context"
	"fmt"
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

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/standin"
)

var (
	binOnce  sync.Once
	binDir   string
	builtBin string
	binErr   error
)

// Main runs the tests and then removes what this package built for them
// (the medforge binary when $MEDFORGE_BIN is unset); it returns m.Run's
// exit code. Call it from TestMain: os.Exit(stacktest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	return code
}

// Bin is the medforge binary under test: $MEDFORGE_BIN (make test sets it)
// or one built once per test binary, removed by Main.
func Bin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("MEDFORGE_BIN"); b != "" {
		return b
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medforge-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		builtBin = filepath.Join(dir, "medforge")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/medforge/medforge/cmd/medforge").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return builtBin
}

// FreeAddr is a loopback address (127.0.0.1:port) that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is the port of FreeAddr.
func FreePort(t testing.TB) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(FreeAddr(t))
	port, _ := strconv.Atoi(p)
	return port
}

// RepoRoot is the MedForge module root above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := standin.FindModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Server is a running `medforge serve`, stopped when its test ends.
type Server struct {
	// Addr is 127.0.0.1:<port>.
	Addr string
	// URL is http://Addr.
	URL string
	// Logs is the process's stdout and stderr.
	Logs *LockedBuf
	// Done is closed when the process has exited.
	Done <-chan struct{}

	cmd *exec.Cmd
	err error // set before Done is closed
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error { return s.cmd.Process.Signal(sig) }

// Err is how the process exited (nil for status 0); read it only after
// Done is closed.
func (s *Server) Err() error { return s.err }

// Serve runs `bin serve --listen 127.0.0.1:<free port>` with env and waits
// until GET /healthz answers 200 (or fails the test after within, or when
// the process exits). When the test ends it interrupts the process, kills
// it after 20 seconds, and logs the tail of its output if the test failed.
func Serve(t testing.TB, bin string, env []string, within time.Duration) *Server {
	t.Helper()
	addr := FreeAddr(t)
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Env = env
	logs := &LockedBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s := &Server{Addr: addr, URL: "http://" + addr, Logs: logs, Done: done, cmd: cmd}
	go func() { s.err = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("medforge serve log (tail):\n%s", Tail(logs.String(), 60))
		}
	})
	deadline := time.Now().Add(within)
	for {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("medforge serve exited:\n%s", Tail(logs.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("medforge serve never answered /healthz 200: %v\n%s", err, Tail(logs.String(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartCaddy runs Caddy with deploy/caddy/Caddyfile.local on a free
// loopback port, pointed at api (host:port) for both the API and the web
// upstream, and stops it when the test ends. It returns Caddy's address
// and its output (the JSON access log included) once Caddy listens.
func StartCaddy(t testing.TB, api string) (string, *LockedBuf) {
	t.Helper()
	port := FreePort(t)
	cmd := exec.Command("caddy", "run", "--adapter", "caddyfile", "--config", filepath.Join(RepoRoot(t), "deploy", "caddy", "Caddyfile.local"))
	cmd.Env = append(os.Environ(),
		"MEDFORGE_CADDY_PORT="+strconv.Itoa(port), "MEDFORGE_CADDY_BIND=127.0.0.1",
		"MEDFORGE_DOMAIN=localhost", "MEDFORGE_API_UPSTREAM="+api, "MEDFORGE_WEB_UPSTREAM="+api,
		"HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	logs := &LockedBuf{}
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
			t.Logf("caddy log:\n%s", logs.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, logs
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

// RemoveInstance force-removes every container labelled with the session
// instance, twice: a create cancelled on the client side may still
// complete in the engine a moment later. Errors are ignored.
func RemoveInstance(instance string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer cli.Close()
	for i := 0; i < 2; i++ {
		list, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sessions.LabelInstance+"="+instance))})
		for _, c := range list {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// LockedBuf is a strings.Builder safe for concurrent Write and String, for
// a child process's output.
type LockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (l *LockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *LockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StandinImage builds the stand-in IDE image (deploy/packs/standin) on the
// Docker engine the environment names, within five minutes, and returns
// its reference; a TestMain calls it once per test binary.
func StandinImage() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return "", err
	}
	defer cli.Close()
	return standin.Build(ctx, cli, "")
}
