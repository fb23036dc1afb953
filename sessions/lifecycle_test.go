package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// The whole lifecycle on the real engine: create -> starting -> running (the
// stand-in answers HTTP and websockets) -> stop (intent, 202 in the API) ->
// stopped with a read-only snapshot holding the workspace, the container
// gone and the GPU free again.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 2*time.Minute)
	uid := e.user(testdb.UserOpts{})

	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStarting, s.Status)
	assert.Len(t, s.Slug, 10)
	assert.Equal(t, "mf-session-"+s.Slug, s.ContainerName)

	s = e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)
	require.NotNil(t, s.StartedAt)
	cur, err := e.svc.Current(ctx, uid, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, s.ID, cur.ID)
	_, err = e.svc.Current(ctx, uid, sessions.Internal)
	assert.ErrorIs(t, err, sessions.ErrNotFound)

	// The container as the contract wants it.
	cs := e.containers(ctx)
	require.Len(t, cs, 1)
	info, err := docker(t).ContainerInspect(ctx, cs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "/mf-session-"+s.Slug, info.Name)
	assert.Equal(t, "1000:1000", info.Config.User)
	assert.True(t, *info.HostConfig.Init, "init process")
	assert.EqualValues(t, "no", info.HostConfig.RestartPolicy.Name)
	assert.Equal(t, []string{"ALL"}, []string(info.HostConfig.CapDrop))
	assert.Contains(t, info.HostConfig.SecurityOpt, "no-new-privileges:true")
	assert.EqualValues(t, 128<<20, info.HostConfig.Memory)
	assert.EqualValues(t, 500_000_000, info.HostConfig.NanoCPUs)
	require.NotNil(t, info.HostConfig.PidsLimit)
	assert.EqualValues(t, 128, *info.HostConfig.PidsLimit)
	assert.Equal(t, "medforge-external-sessions", string(info.HostConfig.NetworkMode))
	for k, v := range map[string]string{
		sessions.LabelManaged: "true", sessions.LabelInstance: e.instance, sessions.LabelSlug: s.Slug,
		sessions.LabelExposure: "external", sessions.LabelGPU: "0",
	} {
		assert.Equal(t, v, info.Config.Labels[k], "label %s", k)
	}
	mounts := map[string]bool{} // target -> read-write
	for _, m := range info.Mounts {
		mounts[m.Destination] = m.RW
		assert.NotContains(t, m.Source, "holdouts", "no mount of TEST_HOLDOUTS_DIR")
	}
	assert.Equal(t, map[string]bool{"/home/coder": true, "/data/training": false, "/data/public-eval": false}, mounts)

	// The IDE answers HTTP and echoes websockets.
	addr, err := e.rt.Address(ctx, cs[0].ID)
	require.NoError(t, err)
	resp, err := http.Get("http://" + addr + "/some/path")
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, "/some/path", body["path"])
	assert.Equal(t, "/home/coder", body["home"])
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/any/path", nil)
	require.NoError(t, err)
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("ping")))
	_, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "ping", string(msg))
	ws.Close()

	bySlug, err := e.svc.BySlug(ctx, s.Slug)
	require.NoError(t, err)
	assert.Equal(t, s.ID, bySlug.ID)
	up, err := e.svc.Upstream(ctx, s.Slug)
	require.NoError(t, err)
	assert.Equal(t, addr, up)
	require.NoError(t, e.svc.Touch(ctx, s.ID))

	// The workspace is the session's own folder, owned by the IDE's user.
	wsDir := filepath.Join(e.ws.Root(), itoa(uid), itoa(s.ID))
	st, err := os.Stat(wsDir)
	require.NoError(t, err)
	assert.EqualValues(t, 1000, owner(st))
	require.NoError(t, os.WriteFile(filepath.Join(wsDir, "notebook.py"), []byte("print(1)\n"), 0o644))

	// GPU 0 is held by this session.
	gpus, err := e.svc.GPUs(ctx)
	require.NoError(t, err)
	require.Len(t, gpus, 4)
	require.NotNil(t, gpus[0].Holder)
	assert.Equal(t, s.ID, gpus[0].Holder.SessionID)
	assert.Equal(t, "declared", gpus[0].Provider)

	// Stop records intent; recovery finalizes.
	stopped, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	assert.Contains(t, []sessions.Status{sessions.StatusStopping, sessions.StatusStopped}, stopped.Status)
	s = e.waitStatus(s.ID, sessions.StatusStopped, time.Minute)
	assert.Equal(t, sessions.StopUser, s.StopReason)
	require.True(t, strings.HasPrefix(s.Snapshot, wsDir+"@stop-"), s.Snapshot)
	data, err := os.ReadFile(filepath.Join(s.Snapshot, "notebook.py"))
	require.NoError(t, err)
	assert.Equal(t, "print(1)\n", string(data))
	fi, err := os.Stat(filepath.Join(s.Snapshot, "notebook.py"))
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&0o222, "snapshot files are read-only")
	assert.Empty(t, e.containers(ctx), "container removed")

	// Stop is idempotent; the GPU is free; history lists the snapshot.
	again, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStopped, again.Status)
	assert.Equal(t, s.Snapshot, again.Snapshot)
	gpus, err = e.svc.GPUs(ctx)
	require.NoError(t, err)
	assert.Nil(t, gpus[0].Holder)
	past, err := e.svc.List(ctx, uid, 0, 10)
	require.NoError(t, err)
	require.Len(t, past, 1)
	assert.Equal(t, s.Snapshot, past[0].Snapshot)
	snaps, err := e.ws.Snapshots(ctx, wsDir)
	require.NoError(t, err)
	assert.Len(t, snaps, 1)

	// Someone else's session is not found, for reading and for stopping.
	other := e.user(testdb.UserOpts{})
	_, err = e.svc.Stop(ctx, s.ID, other, sessions.StopUser)
	assert.ErrorIs(t, err, sessions.ErrNotFound)
}

