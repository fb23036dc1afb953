package sessions_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
)

// switchableChecker stands in for a runtime's isolation proof (the Docker
// probe is exercised against a real host firewall by make test-stack).
type switchableChecker struct {
	broken atomic.Bool
	calls  atomic.Int32
}

func (c *switchableChecker) Method() string { return "test checker" }

func (c *switchableChecker) CheckIsolation(context.Context) error {
	c.calls.Add(1)
	if c.broken.Load() {
		return errors.New("a session container reached another session container's :8080")
	}
	return nil
}

// TestIsolationGatesCreate: while the last verdict says the east-west rule
// is not in force, Create refuses with ErrIsolation and the reason, before
// anything is allocated (the store is nil here: touching it would panic);
// health says degraded; a passing check restores service.
func TestIsolationGatesCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, err := sessions.New(sessions.Config{Packs: map[string]string{"default": "x"}}, nil, nil, nil, nil, nil)
	require.NoError(t, err)
	chk := &switchableChecker{}
	iso := sessions.NewIsolation(chk)
	svc.SetIsolation(iso, 0)

	// Before the first check nothing is known: fail closed.
	_, err = svc.Create(ctx, sessions.CreateRequest{UserID: 1, Exposure: sessions.External})
	require.ErrorIs(t, err, sessions.ErrIsolation)
	assert.Contains(t, err.Error(), "not checked yet")

	chk.broken.Store(true)
	require.Error(t, iso.Refresh(ctx))
	_, err = svc.Create(ctx, sessions.CreateRequest{UserID: 1, Exposure: sessions.External})
	require.ErrorIs(t, err, sessions.ErrIsolation)
	assert.Contains(t, err.Error(), "reached another session")
	assert.Contains(t, err.Error(), "test checker")
	require.Error(t, iso.Health(ctx))

	chk.broken.Store(false)
	require.NoError(t, iso.Refresh(ctx))
	require.NoError(t, iso.Health(ctx))
	require.NoError(t, iso.Err())

	// A check cut short by shutdown keeps the last verdict.
	chk.broken.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, iso.Refresh(cctx))
	require.NoError(t, iso.Err(), "a cancelled check must not flip the verdict")
}

// TestIsolationOff: a nil checker (MEDFORGE_ISOLATION_CHECK=off) never refuses.
func TestIsolationOff(t *testing.T) {
	t.Parallel()
	iso := sessions.NewIsolation(nil)
	require.NoError(t, iso.Refresh(context.Background()))
	require.NoError(t, iso.Err())
	var none *sessions.Isolation
	require.NoError(t, none.Err())
}
