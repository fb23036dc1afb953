package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/store/testdb"
)

// TestMain removes the medforge binary stacktest built for this run.
func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

type cli struct {
	t   *testing.T
	bin string
	env []string
}

func newCLI(t *testing.T, dsn string) *cli {
	return &cli{t: t, bin: stacktest.Bin(t), env: append(os.Environ(),
		"MEDFORGE_DSN="+dsn, "MEDFORGE_RUN_DIR="+t.TempDir(), "MEDFORGE_LOG_LEVEL=warn")}
}

// run executes the binary and returns its combined output and exit code.
func (c *cli) run(stdin string, args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run %v: %v", args, err)
	}
	return string(out), code
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("medforge %v: exit %d: %s", args, code, out)
	}
	return out
}

func TestMigrateUpStatusIdempotent(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.FreshNamed(t, false)
	c := newCLI(t, dsn)
	st := c.ok("", "migrate", "status")
	if !strings.Contains(st, "00001_users.sql") || !strings.Contains(st, "pending") || strings.Contains(st, "applied ") {
		t.Fatalf("status on empty database:\n%s", st)
	}
	up := c.ok("", "migrate", "up")
	if !strings.Contains(up, "applied 00001") {
		t.Fatalf("first up:\n%s", up)
	}
	if again := c.ok("", "migrate", "up"); !strings.Contains(again, "schema is current") {
		t.Fatalf("second up:\n%s", again)
	}
	st = c.ok("", "migrate", "status")
	if !strings.Contains(st, ", 0 pending") || strings.Contains(st, "  pending") {
		t.Fatalf("status after up:\n%s", st)
	}
	if out, code := c.run("", "migrate", "sideways"); code != 2 || !strings.Contains(out, "up, status") {
		t.Fatalf("bad subcommand: exit %d: %s", code, out)
	}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	st, dsn := testdb.FreshNamed(t, true)
	c := newCLI(t, dsn)
	out := c.ok("", "user", "create", "--email", "Ops@Example.org", "--admin")
	if !strings.Contains(out, "ops@example.org role=admin can_use_internal=false") || !strings.Contains(out, "password: ") {
		t.Fatalf("create:\n%s", out)
	}
	if out, code := c.run("", "user", "create", "--email", "ops@example.org"); code != 3 || !strings.Contains(out, "exists") {
		t.Fatalf("duplicate create: exit %d: %s", code, out)
	}
	out = c.ok("", "user", "set", "--email", "ops@example.org", "--internal=true", "--admin=false")
	if !strings.Contains(out, "role=user can_use_internal=true") {
		t.Fatalf("set:\n%s", out)
	}
	out = c.ok("", "user", "set", "--email", "ops@example.org", "--author=true")
	if !strings.Contains(out, "role=user can_use_internal=true can_author=true") {
		t.Fatalf("set --author kept the other entitlements? %s", out)
	}
	out = c.ok("a-new-long-password\n", "user", "set", "--email", "ops@example.org", "--password-stdin")
	if !strings.Contains(out, "role=user can_use_internal=true can_author=true") {
		t.Fatalf("set password kept access? %s", out)
	}
	if out, code := c.run("", "user", "set", "--email", "nobody@example.org", "--admin=true"); code != 3 {
		t.Fatalf("unknown user: exit %d: %s", code, out)
	}
	if out, code := c.run("short\n", "user", "create", "--email", "x@example.org", "--password-stdin"); code != 2 || !strings.Contains(out, "password") {
		t.Fatalf("weak password: exit %d: %s", code, out)
	}
	if out, code := c.run("", "user", "create"); code != 2 || !strings.Contains(out, "--email") {
		t.Fatalf("missing email: exit %d: %s", code, out)
	}
	// Each change is in identity's audit log, with no actor user.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for action, want := range map[string]int{"cli.user.create": 1, "cli.user.set": 3} {
		evs, err := st.ListAuditEventsByAction(ctx, action)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != want {
			t.Errorf("%s: %d events, want %d", action, len(evs), want)
		}
		for _, e := range evs {
			if e.ActorUserID.Valid {
				t.Errorf("%s names an actor user: %+v", action, e)
			}
		}
	}
}

func TestBadConfigNamesTheSetting(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "unused")
	c.env = append(c.env, "MEDFORGE_LISTEN=8000", "MEDFORGE_SESSION_TTL=forever")
	out, code := c.run("", "serve")
	if code != 2 || !strings.Contains(out, "MEDFORGE_LISTEN") || !strings.Contains(out, "MEDFORGE_SESSION_TTL") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// serve migrates a fresh database, answers /healthz, and stops gracefully
// on SIGTERM; seed is idempotent and its admin can sign in.
func TestSeedServeHealthzAndShutdown(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.FreshNamed(t, false)
	c := newCLI(t, dsn)
	pwFile := filepath.Join(t.TempDir(), "admin-password")
	c.ok("", "seed", "--admin-password-file", pwFile)
	out := c.ok("", "seed", "--admin-password-file", pwFile)
	if !strings.Contains(out, "local admin: admin@medforge.localhost") {
		t.Fatalf("seed:\n%s", out)
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}

	srv := stacktest.Serve(t, c.bin, append(c.env, "MEDFORGE_LOG_LEVEL=info"), 30*time.Second)
	url := srv.URL
	body := fmt.Sprintf(`{"email":"admin@medforge.localhost","password":%q}`, strings.TrimSpace(string(pw)))
	res, err := http.Post(url+"/api/v2/auth/login", "application/json", strings.NewReader(body))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("admin login: %v %v", res, err)
	}
	res.Body.Close()
	checkOpenAPIDescribesTheAPI(t, url)

	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done:
		if err := srv.Err(); err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	var sawAccess, sawStopped bool
	for _, l := range strings.Split(srv.Logs.String(), "\n") {
		sawAccess = sawAccess || strings.Contains(l, `"msg":"http request"`) && strings.Contains(l, `"request_id"`)
		sawStopped = sawStopped || strings.Contains(l, `"msg":"stopped"`)
		if strings.Contains(l, "openapi mismatch") {
			t.Errorf("serve's routes disagree with its OpenAPI document (add routes with httpapi.Server.Handle): %s", l)
		}
	}
	if !sawStopped {
		t.Error("no 'stopped' log line after SIGTERM")
	}
	if !sawAccess {
		t.Error("no JSON access log line with a request_id")
	}
}

// checkOpenAPIDescribesTheAPI: the served document lists API operations
// only (no web UI pages) and every operation id once, so client generators
// accept it.
func checkOpenAPIDescribesTheAPI(t *testing.T, url string) {
	t.Helper()
	res, err := http.Get(url + "/api/v2/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	checkServedMatchesGolden(t, b)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v2/") && path != "/healthz" && path != "/metrics" {
			t.Errorf("the OpenAPI document lists %s, which is not part of the API", path)
		}
		for method, op := range ops {
			if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("operation id %s is used by %s and %s %s", op.OperationID, prev, method, path)
			}
			seen[op.OperationID] = method + " " + path
		}
	}
	if len(seen) < 20 {
		t.Errorf("the document lists only %d operations", len(seen))
	}
}
