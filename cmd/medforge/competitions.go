package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/scoring"
	"github.com/medforge/medforge/config"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/store"
)

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

func (r *compRuntime) Close() {
	if r.pool != nil {
		r.pool.Close()
	}
}

// newCompetitions builds the competitions service of this process. The
// API server passes sandboxJobs: it then never runs an uploaded module
// itself (scorer validation, certification reports and an admin's "score
// now" are sandbox jobs or queue entries for a scoring worker: the worker
// service, or its embedded worker). An API server whose embedded worker is
// off (MEDFORGE_EMBEDDED_WORKER=false, as in Compose) starts no sandbox
// pool at all: no sandbox worker process runs beside the process that
// holds the Docker socket, and a path that would still reach the engine's
// sandbox fails ("no sandbox pool") instead of running a module there.
func newCompetitions(cfg config.Config, st store.Store, log *slog.Logger, sandboxJobs bool) (*compRuntime, error) {
	var pool *sandbox.Pool
	if !sandboxJobs || cfg.EmbeddedWorker {
		var err error
		pool, err = sandbox.New(sandbox.Options{Workers: cfg.ScoringWorkers, Timeout: cfg.ScoringTimeout, MemoryLimitBytes: cfg.ScoringMemory})
		if err != nil {
			return nil, fmt.Errorf("scoring sandbox: %w", err)
		}
	}
	svc, err := competitions.New(competitions.Deps{Store: st, Engine: scoring.New(pool, submission.Limits{MaxBytes: int64(cfg.BodyLimit)}), Roots: competitionRoots(cfg), Logger: log, MaxSubmissionBytes: cfg.BodyLimit,
		BuiltinScorers: builtinScorersDir(cfg), MaxAuthorDailyCap: cfg.AuthorMaxDailyCap,
		Limits:      competitions.ScoringLimits{Timeout: cfg.ScoringTimeout, MemoryBytes: cfg.ScoringMemory},
		SandboxJobs: sandboxJobs, SandboxJobWait: jobWait(cfg.SandboxJobWait)})
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, err
	}
	return &compRuntime{svc: svc, pool: pool, workers: cfg.ScoringWorkers, poll: cfg.WorkerPoll, lease: cfg.WorkerLease}, nil
}

// jobWait maps MEDFORGE_SANDBOX_JOB_WAIT to Deps.SandboxJobWait, where 0
// means the default and a negative wait none.
func jobWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// competitionRoots are the data roots and stores configured by cfg.
// config.Load has already checked MEDFORGE_DATA_OWNER's form.
func competitionRoots(cfg config.Config) competitions.Roots {
	owner, _ := competitions.ParseFileOwner(cfg.DataOwner)
	return competitions.Roots{
		TrainingData: cfg.TrainingDataRoot, PublicEval: cfg.PublicEvalDataRoot, Holdouts: cfg.TestHoldoutsDir,
		Submissions: cfg.SubmissionsDir, Scorers: cfg.ScorerStoreDir, Owner: owner,
	}
}

// builtinScorersDir is where the built-in scorer modules are:
// MEDFORGE_SCORERS_DIR, else scorers/ next to the executable.
func builtinScorersDir(cfg config.Config) string {
	if cfg.ScorersDir != "" {
		return cfg.ScorersDir
	}
	d, err := scorers.Dir()
	if err != nil {
		return ""
	}
	return d
}
