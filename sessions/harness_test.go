package sessions_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/medforge/medforge/internal/stacktest"
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
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	var err error
	standinImage, err = stacktest.StandinImage()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessions tests need the Docker engine to build the stand-in IDE image:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// env is one isolated session runtime: its own database, instance label,
// workspace root and declared GPUs, on the real Docker engine.
type env struct {
	t        *testing.T
	st       store.Store
	dsn      string
	svc      *sessions.Service
	rt       *dockerrt.Docker
	ws       *workspace.Directory
	cfg      sessions.Config
	instance string
	root     string // data root holding workspaces, training, public-eval, holdouts
}

type envOpts struct {
	gpus      string // declared list; default "0,1,2,3"
	cfg       func(*sessions.Config)
	dockerURL string // engine address; default the environment's
	noStart   bool   // build the service but do not Start it
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.gpus == "" {
		o.gpus = "0,1,2,3"
	}
	e := &env{t: t, instance: "test-" + randHex(4), root: t.TempDir()}
	e.st, e.dsn = testdb.FreshNamed(t, true)
	for _, d := range []string{"training", "public-eval", "holdouts"} {
		if err := os.MkdirAll(filepath.Join(e.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	e.ws, err = workspace.NewDirectory(filepath.Join(e.root, "workspaces"))
	if err != nil {
		t.Fatal(err)
	}
	e.rt, err = dockerrt.New(dockerrt.Options{Host: o.dockerURL, ForbiddenDir: filepath.Join(e.root, "holdouts"), CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rt.Close() })
	e.cfg = sessions.Config{
		Instance:           e.instance,
		Packs:              map[string]string{"default": standinImage},
		NanoCPUs:           500_000_000,
		MemoryBytes:        128 << 20,
		PidsLimit:          128,
		TrainingDataRoot:   filepath.Join(e.root, "training"),
		PublicEvalDataRoot: filepath.Join(e.root, "public-eval"),
		TestHoldoutsDir:    filepath.Join(e.root, "holdouts"),
		StartTimeout:       30 * time.Second,
		StopGrace:          time.Second,
		PollInterval:       200 * time.Millisecond,
		BackoffMax:         time.Second,
		UnhealthyAfter:     2,
	}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	gp, err := gpu.ParseDeclared(o.gpus)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before any Service so it runs after their Close (cleanups
	// run last-in first-out): no launch can create a container after it.
	t.Cleanup(e.removeContainers)
	e.svc = e.newService(gp)
	if !o.noStart {
		if err := e.svc.Start(ctxT(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// newService builds another Service on the same database, engine and
// instance: a restarted API process.
func (e *env) newService(gp sessions.GPUProvider) *sessions.Service {
	e.t.Helper()
	if gp == nil {
		gp, _ = gpu.ParseDeclared("0,1,2,3")
	}
	log := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := sessions.New(e.cfg, e.st, gp, e.ws, e.rt, log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(svc.Close)
	return svc
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// removeContainers force-removes every container of this env's instance,
// twice: a create cancelled on the client side by Close may still complete
// in the engine a moment later (in production, recovery's orphan sweep
// removes such a container).
func (e *env) removeContainers() {
	e.sweep()
	time.Sleep(500 * time.Millisecond)
	e.sweep()
}

func (e *env) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := docker(e.t)
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sessions.LabelInstance+"="+e.instance))})
	if err != nil {
		e.t.Logf("cleanup: list containers: %v", err)
		return
	}
	for _, c := range list {
		_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

func docker(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func (e *env) user(o testdb.UserOpts) int64 {
	e.t.Helper()
	return testdb.User(e.t, e.st, o).ID
}

// running creates an external session for uid and waits (up to a minute)
// until it runs.
func (e *env) running(ctx context.Context, uid int64) sessions.Session {
	e.t.Helper()
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	if err != nil {
		e.t.Fatalf("create session: %v", err)
	}
	return e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)
}

// waitStatus polls until the session has status want (or fails the test).
func (e *env) waitStatus(id int64, want sessions.Status, within time.Duration) sessions.Session {
	e.t.Helper()
	ctx := ctxT(e.t, within)
	var last sessions.Session
	for {
		s, err := e.svc.Get(ctx, id, 0)
		if err == nil {
			last = s
			if s.Status == want {
				return s
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("session %d: status %q (%s), want %q within %s", id, last.Status, last.ErrorReason, want, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (e *env) containers(ctx context.Context) []sessions.Container {
	e.t.Helper()
	cs, err := e.rt.List(ctx, map[string]string{sessions.LabelInstance: e.instance})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}
