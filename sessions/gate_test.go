package sessions_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/store/testdb"
)

// declaredWithFailingGate is the declared GPU list whose health gate fails
// GPU 0 once armed: a stand-in for NVML reporting, say, a row-remap failure
// (the NVML checks themselves are tested against go-nvml's mocks in
// sessions/gpu).
type declaredWithFailingGate struct {
	*gpu.Declared
	armed atomic.Bool
}

func (d *declaredWithFailingGate) Check(_ context.Context, g sessions.GPU) (sessions.Health, error) {
	if d.armed.Load() && g.Index == 0 {
		return sessions.Health{Unhealthy: true, Reason: "row remapping failed"}, nil
	}
	return sessions.Health{}, nil
}

// A GPU that fails the health gate when its session stops is disabled with
// the reason before anyone else can get it; the next session gets another
// GPU, and an admin can enable it again.
func TestHealthGateDisablesGPUOnRelease(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true, gpus: "0,1"})
	decl, err := gpu.ParseDeclared("0,1")
	require.NoError(t, err)
	gp := &declaredWithFailingGate{Declared: decl}
	e.svc = e.newService(gp)
	ctx := ctxT(t, 2*time.Minute)
	require.NoError(t, e.svc.Start(ctx))

	uid := e.user(testdb.UserOpts{})
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
	require.NoError(t, err)
	require.Equal(t, 0, s.GPUID)
	e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)
	gp.armed.Store(true)
	_, err = e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
	require.NoError(t, err)
	e.waitStatus(s.ID, sessions.StatusStopped, time.Minute)

	gpus, err := e.svc.GPUs(ctx)
	require.NoError(t, err)
	assert.False(t, gpus[0].Enabled)
	assert.Equal(t, "row remapping failed", gpus[0].DisabledReason)
	assert.True(t, gpus[1].Enabled)

	next, err := e.svc.AllocateOnly(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{}), Exposure: sessions.External})
	require.NoError(t, err)
	assert.Equal(t, 1, next.GPUID, "the unhealthy GPU is skipped")

	g, err := e.svc.SetGPUEnabled(ctx, 0, true, "")
	require.NoError(t, err)
	assert.True(t, g.Enabled)
	assert.Empty(t, g.DisabledReason)
	_, err = e.svc.SetGPUEnabled(ctx, 42, false, "")
	assert.ErrorIs(t, err, sessions.ErrGPUNotFound)
}
