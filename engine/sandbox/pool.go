package sandbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medforge/medforge/engine/abi"
)

// Typed failures of Load and Score. Score also returns *abi.GuestError when
// the module itself reported a failure, and *TrapError when it crashed.
var (
	// ErrTimeout: the scoring ran past Options.Timeout or the context's
	// deadline; its worker was killed.
	ErrTimeout = errors.New("sandbox: scorer exceeded its time limit")
	// ErrMemoryLimit: the module ran out of its capped memory.
	ErrMemoryLimit = errors.New("sandbox: scorer exceeded its memory limit")
	// ErrOutputTooLarge: the module returned more than MaxOutputBytes.
	ErrOutputTooLarge = errors.New("sandbox: scorer output exceeds the size limit")
	// ErrClosed: the pool was closed.
	ErrClosed = errors.New("sandbox: pool closed")
)

// RejectedError is returned by Load for a module that is not a valid scorer
// ABI v1 module or needs more than the sandbox allows. Reason names the
// offending import or export and is safe to show the module's author.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "scorer module rejected: " + e.Reason }

// TrapError is a crash of the module (a WebAssembly trap, a Go panic, a
// non-zero exit, output that breaks the ABI) or of its worker process.
// Detail may quote the module's stderr and so may reveal holdout values: it
// is for logs and admins only, never for participants.
type TrapError struct{ Detail string }

func (e *TrapError) Error() string { return "scorer crashed: " + e.Detail }

// Options configures a Pool. Zero values take the defaults given.
type Options struct {
	// CacheDir holds wazero's compiled-code cache. It is created with mode
	// 0700 and refused if group or others may write it. Default:
	// $XDG_CACHE_HOME/medforge/wazero (os.UserCacheDir).
	CacheDir string
	// Workers is the number of worker processes, hence of concurrent
	// scorings. Default 1.
	Workers int
	// Timeout bounds the module's own run time in one Score, its start
	// included. Default 60s.
	Timeout time.Duration
	// CompileTimeout bounds compiling a module not yet in the cache (host
	// work, not the module's). Default 5 minutes.
	CompileTimeout time.Duration
	// MemoryLimitBytes caps a module's linear memory. Default 1 GiB; at most
	// 4 GiB; rounded down to 64 KiB pages.
	MemoryLimitBytes uint64
	// MaxOutputBytes caps the encoded output of one scoring. Default 256 MiB.
	MaxOutputBytes uint32
	// AddressSpaceBytes is each worker's address-space limit (RLIMIT_AS),
	// and its cgroup v2 memory.max where that is writable. It must hold the
	// Go runtime, compiled code and up to four guest memories of
	// MemoryLimitBytes (the one in use and the spares). Default
	// 4 x MemoryLimitBytes + 3 GiB (the Go runtime alone reserves over 1 GiB of address space).
	AddressSpaceBytes uint64
	// UID and GID are the unprivileged user and group a worker switches to
	// when the pool runs as root. Default 65534:65534 (nobody:nogroup).
	UID, GID int
	// Executable is the binary re-executed as a worker; it must call
	// MaybeRunWorker first thing. Default os.Executable().
	Executable string
}

func (o *Options) setDefaults() error {
	if o.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("sandbox: no cache directory: %w", err)
		}
		o.CacheDir = filepath.Join(dir, "medforge", "wazero")
	}
	// The worker processes confine themselves from another working
	// directory: a relative cache dir (medforge score --cache-dir .run/x)
	// must name the same folder there.
	abs, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	o.CacheDir = abs
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.CompileTimeout <= 0 {
		o.CompileTimeout = 5 * time.Minute
	}
	if o.MemoryLimitBytes == 0 {
		o.MemoryLimitBytes = 1 << 30
	}
	if o.MemoryLimitBytes > 1<<32 {
		o.MemoryLimitBytes = 1 << 32
	}
	if o.MemoryLimitBytes < 1<<16 {
		return fmt.Errorf("sandbox: memory limit %d is below one page", o.MemoryLimitBytes)
	}
	if o.AddressSpaceBytes == 0 {
		o.AddressSpaceBytes = 4*(o.MemoryLimitBytes&^0xffff) + 3<<30
	}
	if o.UID <= 0 {
		o.UID = 65534
	}
	if o.GID <= 0 {
		o.GID = 65534
	}
	if o.MaxOutputBytes == 0 {
		o.MaxOutputBytes = 256 << 20
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("sandbox: find own executable: %w", err)
		}
		o.Executable = exe
	}
	return nil
}

