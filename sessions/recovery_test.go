package sessions_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/store/testdb"
)

var errKilled = errors.New("simulated kill")

// The API dies in the middle of a stop, at every step of the
// finalization; a restarted API completes the stop and the snapshot
// exactly once: one snapshot on disk, named as the row says, the container
// gone, the row stopped.
func TestStopFinishesOnceAfterKill(t *testing.T) {
	for _, step := range []string{"stopped", "snapshot-named", "snapshotted", "removed"} {
		t.Run("killed after "+step, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
			ctx := ctxT(t, 2*time.Minute)
			uid := e.user(testdb.UserOpts{})
			s := e.running(ctx, uid)

			// The first process dies at step: nothing after it runs, and
			// the process is gone for good.
			var once sync.Once
			dead := make(chan struct{})
			e.svc.SetHookForTest(func(at string, id int64) error {
				if at == step {
					once.Do(func() { close(dead) })
					return errKilled
				}
				return nil
			})
			_, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
			require.NoError(t, err)
			select {
			case <-dead:
			case <-ctx.Done():
				t.Fatal("finalization never reached " + step)
			}
			e.svc.Close()
			row, err := e.svc.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			require.Equal(t, sessions.StatusStopping, row.Status)
			firstName := row.Snapshot

			// The restarted process recovers at start.
			restarted := e.newService(nil)
			require.NoError(t, restarted.Start(ctx))
			got, err := restarted.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			assert.Equal(t, sessions.StatusStopped, got.Status)
			if firstName != "" {
				assert.Equal(t, firstName, got.Snapshot, "the claimed snapshot name is reused")
			}
			ws := filepath.Join(e.ws.Root(), itoa(uid), itoa(s.ID))
			snaps, err := e.ws.Snapshots(ctx, ws)
			require.NoError(t, err)
			assert.Len(t, snaps, 1, "exactly one snapshot")
			assert.Equal(t, ws+"@"+snaps[0], got.Snapshot)
			partials, _ := filepath.Glob(filepath.Join(filepath.Dir(ws), ".*partial*"))
			assert.Empty(t, partials)
			assert.Empty(t, e.containers(ctx))

			// More passes change nothing.
			require.NoError(t, restarted.Reconciler().Pass(ctx))
			snaps, _ = e.ws.Snapshots(ctx, ws)
			assert.Len(t, snaps, 1)
		})
	}
}

// A container removed behind the API's back: its row is finalized
// (stopped, reason container_lost, workspace snapshotted) and the GPU freed.
func TestContainerRemovedBehindBack(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
	ctx := ctxT(t, 2*time.Minute)
	uid := e.user(testdb.UserOpts{})
	s := e.running(ctx, uid)
	cs := e.containers(ctx)
	require.Len(t, cs, 1)
	require.NoError(t, docker(t).ContainerRemove(ctx, cs[0].ID, container.RemoveOptions{Force: true}))

	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	got, err := e.svc.Get(ctx, s.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStopped, got.Status)
	assert.Equal(t, sessions.StopContainerLost, got.StopReason)
	assert.NotEmpty(t, got.Snapshot)
	gpus, err := e.svc.GPUs(ctx)
	require.NoError(t, err)
	assert.Nil(t, gpus[s.GPUID].Holder)
}

// A container of this instance without an active row is an orphan: stopped
// and removed. A container of another instance is left alone.
func TestOrphanContainerRemoved(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
	ctx := ctxT(t, time.Minute)
	spec := func(instance, name string) sessions.ContainerSpec {
		return sessions.ContainerSpec{
			Name: name, Image: standinImage, Network: "medforge-external-sessions", User: "1000:1000",
			Labels: map[string]string{sessions.LabelManaged: "true", sessions.LabelInstance: instance, sessions.LabelSession: "987654321"},
		}
	}
	orphan, err := e.rt.Start(ctx, spec(e.instance, "mf-session-orphan"+randHex(3)))
	require.NoError(t, err)
	otherInstance := "test-other-" + randHex(3)
	foreign, err := e.rt.Start(ctx, spec(otherInstance, "mf-session-foreign"+randHex(3)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.rt.Remove(context.Background(), foreign) })

	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	_, err = docker(t).ContainerInspect(ctx, orphan)
	assert.Error(t, err, "orphan removed")
	_, err = docker(t).ContainerInspect(ctx, foreign)
	assert.NoError(t, err, "another instance's container is not ours to remove")
}

// Starting rows that no process is launching any more (the API died after
// allocating) become error once the start grace is over... and rows past
// the start timeout too.
func TestStartingTimeout(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour; c.StartTimeout = 20 * time.Second }})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{})
	res, err := e.st.DB().ExecContext(ctx,
		"INSERT INTO sessions (slug, user_id, exposure, pack, image, gpu_id, status, created_at) VALUES (?, ?, 'external', 'default', ?, 1, 'starting', NOW(6) - INTERVAL 1 MINUTE)",
		"stale"+randHex(3), uid, standinImage)
	require.NoError(t, err)
	id, _ := res.LastInsertId()
	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	got, err := e.svc.Get(ctx, id, 0)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusError, got.Status)
	assert.Equal(t, "the session start was interrupted", got.ErrorReason)
}

