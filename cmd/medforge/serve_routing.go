package main

import (
	"context"
	"time"

	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
)

// startRouting mounts the session-proxy endpoint (Caddy's forward_auth
// target) over an in-memory route table that svc's change events and a
// periodic resync keep exact, and writes routed sessions' activity in
// batches until shutdown. The sessions serve hook calls it once svc runs.
func startRouting(ctx context.Context, env *serveEnv, svc *sessions.Service) error {
	opt := routing.Options{Store: env.Store, Resolver: svc, Logger: env.Logger,
		ResyncEvery: env.Config.RoutingResync, FlushEvery: env.Config.RoutingActivityFlush}
	t, err := routing.NewTable(opt)
	if err != nil {
		return err
	}
	if err := t.RegisterMetrics(env.Server.Metrics()); err != nil {
		return err
	}
	svc.OnChange(t.Apply) // before the first resync: no change falls between
	svc.OnExit(t.Forget)  // a dead container's address may go to another at once
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = t.Resync(rctx)
	cancel()
	if err != nil {
		env.Logger.Warn("routing table: first resync incomplete; it is retried", "err", err.Error())
	}
	t.Mount(env.Server)
	env.Go("routing-table", func(ctx context.Context) error { t.Run(ctx); return nil })
	return nil
}