// privateDir creates dir (mode 0700) and refuses it when others may write.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sandbox: cache dir: %w", err)
	}
	if !st.IsDir() || st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("sandbox: cache dir %s must be a directory only its owner can write (mode %v)", dir, st.Mode().Perm())
	}
	return nil
}

// Module is a scorer module accepted by Load. It is immutable and may be
// shared between goroutines and used with the Pool that loaded it.
type Module struct {
	// Digest is the lowercase hex SHA-256 of the module bytes.
	Digest string
	// Minor is the ABI minor version the module reported at Load.
	Minor int
	wasm  []byte
}

// Pool runs scorings in a fixed set of worker processes. It is safe for
// concurrent use; each scoring has a worker, and a fresh module instance,
// to itself.
type Pool struct {
	opts   Options
	config string
	idle   chan *worker
	closed atomic.Bool
	done   chan struct{} // closed by Close

	mu      sync.Mutex
	all     map[*worker]bool
	modules map[string]*Module
}

// New starts a pool of opts.Workers worker processes. Workers start in the
// background; New returns as soon as they are launched.
func New(opts Options) (*Pool, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := privateDir(opts.CacheDir); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// Workers drop root before they touch the cache.
		if err := chownTree(opts.CacheDir, opts.UID, opts.GID); err != nil {
			return nil, fmt.Errorf("sandbox: cache dir: %w", err)
		}
	}
	cfg, _ := json.Marshal(runnerConfig{
		CacheDir:          opts.CacheDir,
		MemoryLimitBytes:  opts.MemoryLimitBytes &^ 0xffff,
		MaxOutputBytes:    opts.MaxOutputBytes,
		AddressSpaceBytes: opts.AddressSpaceBytes,
		UID:               opts.UID,
		GID:               opts.GID,
	})
	p := &Pool{
		opts:    opts,
		config:  string(cfg),
		idle:    make(chan *worker, opts.Workers),
		done:    make(chan struct{}),
		all:     map[*worker]bool{},
		modules: map[string]*Module{},
	}
	for range opts.Workers {
		w, err := p.spawn()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.idle <- w
	}
	return p, nil
}

// Close stops every worker; scorings in flight fail. Close is idempotent.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.done)
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.all))
	for w := range p.all {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
	return nil
}

// Load checks that wasm is a scorer ABI v1 module the sandbox accepts
// (valid WebAssembly, imports only from AllowedImports, the exports and
// memory of docs/scorer-abi.md) and compiles it, once per digest for the
// life of the pool (and across processes through the on-disk cache).
// It then starts one instance (which must return from its start function
// within Timeout and report a minor version this host supports) and keeps it
// as the fresh instance of the next scoring, so Load costs no extra start.
// Refusals are *RejectedError naming the offending import or export, or the
// failed start. Load may run concurrently with other work, such as parsing
// the submission.
func (p *Pool) Load(ctx context.Context, wasm []byte) (*Module, error) {
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	p.mu.Lock()
	m, ok := p.modules[digest]
	p.mu.Unlock()
	if ok {
		return m, nil
	}
	m = &Module{Digest: digest, wasm: wasm}
	var minor uint32
	err := p.do(ctx, func(w *worker, limit func(time.Duration)) error {
		if err := w.compile(m, limit); err != nil {
			return err
		}
		limit(p.opts.Timeout)
		var err error
		minor, err = w.start(m)
		return err
	})
	if err != nil {
		var re *runError
		if errors.As(err, &re) && re.kind == kindRejected {
			return nil, &RejectedError{Reason: re.msg}
		}
		if errors.Is(err, ErrTimeout) {
			return nil, &RejectedError{Reason: "module did not compile and start within the time limit"}
		}
		return nil, err
	}
	m.Minor = int(minor)
	p.mu.Lock()
	p.modules[digest] = m
	p.mu.Unlock()
	return m, nil
}

