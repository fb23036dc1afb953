package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/httpcomp"
)

func init() {
	onServe("competitions", func(ctx context.Context, env *serveEnv) error {
		rt, err := newCompetitions(env.Config, env.Store, env.Logger)
		if err != nil {
			return err
		}
		embedded := true
		if v := os.Getenv(envEmbeddedWorker); v != "" {
			if embedded, err = strconv.ParseBool(v); err != nil {
				rt.Close()
				return fmt.Errorf("%s=%q: must be true or false", envEmbeddedWorker, v)
			}
		}
		var w *competitions.Worker
		if embedded {
			rep := env.Health.Reporter("scoring_worker", 0)
			w = rt.svc.NewWorker(competitions.WorkerOptions{Concurrency: rt.workers, Poll: rt.poll, Health: rep.Report})
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
