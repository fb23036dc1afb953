package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/scorers"
)

func init() {
	register(command{
		name:  "score",
		usage: "score a submission CSV against a holdout: --competition SLUG --holdout FILE --submission FILE [--scorer FILE.wasm]",
		run:   runScore,
	})
}

// runScore is `medforge score`. Exit 0 with one JSON object on stdout; 2
// for an invalid submission (problems on stderr) or bad usage; 1 for any
// internal failure (unreadable holdout, rejected or failing module).
func runScore(ctx context.Context, args []string) error {
	a, sp, err := parseScoreArgs(args)
	if err != nil {
		return err
	}
	trace := newTrace()
	// Start the sandbox and load the module while the files are parsed.
	lc := make(chan loadedScorer, 1)
	go func() {
		lc <- loadScorer(ctx, a.scorer, sp.Metric, sandbox.Options{Workers: 1, Timeout: a.timeout, CacheDir: a.cacheDir}, trace)
	}()
	var l loadedScorer
	gotPool := false
	waitPool := func() loadedScorer {
		if !gotPool {
			l, gotPool = <-lc, true
		}
		return l
	}
	defer func() {
		if p := waitPool().pool; p != nil {
			p.Close()
		}
		trace("pool closed")
	}()

	h, err := holdout.ReadFile(sp, a.holdout)
	if err != nil {
		return err
	}
	trace("holdout read")
	data, err := readSubmission(a.submission)
	if err != nil {
		if ie, ok := engine.InvalidSubmission(err); ok {
			fmt.Fprint(os.Stderr, ie.Lines())
		}
		return withExit(2, err)
	}
	trace("submission read")
	// Validate while the sandbox may still be starting.
	v, err := engine.New(nil, submission.Limits{}).Validate(sp, h, data)
	if err != nil {
		if ie, ok := engine.InvalidSubmission(err); ok {
			fmt.Fprint(os.Stderr, ie.Lines())
			return withExit(2, fmt.Errorf("invalid submission %s", a.submission))
		}
		return err
	}
	trace("validated")
	if err := waitPool().err; err != nil {
		return err
	}
	trace("sandbox ready")
	res, err := engine.New(l.pool, submission.Limits{}).Run(ctx, v, l.mod)
	if err != nil {
		var ge *abi.GuestError
		if errors.As(err, &ge) && ge.Public {
			return withExit(2, fmt.Errorf("submission rejected by the scorer: %s", ge.Message))
		}
		return err
	}
	trace("scored")
	if os.Getenv("MEDFORGE_TRACE") == "1" {
		fmt.Fprintf(os.Stderr, "trace validate %.2f ms, metric %.2f ms\n", res.Timing.ValidateMS, res.Timing.MetricMS)
	}
	enc := json.NewEncoder(os.Stdout)
	return enc.Encode(res)
}

// scoreArgs are the flags of `medforge score`.
type scoreArgs struct {
	holdout, submission, scorer, cacheDir string
	timeout                               time.Duration
}

// parseScoreArgs parses the arguments of `medforge score` and looks up the
// built-in competition they name. Bad usage (an unknown flag or
// competition, a missing required flag, stray arguments) comes back as an
// exit-2 error.
func parseScoreArgs(args []string) (scoreArgs, spec.Spec, error) {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	slug := fs.String("competition", "", "built-in competition slug ("+fmt.Sprint(spec.Slugs())+")")
	holdoutPath := fs.String("holdout", "", "holdout file: label CSV or Arrow IPC (from `medforge holdout import`)")
	subPath := fs.String("submission", "", "submission CSV")
	scorerPath := fs.String("scorer", "", "scorer module (.wasm); default: the competition's built-in module")
	timeout := fs.Duration("timeout", 60*time.Second, "time limit of the scorer module")
	cacheDir := fs.String("cache-dir", "", "compiled-module cache (default: the user cache folder)")
	if err := fs.Parse(args); err != nil {
		return scoreArgs{}, spec.Spec{}, withExit(2, errors.New(""))
	}
	if *slug == "" || *holdoutPath == "" || *subPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return scoreArgs{}, spec.Spec{}, withExit(2, errors.New("--competition, --holdout and --submission are required"))
	}
	sp, ok := spec.Builtin(*slug)
	if !ok {
		return scoreArgs{}, spec.Spec{}, withExit(2, fmt.Errorf("unknown competition %q (built-in: %v)", *slug, spec.Slugs()))
	}
	return scoreArgs{holdout: *holdoutPath, submission: *subPath, scorer: *scorerPath, cacheDir: *cacheDir, timeout: *timeout}, sp, nil
}

// newTrace returns the phase timer of `medforge score`: with
// MEDFORGE_TRACE=1 it prints each phase's time since start on stderr (for
// benchmarks); otherwise it prints nothing.
func newTrace() func(what string) {
	t0 := time.Now()
	return func(what string) {
		if os.Getenv("MEDFORGE_TRACE") == "1" {
			fmt.Fprintf(os.Stderr, "trace %-16s %8.2f ms\n", what, float64(time.Since(t0).Microseconds())/1000)
		}
	}
}

// loadedScorer is a started sandbox with the scorer module loaded, or why
// not (pool is set whenever it started, so the caller closes it).
type loadedScorer struct {
	pool *sandbox.Pool
	mod  *sandbox.Module
	err  error
}

// loadScorer starts a sandbox with opts and loads the module at path, or
// the built-in module of metric when path is "".
func loadScorer(ctx context.Context, path, metric string, opts sandbox.Options, trace func(string)) (l loadedScorer) {
	l.err = func() error {
		if path == "" {
			p, err := scorers.Path(metric)
			if err != nil {
				return err
			}
			path = p
		}
		wasm, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read scorer: %w", err)
		}
		l.pool, err = sandbox.New(opts)
		if err != nil {
			return fmt.Errorf("start sandbox: %w", err)
		}
		l.mod, err = l.pool.Load(ctx, wasm)
		if err != nil {
			return fmt.Errorf("load scorer %s: %w", path, err)
		}
		trace("module loaded")
		return nil
	}()
	return l
}

// readSubmission reads the submission within the default size limit,
// without reading a file that is too large.
func readSubmission(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open submission: %w", err)
	}
	defer f.Close()
	data, err := strictcsv.ReadAll(f, submission.DefaultLimits.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("read submission: %w", err)
	}
	return data, nil
}
