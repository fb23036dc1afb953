package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/scorers/scorertest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const testTimeout = 3 * time.Second

func newPool(t *testing.T, workers int) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(sandbox.Options{
		CacheDir:         sandbox.SharedTestCacheDir(),
		Workers:          workers,
		Timeout:          testTimeout,
		MemoryLimitBytes: 64 << 20,
		MaxOutputBytes:   1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func load(t *testing.T, p *sandbox.Pool, path string) *sandbox.Module {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Load(testContext(t), wasm)
	if err != nil {
		t.Fatalf("Load(%s): %v", filepath.Base(path), err)
	}
	return m
}

func hostile(t *testing.T, name string) string {
	t.Helper()
	if strings.HasPrefix(name, "go") {
		return scorertest.BuildGo(t, filepath.Join("engine/sandbox/testdata/hostile", name))
	}
	return scorertest.BuildC(t, filepath.Join(scorertest.Root(t), "engine/sandbox/testdata/hostile", name+".c"))
}

// titanic is a small accuracy input: 3 of 4 correct.
func titanic() *abi.Input {
	return &abi.Input{Units: 4, Columns: []abi.Column{
		{Name: "PassengerId", Role: abi.Key, Type: abi.Utf8, Offsets: []int32{0, 3, 6, 9, 12}, Data: []byte("892893894895")},
		{Name: "Survived", Role: abi.Truth, Type: abi.Int64, Int64: []int64{0, 1, 0, 1}},
		{Name: "Survived", Role: abi.Prediction, Type: abi.Int64, Int64: []int64{0, 1, 1, 1}},
	}}
}

// checkHealthy scores the accuracy module and requires the right answer.
func checkHealthy(t *testing.T, p *sandbox.Pool, m *sandbox.Module) {
	t.Helper()
	res, err := p.Score(testContext(t), m, titanic())
	if err != nil {
		t.Fatalf("pool no longer scores correctly: %v", err)
	}
	if res.Primary != 0.75 {
		t.Fatalf("pool no longer scores correctly: primary %v", res.Primary)
	}
}

func TestScoreBuiltinGoAndC(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	for _, name := range []string{scorers.Accuracy, scorers.AccuracyC} {
		m := load(t, p, scorertest.Build(t, name))
		if len(m.Digest) != 64 || m.Minor != 0 {
			t.Fatalf("%s: digest %q minor %d", name, m.Digest, m.Minor)
		}
		res, err := p.Score(testContext(t), m, titanic())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Primary != 0.75 || len(res.PerUnit) != 4 || res.PerUnit[2] != 0 ||
			len(res.Secondary) != 1 || res.Secondary[0] != (abi.Named{Name: "correct", Value: 3}) {
			t.Fatalf("%s: got %+v", name, res)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		module string // hostile module, or "" for wasm below
		wasm   []byte
		want   string
	}{
		{name: "forbidden import", module: "forbidden", want: "import env.steal_holdout not allowed"},
		{name: "C file read needs path_open", module: "readfile", want: "wasi_snapshot_preview1.path_open"},
		{name: "Go file read needs path_open", module: "goreadfile", want: "wasi_snapshot_preview1.path_open"},
		{name: "no ABI marker", module: "nomarker", want: "does not export medforge_abi_v1"},
		{name: "not wasm", wasm: []byte("#!/bin/sh\ncat /etc/passwd\n"), want: "invalid module"},
		{name: "start never returns", module: "startloop", want: "time limit"},
		{name: "start traps", module: "starttrap", want: "failed to start"},
		{name: "newer minor", module: "newminor", want: "needs scorer ABI 1.99"},
	}
	p := newPool(t, 1)
	acc := load(t, p, scorertest.Build(t, scorers.Accuracy))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.wasm
			if tt.module != "" {
				var err error
				if wasm, err = os.ReadFile(hostile(t, tt.module)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := p.Load(testContext(t), wasm)
			var re *sandbox.RejectedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tt.want) {
				t.Fatalf("Load() = %v, want rejection containing %q", err, tt.want)
			}
			checkHealthy(t, p, acc)
		})
	}
}

func TestHostileModules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(error) bool
	}{
		{"loop", func(err error) bool { return errors.Is(err, sandbox.ErrTimeout) }},
		{"bomb", func(err error) bool { return errors.Is(err, sandbox.ErrMemoryLimit) }},
		{"gobomb", func(err error) bool { return errors.Is(err, sandbox.ErrMemoryLimit) }},
		{"trap", func(err error) bool { var te *sandbox.TrapError; return errors.As(err, &te) }},
		{"bigout", func(err error) bool { return errors.Is(err, sandbox.ErrOutputTooLarge) }},
		{"outofbounds", func(err error) bool { var te *sandbox.TrapError; return errors.As(err, &te) }},
		{"garbage", func(err error) bool { var te *sandbox.TrapError; return errors.As(err, &te) }},
		{"public", func(err error) bool {
			var ge *abi.GuestError
			return errors.As(err, &ge) && ge.Public && ge.Message == "predictions look shuffled"
		}},
	}
	p := newPool(t, 1)
	acc := load(t, p, scorertest.Build(t, scorers.Accuracy))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := load(t, p, hostile(t, tt.name))
			start := time.Now()
			res, err := p.Score(testContext(t), m, titanic())
			elapsed := time.Since(start)
			if !tt.check(err) {
				t.Fatalf("Score() = %+v, %v (%T)", res, err, err)
			}
			if elapsed > testTimeout+time.Second {
				t.Fatalf("took %v, limit %v", elapsed, testTimeout)
			}
			t.Logf("%s: %v after %v", tt.name, err, elapsed.Round(time.Millisecond))
			checkHealthy(t, p, acc)
		})
	}
}

