package main

import (
	"context"
	"net/http"
	_ "net/http/pprof" // served only on MEDFORGE_COMPETITIONS_PPROF_ADDR

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/httpcomp"
)

func init() {
	onServe("competitions", func(ctx context.Context, env *serveEnv) error {
		if addr := env.Config.CompetitionsPprofAddr; addr != "" {
			// Profiling for benchmarks; never set in production.
			go func() { _ = http.ListenAndServe(addr, nil) }()
		}
		rt, err := newCompetitions(env.Config, env.Store, env.Logger, true)
		if err != nil {
			return err
		}
		var w *competitions.Worker
		if env.Config.EmbeddedWorker {
			rep := env.Health.Reporter("scoring_worker", 0)
			opts := rt.workerOptions()
			opts.Health = rep.Report
			w = rt.svc.NewWorker(opts)
			rep.OK()
			env.Go("scoring-worker", func(ctx context.Context) error {
				defer rt.Close()
				return w.Run(ctx)
			})
		} else {
			env.Go("scoring-sandbox", func(ctx context.Context) error { <-ctx.Done(); rt.Close(); return nil })
		}
		return httpcomp.Mount(env.Server, rt.svc, w)
	})
}