// Score runs m on in, in a fresh instance, and returns its validated
// result. in must pass abi.Input.Validate and must not change during the
// call (its buffers are streamed to the worker as they are). Errors: ErrTimeout,
// ErrMemoryLimit, ErrOutputTooLarge, *TrapError (including a start function
// that crashes), *RejectedError (the module needs a newer ABI minor),
// *abi.GuestError (the module's own verdict), ErrClosed, or the context's
// error when ctx is cancelled. Whatever the module does, the pool
// stays usable for the next scoring.
func (p *Pool) Score(ctx context.Context, m *Module, in *abi.Input) (*abi.Result, error) {
	res, _, err := p.probe(ctx, m, in, 0, false)
	return res, err
}

// Usage is what one scoring used: the guest's linear memory when it
// finished (wasm memory only grows, so this is its peak) and the time from
// sending the input to receiving the output.
type Usage struct {
	MemoryBytes uint64
	Duration    time.Duration
}

// Probe is Score that also reports the scoring's Usage, run in a fresh
// instance whose random source and wall clock derive from seed instead of
// the fixed fakes every official scoring sees (seed 0: those fakes). A
// module whose result changes with the seed depends on something besides
// its input; the certification report runs each module under several seeds
// to find out.
func (p *Pool) Probe(ctx context.Context, m *Module, in *abi.Input, seed uint64) (*abi.Result, Usage, error) {
	return p.probe(ctx, m, in, seed, true)
}

// probe scores; with usage it also asks the worker for the instance's
// memory (one more frame exchange, which official scorings skip).
func (p *Pool) probe(ctx context.Context, m *Module, in *abi.Input, seed uint64, usage bool) (*abi.Result, Usage, error) {
	var u Usage
	up := &u
	if !usage {
		up = nil
	}
	if m == nil {
		return nil, u, errors.New("sandbox: nil module")
	}
	size, err := abi.EncodedInputSize(in)
	if err != nil {
		return nil, u, fmt.Errorf("sandbox: encode input: %w", err)
	}
	var out []byte
	err = p.do(ctx, func(w *worker, limit func(time.Duration)) error {
		var err error
		out, err = w.score(m, in, size, seed, up, limit)
		return err
	})
	if err != nil {
		var re *runError
		if errors.As(err, &re) {
			switch re.kind {
			case kindMemory:
				return nil, u, fmt.Errorf("%w: %s", ErrMemoryLimit, re.msg)
			case kindOutput:
				return nil, u, fmt.Errorf("%w: %s", ErrOutputTooLarge, re.msg)
			case kindTrap:
				return nil, u, &TrapError{Detail: re.msg}
			case kindRejected:
				return nil, u, &RejectedError{Reason: re.msg}
			}
			return nil, u, fmt.Errorf("sandbox: %s", re.msg)
		}
		return nil, u, err
	}
	res, err := abi.DecodeOutput(out, in.Units)
	if err != nil {
		var ge *abi.GuestError
		if errors.As(err, &ge) {
			return nil, u, ge
		}
		return nil, u, &TrapError{Detail: err.Error()}
	}
	return res, u, nil
}

// do runs f on an idle worker under a time limit that f sets, phase by
// phase, by calling limit (never past ctx's deadline). When the limit passes
// or ctx is cancelled, the worker is killed (which unblocks f) and replaced;
// so is a worker whose stream broke.
func (p *Pool) do(ctx context.Context, f func(w *worker, limit func(time.Duration)) error) error {
	if p.closed.Load() {
		return ErrClosed
	}
	var w *worker
	select {
	case w = <-p.idle:
	case <-p.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	clamp := func(d time.Duration) time.Duration {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return time.Until(dl)
		}
		return d
	}
	var timedOut atomic.Bool
	cur := w // w may be replaced below; the timer must only ever kill this one
	timer := time.AfterFunc(clamp(p.opts.Timeout), func() {
		timedOut.Store(true)
		cur.kill()
	})
	limit := func(d time.Duration) { timer.Reset(clamp(d)) }
	stop := context.AfterFunc(ctx, w.kill)
	err := w.greet()
	if err == nil {
		err = f(w, limit)
	}
	timer.Stop()
	stop()
	if w.broken.Load() || err != nil && !isRunError(err) {
		greeted := w.greeted
		w.kill()
		if nw, serr := p.spawn(); serr == nil {
			w = nw
		} else {
			w = nil
			// Try again at the next scoring rather than shrinking the pool.
			go p.respawnLater()
		}
		switch {
		case !greeted && !timedOut.Load() && ctx.Err() == nil:
			err = fmt.Errorf("sandbox: worker %s did not start (it must call sandbox.MaybeRunWorker first thing): %v", p.opts.Executable, err)
		case timedOut.Load():
			if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = ErrTimeout
			}
		case ctx.Err() != nil:
			err = ctx.Err()
		case err != nil:
			if p.closed.Load() {
				err = ErrClosed
			} else {
				err = &runError{kind: kindTrap, msg: "worker process died: " + err.Error()}
			}
		}
	}
	if w != nil {
		if p.closed.Load() {
			w.kill()
		} else {
			p.idle <- w
		}
	}
	return err
}