// 20 users create at once with 4 declared GPUs: exactly 4 sessions get a
// GPU, each a different one, and all 4 run; the others are refused with
// ErrNoGPU. The unique index stays the backstop even if allocation were
// wrong, and the test checks the rows directly too.
func TestConcurrentCreatesExclusiveGPUs(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0,1,2,3"})
	ctx := ctxT(t, 3*time.Minute)
	const n = 20
	users := make([]int64, n)
	for i := range users {
		users[i] = e.user(testdb.UserOpts{})
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		got   []sessions.Session
		noGPU int
		other []error
	)
	start := make(chan struct{})
	for _, uid := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				got = append(got, s)
			case errors.Is(err, sessions.ErrNoGPU):
				noGPU++
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, other)
	require.Len(t, got, 4)
	assert.Equal(t, n-4, noGPU)
	seen := map[int]bool{}
	for _, s := range got {
		assert.False(t, seen[s.GPUID], "GPU %d given twice", s.GPUID)
		seen[s.GPUID] = true
	}
	for _, s := range got {
		e.waitStatus(s.ID, sessions.StatusRunning, 2*time.Minute)
	}
	var running, distinct int
	require.NoError(t, e.st.DB().QueryRowContext(ctx,
		"SELECT COUNT(*), COUNT(DISTINCT gpu_id) FROM sessions WHERE status = 'running'").Scan(&running, &distinct))
	assert.Equal(t, 4, running)
	assert.Equal(t, 4, distinct)
	assert.Len(t, e.containers(ctx), 4)

	// The index itself refuses a second active row on a held GPU.
	_, err := e.st.DB().ExecContext(ctx,
		"INSERT INTO sessions (slug, user_id, exposure, pack, image, gpu_id, status) VALUES ('dup', ?, 'external', 'default', 'x', ?, 'starting')",
		users[0], got[0].GPUID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Duplicate")
}

