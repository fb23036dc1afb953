package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/medforge/medforge/engine/abi"
)

// AllowedImports lists the only functions a scorer module may import, all
// from the wasi_snapshot_preview1 namespace: what a Go wasip1 reactor and
// wasi-libc need to start, report a crash and exit. With no preopened
// directories, no environment and no arguments, none of them reaches a host
// resource: fd_write goes to a bounded in-memory buffer (stdout is
// discarded), the clocks are wazero's deterministic fakes and random_get is
// wazero's deterministic source. Anything else (path_open, fd_read,
// sock_accept, any other module) is refused when the module is loaded.
var AllowedImports = map[string]bool{
	"args_get":            true,
	"args_sizes_get":      true,
	"environ_get":         true,
	"environ_sizes_get":   true,
	"clock_res_get":       true,
	"clock_time_get":      true,
	"fd_write":            true,
	"fd_close":            true,
	"fd_fdstat_get":       true,
	"fd_fdstat_set_flags": true,
	"fd_prestat_get":      true,
	"fd_prestat_dir_name": true,
	"poll_oneoff":         true,
	"proc_exit":           true,
	"random_get":          true,
	"sched_yield":         true,
}

const wasiModule = wasi_snapshot_preview1.ModuleName

// fakeEpoch is wazero's fake wall clock start (2022-01-01T00:00:00Z).
const fakeEpoch = 1640995200

// errKind classifies a failure for the wire between worker and pool.
type errKind byte

const (
	kindOK errKind = iota
	kindRejected
	kindTrap
	kindMemory
	kindOutput
	kindInternal
)

// runError is a classified failure inside a runner.
type runError struct {
	kind errKind
	msg  string
}

func (e *runError) Error() string { return e.msg }

func fail(kind errKind, format string, args ...any) error {
	return &runError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// runnerConfig fixes a runner's limits for its whole life.
type runnerConfig struct {
	CacheDir         string
	MemoryLimitBytes uint64
	MaxOutputBytes   uint32
	// AddressSpaceBytes is the worker's RLIMIT_AS (0: none).
	AddressSpaceBytes uint64
	// UID and GID are what a worker started as root drops to.
	UID, GID int
	// CloseOnContextDone makes wazero check the context in guest loops. The
	// pool never sets it (it kills the worker instead); benchmarks do, to
	// measure what it would cost.
	CloseOnContextDone bool
}

// runner compiles and runs modules inside one process. It is the part of a
// worker that touches wazero; it is not safe for concurrent use.
type runner struct {
	cfg     runnerConfig
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	modules map[string]wazero.CompiledModule
	ctx     context.Context
	alloc   *mmapAllocator
	spare   *spare
	// seed, when not 0, makes the next scoring's instance draw its random
	// bytes and wall clock from seed instead of wazero's fixed fakes (the
	// certification report's determinism check); the spare is left alone.
	seed uint64
	// lastMemory is the linear memory size the last scoring's instance
	// ended with (0 when it never started).
	lastMemory uint64
}

// spare is a fresh instance made ahead of the next scoring, while the
// worker would otherwise wait for input. It is still used for exactly one
// scoring; preparing it early only moves the module's start (for a Go guest,
// runtime initialisation: ~13 ms) off the scoring's critical path.
type spare struct {
	digest string
	stderr boundedBuffer
	done   chan struct{} // closed once mod or err is set

	mu        sync.Mutex
	mod       api.Module
	err       error
	abandoned bool
}

// prepare starts making a spare instance of digest in the background,
// abandoning any other spare.
func (r *runner) prepare(digest string) {
	r.abandonSpare()
	sp := &spare{digest: digest, done: make(chan struct{})}
	r.spare = sp
	cm, ok := r.modules[digest] // read here: r.modules belongs to the serve loop
	go func() {
		var mod api.Module
		err := fail(kindInternal, "module %s is not loaded in this worker", digest)
		if ok {
			mod, err = r.instantiate(r.ctx, cm, &sp.stderr)
		}
		sp.mu.Lock()
		if sp.abandoned {
			if mod != nil {
				mod.Close(r.ctx)
			}
		} else {
			sp.mod, sp.err = mod, err
		}
		sp.mu.Unlock()
		close(sp.done)
	}()
}

// abandonSpare drops the current spare; its instance is closed when ready.
// A spare whose start never returns keeps running until the worker is
// killed, which the pool does at the next scoring's deadline.
func (r *runner) abandonSpare() {
	sp := r.spare
	if sp == nil {
		return
	}
	r.spare = nil
	sp.mu.Lock()
	sp.abandoned = true
	if sp.mod != nil {
		sp.mod.Close(r.ctx)
		sp.mod = nil
	}
	sp.mu.Unlock()
}

// start waits for the spare instance of digest to finish starting (making
// one if needed) and returns the ABI minor version it reports. The instance
// stays the spare for the next scoring. A start that fails or a minor this
// host does not support is kindRejected.
func (r *runner) start(ctx context.Context, digest string) (uint32, error) {
	if sp := r.spare; sp == nil || sp.digest != digest {
		r.prepare(digest)
	}
	sp := r.spare
	<-sp.done
	sp.mu.Lock()
	mod, err := sp.mod, sp.err
	sp.mu.Unlock()
	if err != nil {
		r.spare = nil
		return 0, fail(kindRejected, "module failed to start: %v", err)
	}
	res, err := mod.ExportedFunction(abi.MinorExport).Call(r.wrap(ctx))
	if err != nil {
		r.abandonSpare()
		return 0, fail(kindRejected, "%s failed: %v", abi.MinorExport, err)
	}
	minor := uint32(res[0])
	if minor > abi.Minor {
		r.abandonSpare()
		return 0, fail(kindRejected, "module needs scorer ABI %d.%d, this host supports %d.%d", abi.Major, minor, abi.Major, abi.Minor)
	}
	return minor, nil
}

// take returns a fresh instance of digest for one scoring: the spare when it
// is of that module (waiting for it to finish starting), else a new one.
func (r *runner) take(ctx context.Context, digest string) (api.Module, *boundedBuffer, error) {
	if sp := r.spare; sp != nil && sp.digest == digest && r.seed == 0 {
		r.spare = nil
		select {
		case <-sp.done:
		case <-ctx.Done():
			return nil, nil, fail(kindInternal, "waiting for instance: %v", ctx.Err())
		}
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if sp.err != nil {
			return nil, nil, sp.err
		}
		return sp.mod, &sp.stderr, nil
	}
	cm, ok := r.modules[digest]
	if !ok {
		return nil, nil, fail(kindInternal, "module %s is not loaded in this worker", digest)
	}
	stderr := &boundedBuffer{}
	mod, err := r.instantiate(ctx, cm, stderr)
	return mod, stderr, err
}

const maxCachedModules = 16

func newRunner(cfg runnerConfig) (*runner, error) {
	alloc := &mmapAllocator{}
	ctx := experimental.WithMemoryAllocator(context.Background(), alloc)
	rc := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(uint32(cfg.MemoryLimitBytes / 65536)).
		WithMemoryCapacityFromMax(true).
		WithCloseOnContextDone(cfg.CloseOnContextDone)
	r := &runner{cfg: cfg, modules: map[string]wazero.CompiledModule{}, ctx: ctx, alloc: alloc}
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	return r, nil
}

func (r *runner) close() {
	r.abandonSpare()
	r.rt.Close(r.ctx)
	if r.cache != nil {
		r.cache.Close(r.ctx)
	}
	r.alloc.close()
}

// compile compiles wasm (or finds it in the cache) and checks its imports
// and exports. Every refusal is kindRejected and names what is wrong.
func (r *runner) compile(ctx context.Context, digest string, wasm []byte) error {
	if _, ok := r.modules[digest]; ok {
		return nil
	}
	ctx = r.wrap(ctx)
	wasm, err := boundTables(wasm, MaxTableElements)
	if err != nil {
		return fail(kindRejected, "%v", err)
	}
	cm, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail(kindRejected, "invalid module: %v", err)
	}
	if err := checkModule(cm); err != nil {
		cm.Close(ctx)
		return err
	}
	if len(r.modules) >= maxCachedModules {
		r.abandonSpare()
		for d, m := range r.modules {
			m.Close(ctx)
			delete(r.modules, d)
		}
	}
	r.modules[digest] = cm
	return nil
}