func isRunError(err error) bool {
	var re *runError
	return errors.As(err, &re)
}

func (p *Pool) respawnLater() {
	for !p.closed.Load() {
		time.Sleep(time.Second)
		if w, err := p.spawn(); err == nil {
			p.idle <- w
			return
		}
	}
}

// worker is one sandbox process and the digests it has compiled.
type worker struct {
	pool    *Pool
	cmd     *exec.Cmd
	in      io.WriteCloser
	outFile *os.File
	out     *bufio.Reader
	stderr  *lockedWriter
	loaded  map[string]bool
	greeted bool
	broken  atomic.Bool
	// uncgroup removes the worker's cgroup after it exited (nil: none).
	uncgroup func()
	once     sync.Once
}

func (p *Pool) spawn() (*worker, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	cmd := exec.Command(p.opts.Executable)
	cmd.Env = []string{workerEnv + "=1", configEnv + "=" + p.config}
	cmd.Dir = "/"
	w := &worker{pool: p, cmd: cmd, stderr: &lockedWriter{w: &boundedBuffer{}}, loaded: map[string]bool{}}
	cmd.Stderr = w.stderr
	setProcAttr(cmd)
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: worker stdin: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("sandbox: worker stdout: %w", err)
	}
	// Inputs and per-unit outputs run to tens of megabytes: 1 MiB pipes
	// move them in 16x fewer round trips than the default 64 KiB.
	growPipe(inW)
	growPipe(outW)
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("sandbox: start worker %s: %w", p.opts.Executable, err)
	}
	w.in, w.outFile, w.out = inW, outR, bufio.NewReaderSize(outR, 1<<16)
	w.uncgroup = cgroupMemory(cmd.Process.Pid, p.opts.AddressSpaceBytes)
	p.mu.Lock()
	p.all[w] = true
	p.mu.Unlock()
	return w, nil
}

// workerPIDs lists the process ids of the pool's live workers.
func (p *Pool) workerPIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.all))
	for w := range p.all {
		if !w.broken.Load() {
			pids = append(pids, w.cmd.Process.Pid)
		}
	}
	return pids
}

// kill stops the process for good; it is safe to call many times and from
// any goroutine.
func (w *worker) kill() {
	w.broken.Store(true)
	w.once.Do(func() {
		_ = w.cmd.Process.Kill()
		_ = w.in.Close()
		go func() {
			_ = w.cmd.Wait()
			_ = w.outFile.Close()
			if w.uncgroup != nil {
				w.uncgroup()
			}
			w.pool.mu.Lock()
			delete(w.pool.all, w)
			w.pool.mu.Unlock()
		}()
	})
}

func (w *worker) send(op byte, digest string, payload []byte) error {
	if err := w.sendHeader(op, digest, len(payload)); err != nil {
		return err
	}
	_, err := w.in.Write(payload)
	return err
}

// sendHeader writes a frame header and digest for a payload of n bytes.
func (w *worker) sendHeader(op byte, digest string, n int) error {
	var hdr [5 + digestLen]byte
	hdr[0] = op
	binary.LittleEndian.PutUint32(hdr[1:], uint32(digestLen+n))
	copy(hdr[5:], digest)
	_, err := w.in.Write(hdr[:])
	return err
}