// Idle culling and the maximum lifetime stop a running session with a
// snapshot like any other stop.
func TestCulling(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*sessions.Config)
		reason string
	}{
		{name: "idle", cfg: func(c *sessions.Config) { c.IdleTimeout = 2 * time.Second }, reason: sessions.StopIdle},
		{name: "max lifetime", cfg: func(c *sessions.Config) { c.MaxLifetime = 2 * time.Second }, reason: sessions.StopMaxLifetime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour; tc.cfg(c) }})
			ctx := ctxT(t, time.Minute)
			uid := e.user(testdb.UserOpts{})
			s := e.running(ctx, uid)
			require.NoError(t, e.svc.Reconciler().Pass(ctx))
			got, err := e.svc.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			require.Equal(t, sessions.StatusRunning, got.Status, "not culled before its time")
			time.Sleep(2500 * time.Millisecond)
			require.NoError(t, e.svc.Reconciler().Pass(ctx))
			got, err = e.svc.Get(ctx, s.ID, 0)
			require.NoError(t, err)
			assert.Equal(t, sessions.StatusStopped, got.Status)
			assert.Equal(t, tc.reason, got.StopReason)
			assert.NotEmpty(t, got.Snapshot)
		})
	}
}

// The Docker client is pointed at a socket that stops answering: health is
// degraded while it is dead and healthy again once it answers, without a
// restart. The socket is a proxy to the real engine that the test switches
// off and on.
func TestHealthFollowsDocker(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	p := &stacktest.SockProxy{Path: sock, Target: "/var/run/docker.sock"}
	require.NoError(t, p.Up())
	t.Cleanup(p.Down)
	e := newEnv(t, envOpts{dockerURL: "unix://" + sock, cfg: func(c *sessions.Config) { c.PollInterval = 100 * time.Millisecond }})
	ctx := ctxT(t, time.Minute)
	require.NoError(t, e.svc.Reconciler().Health(ctx))

	p.Down()
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := e.svc.Reconciler().Health(hctx)
	cancel()
	require.Error(t, err)
	assert.ErrorIs(t, err, sessions.ErrRuntimeUnavailable)

	require.NoError(t, p.Up())
	require.Eventually(t, func() bool {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return e.svc.Reconciler().Health(hctx) == nil
	}, 30*time.Second, 100*time.Millisecond, "healthy again once Docker answers")
}

// flakyWorkspaces wraps the directory provider and fails snapshots while
// broken is set: a stand-in for a full or failing disk.
type flakyWorkspaces struct {
	sessions.WorkspaceProvider
	broken atomic.Bool
}

func (f *flakyWorkspaces) Snapshot(ctx context.Context, name, snap string) error {
	if f.broken.Load() {
		return errors.New("no space left on device")
	}
	return f.WorkspaceProvider.Snapshot(ctx, name, snap)
}

// Recovery that keeps failing (here: snapshots fail) turns health degraded
// after UnhealthyAfter passes, retried with backoff; once the cause heals,
// the stop completes and health is ok again.
func TestHealthDegradesWhileRecoveryFails(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true, cfg: func(c *sessions.Config) { c.PollInterval = 100 * time.Millisecond }})
	flaky := &flakyWorkspaces{WorkspaceProvider: e.ws}
	svc, err := sessions.New(e.cfg, e.st, mustDeclared(t, "0,1"), flaky, e.rt, nil)
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	ctx := ctxT(t, 2*time.Minute)
	require.NoError(t, svc.Start(ctx))
	uid := e.user(testdb.UserOpts{})
	s, err := svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err)
	e.svc = svc
	e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)

	flaky.broken.Store(true)
	_, err = svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return svc.Reconciler().Health(ctx) != nil }, 30*time.Second, 50*time.Millisecond,
		"degraded after repeated failures")
	err = svc.Reconciler().Health(ctx)
	assert.Contains(t, err.Error(), "no space left on device")
	got, err := svc.Get(ctx, s.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStopping, got.Status, "not stopped without its snapshot")

	flaky.broken.Store(false)
	e.waitStatus(s.ID, sessions.StatusStopped, 30*time.Second)
	require.Eventually(t, func() bool { return svc.Reconciler().Health(ctx) == nil }, 30*time.Second, 50*time.Millisecond)
}

func mustDeclared(t *testing.T, spec string) sessions.GPUProvider {
	t.Helper()
	d, err := gpu.ParseDeclared(spec)
	require.NoError(t, err)
	return d
}

// With the poll loop effectively off, a container that dies is noticed
// through Docker's event stream: its session is finalized within seconds.
func TestContainerExitNoticedWithoutPolling(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
	ctx := ctxT(t, 2*time.Minute)
	uid := e.user(testdb.UserOpts{})
	s := e.running(ctx, uid)
	cs := e.containers(ctx)
	require.Len(t, cs, 1)
	require.NoError(t, docker(t).ContainerKill(ctx, cs[0].ID, "KILL"))
	got := e.waitStatus(s.ID, sessions.StatusStopped, 30*time.Second) // the poll would take an hour
	assert.Equal(t, sessions.StopContainerLost, got.StopReason)
	assert.NotEmpty(t, got.Snapshot)
}