func (r *runner) wrap(ctx context.Context) context.Context {
	return experimental.WithMemoryAllocator(ctx, r.alloc)
}

// checkModule enforces the import allowlist and the ABI v1 exports.
func checkModule(cm wazero.CompiledModule) error {
	var bad []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasiModule || !AllowedImports[name] {
			bad = append(bad, mod+"."+name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		bad = slices.Compact(bad)
		noun := "import"
		if len(bad) > 1 {
			noun = "imports"
		}
		return fail(kindRejected, "%s %s not allowed (scorer modules may import only: %s)", noun, strings.Join(bad, ", "), allowedList())
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return fail(kindRejected, "import %s.%s is not allowed: a scorer module must define its own memory", mod, name)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return fail(kindRejected, "module does not export its memory as \"memory\"")
	}
	exports := cm.ExportedFunctions()
	want := []struct {
		name            string
		params, results []api.ValueType
	}{
		{abi.MarkerExport, nil, nil},
		{abi.MinorExport, nil, []api.ValueType{api.ValueTypeI32}},
		{abi.AllocExport, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		{abi.ScoreExport, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for _, w := range want {
		f, ok := exports[w.name]
		if !ok {
			if w.name == abi.MarkerExport {
				return fail(kindRejected, "module does not export %s: not a scorer ABI v%d module", w.name, abi.Major)
			}
			return fail(kindRejected, "module does not export %s", w.name)
		}
		if !sameTypes(f.ParamTypes(), w.params) || !sameTypes(f.ResultTypes(), w.results) {
			return fail(kindRejected, "export %s has the wrong signature (see docs/scorer-abi.md)", w.name)
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var allowedList = sync.OnceValue(func() string {
	names := make([]string, 0, len(AllowedImports))
	for n := range AllowedImports {
		names = append(names, wasiModule+"."+n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
})

// instantiate makes a fresh instance of a loaded module, running its
// _initialize start function. The instance sees no files, arguments or
// environment; its stdout is discarded and its stderr kept in stderr.
func (r *runner) instantiate(ctx context.Context, cm wazero.CompiledModule, stderr *boundedBuffer) (api.Module, error) {
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStdout(io.Discard).
		WithStderr(stderr)
	if seed := r.seed; seed != 0 {
		// Another deterministic world: random bytes from seed, and a wall
		// clock that starts seed-many seconds after wazero's fake epoch
		// and, like it, moves 1 ms per reading.
		var calls int64
		cfg = cfg.WithRandSource(mrand.New(mrand.NewSource(int64(seed)))).
			WithWalltime(func() (int64, int32) {
				calls++
				ns := calls * int64(time.Millisecond)
				return fakeEpoch + int64(seed%(1<<31)) + ns/1e9, int32(ns % 1e9)
			}, sys.ClockResolution(time.Microsecond))
	}
	mod, err := r.rt.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		return nil, r.classify(err, nil, stderr)
	}
	return mod, nil
}

// score runs one scoring of the loaded module digest on an encoded input of
// n bytes. fill writes the input into the guest buffer it is given; it is
// called exactly once unless an error is returned before the guest buffer
// exists, in which case skip is called instead so the caller can discard the
// input. emit receives the guest's output bytes (valid only during the call).
func (r *runner) score(ctx context.Context, digest string, n uint32, fill func([]byte) error, skip func() error, emit func([]byte) error) (err error) {
	ctx = r.wrap(ctx)
	filled := false
	defer func() {
		if !filled {
			if serr := skip(); serr != nil && err == nil {
				err = serr
			}
		}
	}()
	r.lastMemory = 0
	mod, stderr, err := r.take(ctx, digest)
	if err != nil {
		return err
	}
	defer func() {
		if mem := mod.Memory(); mem != nil {
			r.lastMemory = uint64(mem.Size())
		}
		mod.Close(ctx)
	}()
	res, err := mod.ExportedFunction(abi.MinorExport).Call(ctx)
	if err != nil {
		return r.classify(err, mod, stderr)
	}
	if minor := uint32(res[0]); minor > abi.Minor {
		return fail(kindRejected, "module needs scorer ABI %d.%d, this host supports %d.%d", abi.Major, minor, abi.Major, abi.Minor)
	}
	res, err = mod.ExportedFunction(abi.AllocExport).Call(ctx, uint64(n))
	if err != nil {
		return r.classify(err, mod, stderr)
	}
	ptr := uint32(res[0])
	if ptr == 0 || ptr%8 != 0 {
		return fail(kindTrap, "%s(%d) returned %#x, want a non-zero 8-byte aligned address", abi.AllocExport, n, ptr)
	}
	view, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return fail(kindTrap, "%s(%d) returned a buffer outside guest memory", abi.AllocExport, n)
	}
	filled = true
	if err := fill(view); err != nil {
		return fail(kindInternal, "read input: %v", err)
	}
	res, err = mod.ExportedFunction(abi.ScoreExport).Call(ctx, uint64(ptr), uint64(n))
	if err != nil {
		return r.classify(err, mod, stderr)
	}
	optr, olen := uint32(res[0]>>32), uint32(res[0])
	if olen > r.cfg.MaxOutputBytes {
		return fail(kindOutput, "output of %d bytes exceeds the limit of %d", olen, r.cfg.MaxOutputBytes)
	}
	out, ok := mod.Memory().Read(optr, olen)
	if !ok {
		return fail(kindTrap, "%s returned an output range outside guest memory", abi.ScoreExport)
	}
	return emit(out)
}

// classify turns a wazero call error into a kind: memory when the guest ran
// out of its capped memory (Go's runtime says so on stderr; C's malloc fails
// near the cap), trap otherwise. The message may quote guest stderr and is
// internal-only.
func (r *runner) classify(err error, mod api.Module, stderr *boundedBuffer) error {
	tail := strings.TrimSpace(stderr.String())
	near := false
	if mod != nil && mod.Memory() != nil {
		size := uint64(mod.Memory().Size())
		near = size+r.cfg.MemoryLimitBytes/16 >= r.cfg.MemoryLimitBytes
	}
	if strings.Contains(tail, "out of memory") || near {
		return fail(kindMemory, "guest ran out of memory (limit %d bytes): %v", r.cfg.MemoryLimitBytes, err)
	}
	var exit *sys.ExitError
	msg := err.Error()
	if errors.As(err, &exit) {
		msg = fmt.Sprintf("guest exited with code %d", exit.ExitCode())
	}
	if tail != "" {
		msg += "; stderr: " + tail
	}
	return fail(kindTrap, "%s", msg)
}

// boundedBuffer keeps the first 4 KiB written to it and drops the rest.
type boundedBuffer struct{ b []byte }

const stderrKeep = 4096

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if room := stderrKeep - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string { return string(w.b) }
