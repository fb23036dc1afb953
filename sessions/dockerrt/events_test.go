package dockerrt_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
)

// WatchExits reports a killed container of the watched instance, and not
// one of another instance.
func TestWatchExits(t *testing.T) {
	ctx := ctxT(t)
	d, image := engineWithStandin(t, ctx)
	instance := "rt-ev-" + rnd()
	got := make(chan struct{}, 4)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- d.WatchExits(wctx, map[string]string{sessions.LabelInstance: instance}, func(string) { got <- struct{}{} })
	}()
	time.Sleep(300 * time.Millisecond) // subscribed
	start := func(inst string) string {
		id, err := d.Start(ctx, sessions.ContainerSpec{Name: "mf-session-ev" + rnd(), Image: image, Network: dockerrt.ExternalNetwork,
			Labels: map[string]string{sessions.LabelManaged: "true", sessions.LabelInstance: inst}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = d.Remove(context.Background(), id) })
		return id
	}
	other := start("rt-ev-other-" + rnd())
	require.NoError(t, d.Remove(ctx, other))
	mine := start(instance)
	require.NoError(t, d.Remove(ctx, mine))
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit event for the watched instance")
	}
	cancel()
	require.NoError(t, <-done)
}