func TestTimeoutStopsWithinLimit(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	m := load(t, p, hostile(t, "loop"))
	ctx, cancel := context.WithTimeout(testContext(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Score(ctx, m, titanic())
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("Score() = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("stopped after %v, deadline 300ms", el)
	}
}

func TestCancelStopsScoring(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	m := load(t, p, hostile(t, "loop"))
	ctx, cancel := context.WithCancel(testContext(t))
	time.AfterFunc(200*time.Millisecond, cancel)
	if _, err := p.Score(ctx, m, titanic()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Score() = %v, want context.Canceled", err)
	}
	checkHealthy(t, p, load(t, p, scorertest.Build(t, scorers.AccuracyC)))
}

func TestConcurrentScorings(t *testing.T) {
	t.Parallel()
	p := newPool(t, 2)
	m := load(t, p, scorertest.Build(t, scorers.AccuracyC))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			res, err := p.Score(testContext(t), m, titanic())
			if err == nil && res.Primary != 0.75 {
				err = errors.New("wrong score")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestClosedPool(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	m := load(t, p, scorertest.Build(t, scorers.AccuracyC))
	p.Close()
	if _, err := p.Score(testContext(t), m, titanic()); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("Score() = %v, want ErrClosed", err)
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	loop := load(t, p, hostile(t, "loop"))
	acc := load(t, p, scorertest.Build(t, scorers.AccuracyC))
	go p.Score(testContext(t), loop, titanic()) // holds the only worker
	time.Sleep(200 * time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := p.Score(testContext(t), acc, titanic()) // waits for it
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	p.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, sandbox.ErrClosed) {
			t.Fatalf("waiting Score() = %v, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Close left a waiting Score blocked")
	}
}

func TestCacheDirMustBePrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.New(sandbox.Options{CacheDir: dir}); err == nil || !strings.Contains(err.Error(), "only its owner") {
		t.Fatalf("New() = %v, want refusal of a world-writable cache dir", err)
	}
}

func TestInvalidInputRefused(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	m := load(t, p, scorertest.Build(t, scorers.AccuracyC))
	bad := titanic()
	bad.Columns[1].Int64 = bad.Columns[1].Int64[:2]
	if _, err := p.Score(testContext(t), m, bad); err == nil || !strings.Contains(err.Error(), "encode input") {
		t.Fatalf("Score() = %v, want an input error", err)
	}
}

func TestExecutableWithoutWorkerEntry(t *testing.T) {
	t.Parallel()
	p, err := sandbox.New(sandbox.Options{CacheDir: sandbox.SharedTestCacheDir(), Executable: "/bin/echo", Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Load(testContext(t), []byte("\x00asm\x01\x00\x00\x00"))
	if err == nil || !strings.Contains(err.Error(), "MaybeRunWorker") {
		t.Fatalf("Load() = %v, want an error naming MaybeRunWorker", err)
	}
}

func TestClocksAndRandomAreDeterministic(t *testing.T) {
	t.Parallel()
	p := newPool(t, 2)
	m := load(t, p, hostile(t, "clock"))
	first, err := p.Score(testContext(t), m, titanic())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		again, err := p.Score(testContext(t), m, titanic())
		if err != nil {
			t.Fatal(err)
		}
		if again.Primary != first.Primary {
			t.Fatalf("guest saw %v then %v: clocks or randomness leak", first.Primary, again.Primary)
		}
	}
}

// TestNoDataLeaksBetweenScorings: guest memory is recycled inside a worker,
// so a module must never find what an earlier scoring wrote.
func TestNoDataLeaksBetweenScorings(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	m := load(t, p, hostile(t, "snoop"))
	for i := range 4 {
		res, err := p.Score(testContext(t), m, titanic())
		if err != nil {
			t.Fatal(err)
		}
		// malloc's own bookkeeping may show up as a few bytes; an earlier
		// scoring's 0xAB fill would be millions.
		if res.Primary > 64 {
			t.Fatalf("scoring %d found %v non-zero bytes left by an earlier scoring", i, res.Primary)
		}
	}
}
