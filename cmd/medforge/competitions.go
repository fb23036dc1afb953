package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/store"
)

// Environment of the competitions capability (see docs/competitions.md).
const (
	envScoringWorkers = "MEDFORGE_SCORING_WORKERS" // sandbox worker processes (default 2)
	envEmbeddedWorker = "MEDFORGE_EMBEDDED_WORKER" // serve runs a scoring worker (default true)
	envScoringTimeout = "MEDFORGE_SCORING_TIMEOUT" // one scoring's time limit (default 60s)
	envWorkerPoll     = "MEDFORGE_WORKER_POLL"     // idle poll interval across processes (default 250ms)
	envWorkerLease    = "MEDFORGE_WORKER_LEASE"    // a claim's lease, renewed every third of it (default 30s)
)

func envInt(key string, def, min int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return 0, fmt.Errorf("%s=%q: must be a whole number >= %d", key, v, min)
	}
	return n, nil
}

func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: must be a positive duration such as 250ms or 60s", key, v)
	}
	return d, nil
}

// compRuntime is the competitions service with its sandbox pool.
type compRuntime struct {
	svc     *competitions.Service
	pool    *sandbox.Pool
	workers int
	poll    time.Duration
	lease   time.Duration
}

// workerOptions are the options of this process's scoring worker: twice
// the sandbox workers as loops, so one loop's database round trips overlap
// another's scoring.
func (r *compRuntime) workerOptions() competitions.WorkerOptions {
	return competitions.WorkerOptions{Concurrency: 2 * r.workers, Poll: r.poll, Lease: r.lease}
}

func (r *compRuntime) Close() { r.pool.Close() }

// newCompetitions builds the competitions service of this process.
func newCompetitions(cfg config.Config, st store.Store, log *slog.Logger) (*compRuntime, error) {
	roots, err := competitions.RootsFromEnv(nil, cfg.RunDir)
	if err != nil {
		return nil, withExit(2, err)
	}
	workers, err := envInt(envScoringWorkers, 2, 1)
	if err != nil {
		return nil, withExit(2, err)
	}
	timeout, err := envDuration(envScoringTimeout, 60*time.Second)
	if err != nil {
		return nil, withExit(2, err)
	}
	poll, err := envDuration(envWorkerPoll, 250*time.Millisecond)
	if err != nil {
		return nil, withExit(2, err)
	}
	lease, err := envDuration(envWorkerLease, 30*time.Second)
	if err != nil {
		return nil, withExit(2, err)
	}
	pool, err := sandbox.New(sandbox.Options{Workers: workers, Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("scoring sandbox: %w", err)
	}
	svc, err := competitions.New(competitions.Deps{Store: st, Engine: scoring.New(pool, submission.Limits{}), Roots: roots, Logger: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &compRuntime{svc: svc, pool: pool, workers: workers, poll: poll, lease: lease}, nil
}

// builtinScorersDir is where the built-in scorer modules are.
func builtinScorersDir() string {
	d, err := scorers.Dir()
	if err != nil {
		return ""
	}
	return d
}