func TestCreateRefusals(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0,1,2,3"})
	tests := []struct {
		name    string
		user    testdb.UserOpts
		creates []sessions.CreateRequest // all but the last must succeed
		want    error
	}{
		{name: "limit 1", user: testdb.UserOpts{MaxConcurrentSessions: 1},
			creates: []sessions.CreateRequest{{Exposure: sessions.External}, {Exposure: sessions.External}}, want: sessions.ErrLimit},
		{name: "limit 2 counts both exposures", user: testdb.UserOpts{MaxConcurrentSessions: 2, CanUseInternal: true},
			creates: []sessions.CreateRequest{{Exposure: sessions.External}, {Exposure: sessions.Internal}, {Exposure: sessions.External}}, want: sessions.ErrLimit},
		{name: "internal needs entitlement", user: testdb.UserOpts{},
			creates: []sessions.CreateRequest{{Exposure: sessions.Internal}}, want: sessions.ErrInternalNotAllowed},
		{name: "pack not on the allowlist", user: testdb.UserOpts{},
			creates: []sessions.CreateRequest{{Exposure: sessions.External, Pack: "bitcoin-miner"}}, want: sessions.ErrUnknownPack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t, time.Minute)
			uid := e.user(tc.user)
			for i, r := range tc.creates {
				r.UserID = uid
				s, err := e.svc.Create(ctx, r)
				if i < len(tc.creates)-1 {
					require.NoError(t, err)
					t.Cleanup(func() { _, _ = e.svc.Stop(context.Background(), s.ID, 0, sessions.StopAdmin) })
					continue
				}
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// The per-user limit holds under concurrency: one user racing 6 creates
// with a limit of 2 gets exactly 2.
func TestPerUserLimitConcurrent(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0,1,2,3,4,5"})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{MaxConcurrentSessions: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, limited := 0, 0
	var created []int64
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				created = append(created, s.ID)
			} else if errors.Is(err, sessions.ErrLimit) {
				limited++
			} else {
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 2, ok)
	assert.Equal(t, 4, limited)
	for _, id := range created {
		e.waitStatus(id, sessions.StatusRunning, time.Minute)
	}
}

// A start that fails (an image that does not exist here) becomes error with
// a client-safe reason, leaves no container and frees the GPU.
func TestFailedStartFreesGPU(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0", cfg: func(c *sessions.Config) {
		c.Packs["missing"] = "medforge/no-such-image:never"
	}})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{MaxConcurrentSessions: 2})
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, Pack: "missing"})
	require.NoError(t, err)
	s = e.waitStatus(s.ID, sessions.StatusError, 30*time.Second)
	assert.Equal(t, "the session container failed to start", s.ErrorReason)
	assert.Empty(t, e.containers(ctx))
	s2, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err, "the GPU is free again")
	assert.Equal(t, 0, s2.GPUID)
}

// A stop requested while the session is still starting ends in stopped,
// with no container left behind and the GPU free.
func TestStopWhileStarting(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0"})
	ctx := ctxT(t, time.Minute)
	uid := e.user(testdb.UserOpts{})
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err)
	got, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStopping, got.Status)
	e.waitStatus(s.ID, sessions.StatusStopped, 30*time.Second)
	require.Eventually(t, func() bool { return len(e.containers(ctx)) == 0 }, 10*time.Second, 100*time.Millisecond)
	_, err = e.svc.AllocateOnly(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{}), Exposure: sessions.External})
	require.NoError(t, err, "GPU 0 is free again")
}

// Change events: each committed transition is published once, in order.
func TestChangeEvents(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0"})
	ctx := ctxT(t, time.Minute)
	var mu sync.Mutex
	var got []sessions.Status
	e.svc.OnChange(func(c sessions.Change) {
		mu.Lock()
		got = append(got, c.Status)
		mu.Unlock()
	})
	uid := e.user(testdb.UserOpts{})
	s := e.running(ctx, uid)
	_, err := e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	_, err = e.svc.Stop(ctx, s.ID, uid, sessions.StopUser) // no second event
	require.NoError(t, err)
	e.waitStatus(s.ID, sessions.StatusStopped, time.Minute)
	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []sessions.Status{sessions.StatusRunning, sessions.StatusStopping, sessions.StatusStopped}, got)
}
