package sessions_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/db"
	"github.com/medforge/medforge/store/testdb"
)

// fakeNVMLGPUs stands in for NVML on this GPU-less host: two GPUs with
// UUIDs that containers get by device request.
type fakeNVMLGPUs struct{}

func (fakeNVMLGPUs) Kind() string { return "nvml" }
func (fakeNVMLGPUs) Attach() bool { return true }
func (fakeNVMLGPUs) Devices(context.Context) ([]sessions.GPU, error) {
	return []sessions.GPU{{Index: 0, UUID: "GPU-aaaa", Name: "fake H100"}, {Index: 1, UUID: "GPU-bbbb", Name: "fake H100"}}, nil
}
func (fakeNVMLGPUs) Check(context.Context, sessions.GPU) (sessions.Health, error) {
	return sessions.Health{}, nil
}

// The container spec of a session: its exposure's network, the IDE user,
// its workspace read-write at the IDE's home, the data roots read-only, the
// GPU by UUID when the provider attaches devices (and none for a declared
// list), labels for reconciliation, limits from the configuration.
func TestContainerSpec(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true})
	ctx := ctxT(t, 30*time.Second)
	nv := e.newService(fakeNVMLGPUs{})
	require.NoError(t, nv.SyncGPUs(ctx))
	ws := sessions.Workspace{Name: "/ws/7/9", HostPath: "/ws/7/9"}
	tests := []struct {
		name     string
		svc      *sessions.Service
		row      db.Session
		network  string
		gpuUUID  string
		provider string
	}{
		{name: "external on NVML", svc: nv, row: db.Session{ID: 9, Slug: "abc", UserID: 7, Exposure: "external", GpuID: 1, Image: "img"},
			network: "medforge-external-sessions", gpuUUID: "GPU-bbbb", provider: "nvml"},
		{name: "internal on a declared list", svc: e.svc, row: db.Session{ID: 9, Slug: "abc", UserID: 7, Exposure: "internal", GpuID: 1, Image: "img"},
			network: "medforge-internal-sessions", provider: "declared"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.svc.Spec(tc.row, ws)
			assert.Equal(t, "mf-session-abc", spec.Name)
			assert.Equal(t, tc.network, spec.Network)
			assert.Equal(t, tc.gpuUUID, spec.GPUUUID)
			assert.Equal(t, "1000:1000", spec.User)
			assert.Equal(t, []sessions.Mount{
				{Source: "/ws/7/9", Target: "/home/coder"},
				{Source: e.cfg.TrainingDataRoot, Target: "/data/training", ReadOnly: true},
				{Source: e.cfg.PublicEvalDataRoot, Target: "/data/public-eval", ReadOnly: true},
			}, spec.Mounts)
			assert.Contains(t, spec.Env, "MEDFORGE_GPU_PROVIDER="+tc.provider)
			assert.Equal(t, map[string]string{
				sessions.LabelManaged: "true", sessions.LabelInstance: e.instance, sessions.LabelSession: "9",
				sessions.LabelSlug: "abc", sessions.LabelUser: "7", sessions.LabelExposure: string(tc.row.Exposure), sessions.LabelGPU: "1",
			}, spec.Labels)
			assert.EqualValues(t, 128, spec.PidsLimit)
			require.NoError(t, spec.Validate(e.cfg.TestHoldoutsDir))
		})
	}
}

// swappableGPUs is a fake NVML inventory whose GPU 1 can be replaced by
// another device (another UUID), as after a hardware swap.
type swappableGPUs struct {
	fakeNVMLGPUs
	uuid1 string
}

func (g *swappableGPUs) Devices(context.Context) ([]sessions.GPU, error) {
	return []sessions.GPU{{Index: 0, UUID: "GPU-aaaa"}, {Index: 1, UUID: g.uuid1}}, nil
}

// A sync keeps a disabled GPU disabled, marks GPUs that disappeared as not
// present (and never allocates them), and enables a replaced device.
func TestSyncGPUs(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true})
	ctx := ctxT(t, 30*time.Second)
	inv := &swappableGPUs{uuid1: "GPU-bbbb"}
	svc := e.newService(inv)
	require.NoError(t, svc.SyncGPUs(ctx))
	_, err := svc.SetGPUEnabled(ctx, 1, false, "row remapping failed")
	require.NoError(t, err)
	require.NoError(t, svc.SyncGPUs(ctx))
	gpus, err := svc.GPUs(ctx)
	require.NoError(t, err)
	assert.False(t, gpus[1].Enabled, "a disabled GPU stays disabled across syncs")

	inv.uuid1 = "GPU-cccc"
	require.NoError(t, svc.SyncGPUs(ctx))
	gpus, err = svc.GPUs(ctx)
	require.NoError(t, err)
	assert.True(t, gpus[1].Enabled, "new hardware at the index starts enabled")
	assert.Empty(t, gpus[1].DisabledReason)
	assert.Equal(t, "GPU-cccc", gpus[1].UUID)

	// The declared list shrinks to GPU 0: GPU 1 is kept but not present.
	decl := e.newService(mustDeclared(t, "0"))
	require.NoError(t, decl.SyncGPUs(ctx))
	gpus, err = decl.GPUs(ctx)
	require.NoError(t, err)
	require.Len(t, gpus, 2)
	assert.True(t, gpus[0].Present)
	assert.False(t, gpus[1].Present)
	uid := e.user(testdb.UserOpts{MaxConcurrentSessions: 3})
	_, err = decl.AllocateOnly(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err)
	_, err = decl.AllocateOnly(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	assert.ErrorIs(t, err, sessions.ErrNoGPU, "an absent GPU is never allocated")
}
