package sessions_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/store/testdb"
)

// mockBusyGPUs is the declared GPU list (containers get no device) with
// utilisation sampled through the NVML provider from go-nvml's mock DGX
// A100: GPU i is busy while busy[i] is set.
type mockBusyGPUs struct {
	sessions.GPUProvider
	n *gpu.NVML
}

func (m mockBusyGPUs) Utilization(ctx context.Context, g sessions.GPU) (int, error) {
	return m.n.Utilization(ctx, sessions.GPU{Index: g.Index})
}

func newMockBusyGPUs(t *testing.T, busy []*atomic.Bool) mockBusyGPUs {
	t.Helper()
	srv := dgxa100.New()
	for i, d := range srv.Devices {
		md := d.(*server.Device)
		md.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
		md.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			if i < len(busy) && busy[i].Load() {
				return nvml.Utilization{Gpu: 95}, nvml.SUCCESS
			}
			return nvml.Utilization{Gpu: 2}, nvml.SUCCESS
		}
	}
	n, err := gpu.NewNVML(srv, nil)
	require.NoError(t, err)
	decl, err := gpu.ParseDeclared("0,1,2,3")
	require.NoError(t, err)
	return mockBusyGPUs{GPUProvider: decl, n: n}
}

// GPU-aware culling on the real Docker engine: with no routed traffic at
// all, the session whose (mock) GPU is busy keeps running past the idle
// timeout, the one whose GPU is idle is culled; once the busy GPU goes
// quiet, that session is culled too. Sessions show their deadlines and a
// warning, and can be extended once.
func TestCullingKeepsBusyGPU(t *testing.T) {
	busy := []*atomic.Bool{{}, {}, {}, {}}
	e := newEnv(t, envOpts{noStart: true, cfg: func(c *sessions.Config) {
		c.IdleTimeout = 3 * time.Second
		c.WarnBefore = time.Hour
		c.MaxExtension = 2 * time.Second
	}})
	svc := e.newService(newMockBusyGPUs(t, busy))
	e.svc = svc
	ctx := ctxT(t, 3*time.Minute)
	require.NoError(t, svc.Start(ctx))
	a, b, c := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	sa := e.running(ctx, a)
	sb := e.running(ctx, b)
	busy[sa.GPUID].Store(true)
	require.NotNil(t, sb.Idle, "a running session shows its idle deadline")
	assert.Nil(t, sb.Lifetime)
	assert.Contains(t, sb.Warning, "idle")
	assert.True(t, sb.CanExtend)

	stoppedB := e.waitStatus(sb.ID, sessions.StatusStopped, 30*time.Second)
	assert.Equal(t, sessions.StopIdle, stoppedB.StopReason)
	got, err := svc.Get(ctx, sa.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusRunning, got.Status, "a busy GPU is not idle")
	require.NotNil(t, got.Idle)
	assert.True(t, got.Idle.After(time.Now()), "GPU work pushes the idle deadline")

	// Extend once, within the admins' limit.
	sc := e.running(ctx, c)
	ext, err := svc.Extend(ctx, sc.ID, c, time.Hour)
	require.NoError(t, err)
	require.NotNil(t, ext.ExtendedAt)
	assert.False(t, ext.CanExtend)
	assert.WithinDuration(t, ext.ExtendedAt.Add(5*time.Second), *ext.Idle, time.Second, "idle timeout + the capped 2 s extension")
	_, err = svc.Extend(ctx, sc.ID, c, 0)
	assert.ErrorIs(t, err, sessions.ErrExtend, "only once")
	_, err = svc.Extend(ctx, sc.ID, a, 0)
	assert.ErrorIs(t, err, sessions.ErrNotFound, "only the owner")

	busy[sa.GPUID].Store(false)
	stoppedA := e.waitStatus(sa.ID, sessions.StatusStopped, 30*time.Second)
	assert.Equal(t, sessions.StopIdle, stoppedA.StopReason)
	e.waitStatus(sc.ID, sessions.StatusStopped, 30*time.Second)
}
