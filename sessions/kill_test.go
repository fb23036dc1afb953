package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/testdb"
)

const childEnv = "MEDFORGE_SESSIONS_TEST_CHILD"

// childSpec is what the parent test hands to a child process (this test
// binary re-executed) that plays the API during a stop.
type childSpec struct {
	DSN, Instance, Workspaces, Holdouts, Step, Marker string
	Config                                            sessions.Config
}

// runChild finalizes pending stops like an API process would, and freezes
// at spec.Step after writing the marker file, waiting for SIGKILL.
func runChild() int {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx := context.Background()
	pool, err := store.Open(ctx, spec.DSN)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ws, _ := workspace.NewDirectory(spec.Workspaces)
	rt, _ := dockerrt.New(dockerrt.Options{ForbiddenDir: spec.Holdouts})
	gp, _ := gpu.ParseDeclared("0,1,2,3")
	svc, err := sessions.New(spec.Config, store.New(pool), gp, ws, rt, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	svc.SetHookForTest(func(step string, id int64) error {
		if step == spec.Step {
			_ = os.WriteFile(spec.Marker, []byte(step), 0o644)
			select {} // frozen mid-stop until the parent kills us
		}
		return nil
	})
	if err := svc.Reconciler().Pass(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child: pass:", err)
		return 1
	}
	return 0
}

// The API process is SIGKILLed in the middle of a stop (a real process, the
// test binary re-executed, killed at a chosen step); the restarted API
// finishes the stop and the snapshot exactly once.
func TestStopFinishesOnceAfterSIGKILL(t *testing.T) {
	for _, step := range []string{"snapshot-named", "snapshotted"} {
		t.Run("SIGKILL after "+step, func(t *testing.T) {
			e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
			ctx := ctxT(t, 2*time.Minute)
			uid := e.user(testdb.UserOpts{})
			s := e.running(ctx, uid)
			e.svc.Close() // this process no longer finalizes anything
			_, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
			require.NoError(t, err)

			marker := filepath.Join(t.TempDir(), "frozen")
			spec, _ := json.Marshal(childSpec{DSN: e.dsn, Instance: e.instance, Workspaces: e.ws.Root(),
				Holdouts: e.cfg.TestHoldoutsDir, Step: step, Marker: marker, Config: e.cfg})
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
			out, _ := os.CreateTemp(t.TempDir(), "child")
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				if ctx.Err() != nil {
					b, _ := os.ReadFile(out.Name())
					t.Fatalf("child never reached %s: %s", step, b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			mid, err := e.svc.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			require.Equal(t, sessions.StatusStopping, mid.Status)
			require.NotEmpty(t, mid.Snapshot, "the child claimed the snapshot name before it died")

			restarted := e.newService(nil)
			require.NoError(t, restarted.Start(ctx))
			got, err := restarted.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			assert.Equal(t, sessions.StatusStopped, got.Status)
			assert.Equal(t, mid.Snapshot, got.Snapshot)
			ws := filepath.Join(e.ws.Root(), itoa(uid), itoa(s.ID))
			snaps, err := e.ws.Snapshots(ctx, ws)
			require.NoError(t, err)
			assert.Len(t, snaps, 1, "exactly one snapshot")
			assert.Empty(t, e.containers(ctx))
		})
	}
}