// recv reads one answer; a non-OK answer becomes a *runError.
func (w *worker) recv() ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(w.out, hdr[:]); err != nil {
		return nil, w.died(err)
	}
	n := binary.LittleEndian.Uint32(hdr[1:])
	if uint64(n) > uint64(w.pool.opts.MaxOutputBytes)+1<<16 {
		w.broken.Store(true)
		return nil, fmt.Errorf("worker answered %d bytes, over the output limit", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(w.out, payload); err != nil {
		return nil, w.died(err)
	}
	if errKind(hdr[0]) != kindOK {
		return nil, &runError{kind: errKind(hdr[0]), msg: string(payload)}
	}
	return payload, nil
}

func (w *worker) died(err error) error {
	w.broken.Store(true)
	if s := w.stderr.String(); s != "" {
		return fmt.Errorf("%v (worker stderr: %s)", err, s)
	}
	return err
}

// greet reads the worker's hello frame the first time the worker is used.
func (w *worker) greet() error {
	if w.greeted {
		return nil
	}
	want := make([]byte, 5+len(hello))
	binary.LittleEndian.PutUint32(want[1:], uint32(len(hello)))
	copy(want[5:], hello)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(w.out, got); err != nil {
		return w.died(err)
	}
	if string(got) != string(want) {
		w.broken.Store(true)
		return fmt.Errorf("unexpected output %q instead of the sandbox handshake", got)
	}
	w.greeted = true
	return nil
}

// compile makes sure the worker holds m compiled, under CompileTimeout.
func (w *worker) compile(m *Module, limit func(time.Duration)) error {
	if w.loaded[m.Digest] {
		return nil
	}
	limit(w.pool.opts.CompileTimeout)
	if err := w.send(opCompile, m.Digest, m.wasm); err != nil {
		return w.died(err)
	}
	if _, err := w.recv(); err != nil {
		return err
	}
	w.loaded[m.Digest] = true
	return nil
}

// start has the worker start m's next instance and returns its minor.
func (w *worker) start(m *Module) (uint32, error) {
	if err := w.send(opStart, m.Digest, nil); err != nil {
		return 0, w.died(err)
	}
	b, err := w.recv()
	if err != nil {
		return 0, err
	}
	if len(b) != 4 {
		w.broken.Store(true)
		return 0, errors.New("bad start answer")
	}
	return binary.LittleEndian.Uint32(b), nil
}

// score streams the encoded input straight from in's buffers to the worker
// (no encoded copy in the pool's memory) and returns the guest's output. A
// non-zero seed is sent first (opSeed); a non-nil u is filled in after
// (opMemory).
func (w *worker) score(m *Module, in *abi.Input, size int, seed uint64, u *Usage, limit func(time.Duration)) ([]byte, error) {
	if err := w.compile(m, limit); err != nil {
		return nil, err
	}
	if seed != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		if err := w.send(opSeed, m.Digest, b[:]); err != nil {
			return nil, w.died(err)
		}
		if _, err := w.recv(); err != nil {
			return nil, err
		}
	}
	limit(w.pool.opts.Timeout)
	if uint64(size)+digestLen > 1<<32-1 {
		return nil, errors.New("sandbox: input too large")
	}
	if err := w.sendHeader(opScore, m.Digest, size); err != nil {
		return nil, w.died(err)
	}
	began := time.Now()
	if _, err := abi.WriteInput(w.in, in); err != nil {
		return nil, w.died(err)
	}
	out, err := w.recv()
	if u == nil || err != nil && !isRunError(err) {
		return out, err
	}
	u.Duration = time.Since(began)
	// The worker's answer to opMemory: the last instance's memory size.
	if serr := w.send(opMemory, m.Digest, nil); serr != nil {
		return nil, w.died(serr)
	}
	b, serr := w.recv()
	if serr != nil {
		return nil, serr
	}
	if len(b) == 8 {
		u.MemoryBytes = binary.LittleEndian.Uint64(b)
	}
	return out, err
}

// lockedWriter serialises writes from os/exec's stderr copier with reads.
type lockedWriter struct {
	mu sync.Mutex
	w  *boundedBuffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
