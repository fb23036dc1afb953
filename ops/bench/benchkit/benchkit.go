// Package benchkit holds what the Go benchmark programs under ops/bench
// share: a fresh database, running the medforge binary, waiting for a
// served API, a titanic-size bench bundle, percentiles and the machine's
// load. It is not part of the product.
package benchkit

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/store"
)

// FreshDB drops the database of dsn, creates it again, migrates it and
// returns its pool and store.
func FreshDB(ctx context.Context, dsn string) (*sql.DB, store.Store, error) {
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		return nil, nil, err
	}
	pool, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := store.ParseDSN(dsn)
	_, err = pool.ExecContext(ctx, "DROP DATABASE "+store.QuoteIdent(cfg.DBName))
	pool.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reset: %w", err)
	}
	if err := store.EnsureDatabase(ctx, dsn); err != nil {
		return nil, nil, err
	}
	if pool, err = store.Open(ctx, dsn); err != nil {
		return nil, nil, err
	}
	if _, err := store.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pool, store.New(pool), nil
}

// Run runs name with args in env, returning its output in the error.
func Run(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", name, args, err, out)
	}
	return nil
}

// WaitHealthy waits up to 30 s for base's /healthz (base ends in /api/v2)
// to answer 200.
func WaitHealthy(base string) error {
	for range 300 {
		resp, err := http.Get(strings.TrimSuffix(base, "/api/v2") + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become healthy", base)
}

// TitanicBundle generates a titanic-size (418 rows) synthetic competition
// and writes it to dir as a bundle: slug, the accuracy metric, the built-in
// module scorer.wasm (from MEDFORGE_SCORERS_DIR) and extra manifest fields
// (such as `"daily_cap": 20`), which must include the daily cap. It
// returns the generated files (the sample submission, ...).
func TitanicBundle(dir, slug, scorer, extra string) (*synth.Files, error) {
	f, err := synth.Generate("titanic-survival", 1, 418)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(filepath.Join(os.Getenv("MEDFORGE_SCORERS_DIR"), scorer+".wasm"))
	if err != nil {
		return nil, fmt.Errorf("scorer: %w", err)
	}
	for _, d := range []string{"public", "training"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	manifest := fmt.Sprintf(`{"slug": %q, "title": "Bench", "description": "benchmark", "metric": "accuracy",
  "direction": "maximize", "id_column": "PassengerId",
  "columns": [{"name": "Survived", "type": "int", "min": 0, "max": 1}], %s}`, slug, extra)
	for name, data := range map[string][]byte{"competition.json": []byte(manifest), "holdout.csv": f.Holdout,
		"public/sample_submission.csv": f.SampleSubmission, "training/train.csv": f.Train, "scorer.wasm": wasm} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// StartServe starts `bin serve` with env, its output in logPath.
func StartServe(bin string, env []string, logPath string) (*exec.Cmd, error) {
	srv := exec.Command(bin, "serve")
	srv.Env = env
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	serving = srv
	return srv, nil
}

// serving is the server StartServe started last, which Die stops.
var serving *exec.Cmd

// Die prints the message, prefixed with the program's name, to stderr,
// stops the server StartServe started (so no serve outlives a failed
// bench) and exits 1.
func Die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, filepath.Base(os.Args[0])+": "+format+"\n", a...)
	if serving != nil && serving.Process != nil {
		serving.Process.Signal(os.Interrupt)
		serving.Wait()
	}
	os.Exit(1)
}

// Must dies on err.
func Must(err error) {
	if err != nil {
		Die("%v", err)
	}
}

// ServeEnv is the environment of a bench's medforge commands: this
// process's own, then the bench database, the listen port on 127.0.0.1, a
// run directory under work, and extra.
func ServeEnv(dsn string, port int, work string, extra ...string) []string {
	env := append(os.Environ(), "MEDFORGE_DSN="+dsn, fmt.Sprintf("MEDFORGE_LISTEN=127.0.0.1:%d", port),
		"MEDFORGE_RUN_DIR="+filepath.Join(work, "run"))
	return append(env, extra...)
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Pct is the p-quantile of sorted xs (0 when empty).
func Pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	return xs[int(p*float64(len(xs)-1))]
}

// LoadAvg is the 1, 5 and 15 minute load average ("?" when unknown).
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// NumCPU is the machine's processor count from /proc/cpuinfo (at least 1).
func NumCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(b), "processor\t:"))
}

// RSS is the resident set of process pid in bytes (0 if unreadable).
func RSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
