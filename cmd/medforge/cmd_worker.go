package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
)

func init() {
	register(command{
		name:  "worker",
		usage: "score queued submissions until SIGINT/SIGTERM (serve embeds one unless MEDFORGE_EMBEDDED_WORKER=false)",
		run:   runWorker,
	})
}

func runWorker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cfg, rest, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return withExit(2, fmt.Errorf("unexpected arguments %q", rest))
	}
	log := newLogger(cfg)
	slog.SetDefault(log)
	st, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	rt, err := newCompetitions(cfg, st, log, false)
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := rt.workerOptions()
	w := rt.svc.NewWorker(opts)
	log.Info("scoring worker started", "concurrency", opts.Concurrency, "poll", opts.Poll.String(), "lease", opts.Lease.String())
	return w.Run(ctx)
}
