package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
)

// Engine is the one assembly of the scoring pipeline: submission
// validation and alignment, prepared holdouts cached by digest, scorer
// modules loaded once per digest, and the sandboxed run with its checks
// (a finite primary score, the engine Version, the digests). The CLI, the
// competitions intake, its worker and scorer validation all score through
// it, so they produce the same Result for the same inputs.
//
// It is safe for concurrent use when its pool is. Holdout contents never
// leave it: only validation problems (which never quote truth values) and
// scores do.
type Engine struct {
	pool   *sandbox.Pool
	limits submission.Limits

	mu       sync.Mutex
	holdouts map[string]*holdoutEntry
	order    []string // holdout keys, oldest first
	modules  map[string]*sandbox.Module
}

type holdoutEntry struct {
	once sync.Once
	h    *holdout.Holdout
	err  error
}

// maxCached bounds the prepared holdouts and the loaded modules kept.
const maxCached = 16

// New returns an Engine that runs modules in pool (the caller owns and
// closes it; nil for an Engine that only validates) and bounds submissions
// by limits (zero fields take submission.DefaultLimits).
func New(pool *sandbox.Pool, limits submission.Limits) *Engine {
	return &Engine{pool: pool, limits: limits, holdouts: map[string]*holdoutEntry{}, modules: map[string]*sandbox.Module{}}
}

// HoldoutRef names a hidden holdout: its competition's spec, its file (label
// CSV or Arrow IPC) and, when one was recorded, its content digest (hex,
// with or without "sha256:"), which the loaded file must match.
type HoldoutRef struct {
	Spec   spec.Spec
	Path   string
	Digest string
}

// Holdout returns the prepared holdout ref names, reading the file once per
// (digest, path) while it stays among the most recent maxCached. A failed
// load is not cached.
func (e *Engine) Holdout(ref HoldoutRef) (*holdout.Holdout, error) {
	want := strings.TrimPrefix(ref.Digest, "sha256:")
	key := want + "\x00" + ref.Path
	e.mu.Lock()
	ent := e.holdouts[key]
	if ent == nil {
		ent = &holdoutEntry{}
		e.holdouts[key] = ent
		e.order = append(e.order, key)
		if len(e.order) > maxCached {
			delete(e.holdouts, e.order[0])
			e.order = e.order[1:]
		}
	}
	e.mu.Unlock()
	ent.once.Do(func() {
		ent.h, ent.err = holdout.ReadFile(ref.Spec, ref.Path)
		if ent.err == nil && want != "" && strings.TrimPrefix(ent.h.Digest(), "sha256:") != want {
			ent.err = fmt.Errorf("holdout %s: content digest %s does not match the recorded %s", ref.Path, ent.h.Digest(), want)
		}
	})
	if ent.err != nil {
		e.mu.Lock()
		if e.holdouts[key] == ent {
			delete(e.holdouts, key)
			// Drop its place in the eviction order too: a stale copy there
			// would later evict the key's next, good entry.
			if i := slices.Index(e.order, key); i >= 0 {
				e.order = slices.Delete(e.order, i, i+1)
			}
		}
		e.mu.Unlock()
	}
	return ent.h, ent.err
}

// Module returns wasm loaded in the pool. With digest (the sha256 the caller
// recorded for wasm) the module is loaded once per digest: the pool hashes
// the bytes on every Load, which for a multi-megabyte module costs more
// than a titanic scoring. A refused module is a *sandbox.RejectedError.
func (e *Engine) Module(ctx context.Context, digest string, wasm []byte) (*sandbox.Module, error) {
	if e.pool == nil {
		return nil, errors.New("engine: no sandbox pool")
	}
	digest = strings.TrimPrefix(digest, "sha256:")
	e.mu.Lock()
	mod := e.modules[digest]
	e.mu.Unlock()
	if mod != nil && digest != "" {
		return mod, nil
	}
	mod, err := e.pool.Load(ctx, wasm)
	if err != nil {
		return nil, err
	}
	if digest == mod.Digest {
		e.mu.Lock()
		if len(e.modules) >= maxCached {
			clear(e.modules)
		}
		e.modules[digest] = mod
		e.mu.Unlock()
	}
	return mod, nil
}

// Score validates data against the holdout, aligns it and runs m: Validate
// then Run.
func (e *Engine) Score(ctx context.Context, ref HoldoutRef, m *sandbox.Module, data []byte) (*Result, error) {
	h, err := e.Holdout(ref)
	if err != nil {
		return nil, err
	}
	v, err := e.Validate(ref.Spec, h, data)
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, v, m)
}

// Validated is a submission that passed validation, aligned to its
// holdout and ready to run. It holds no reference to the submission's
// bytes, so a service may keep it between intake and scoring instead of
// parsing the file again.
type Validated struct {
	spec     spec.Spec
	holdout  *holdout.Holdout
	input    *abi.Input
	start    time.Time
	validate time.Duration
}

// Units is the number of aligned units (the holdout's).
func (v *Validated) Units() int { return v.input.Units }

// HoldoutDigest is the digest ("sha256:<hex>") of the holdout v is aligned to.
func (v *Validated) HoldoutDigest() string { return v.holdout.Digest() }

// Input is the submission aligned to its holdout, as a module receives it
// (for callers that score parts of it, such as a public/private split).
// It must not be modified.
func (v *Validated) Input() *abi.Input { return v.input }

// Validate checks a submission in memory against sp and h (which must have
// been built for sp) without running anything. An invalid file is a
// *strictcsv.InvalidError (see InvalidSubmission). data must not be
// modified during the call.
func (e *Engine) Validate(sp spec.Spec, h *holdout.Holdout, data []byte) (*Validated, error) {
	start := time.Now()
	in, err := submission.Validate(sp, h, data, e.limits)
	if err != nil {
		return nil, err
	}
	return &Validated{spec: sp, holdout: h, input: in, start: start, validate: time.Since(start)}, nil
}

// Run scores a validated submission with m in the pool. Errors: the
// sandbox's (*abi.GuestError, sandbox.ErrTimeout, ...) for a failing
// module, and ErrNotFinite when its primary score is not a finite number.
// Non-finite secondary scores are dropped.
func (e *Engine) Run(ctx context.Context, v *Validated, m *sandbox.Module) (*Result, error) {
	if e.pool == nil || m == nil {
		return nil, errors.New("engine: no sandbox pool or module")
	}
	sp := v.spec
	ran := time.Now()
	res, err := e.RunInput(ctx, m, v.input)
	if err != nil {
		return nil, fmt.Errorf("run scorer %s: %w", sp.Metric, err)
	}
	metric := time.Since(ran)
	out := &Result{
		Competition:    sp.Slug,
		PrimaryScore:   res.Primary,
		HigherIsBetter: sp.HigherIsBetter,
		Rows:           v.input.Units,
		PerUnit:        res.PerUnit,
		ScorerDigest:   "sha256:" + m.Digest,
		HoldoutDigest:  v.holdout.Digest(),
		EngineVersion:  Version,
		Timing:         Timing{ValidateMS: ms(v.validate), MetricMS: ms(metric), DurationMS: ms(v.validate + metric)},
	}
	for _, n := range res.Secondary {
		if finite(n.Value) {
			if out.Secondary == nil {
				out.Secondary = make(map[string]float64, len(res.Secondary))
			}
			out.Secondary[n.Name] = n.Value
		}
	}
	return out, nil
}

// RunInput runs m on an aligned input (a Validated's Input or a part of
// it) with Run's checks: the sandbox's errors, and ErrNotFinite for a
// non-finite primary score.
func (e *Engine) RunInput(ctx context.Context, m *sandbox.Module, in *abi.Input) (*abi.Result, error) {
	if e.pool == nil || m == nil {
		return nil, errors.New("engine: no sandbox pool or module")
	}
	res, err := e.pool.Score(ctx, m, in)
	if err != nil {
		return nil, err
	}
	if !finite(res.Primary) {
		return nil, fmt.Errorf("%w (got %v)", ErrNotFinite, res.Primary)
	}
	return res, nil
}

// Probe runs m on in like RunInput, in a sandbox instance whose random
// source and clock derive from seed, and reports what the run used
// (sandbox.Pool.Probe); scorer certification runs a module under several
// seeds. The primary score is returned as the module gave it.
func (e *Engine) Probe(ctx context.Context, m *sandbox.Module, in *abi.Input, seed uint64) (*abi.Result, sandbox.Usage, error) {
	if e.pool == nil || m == nil {
		return nil, sandbox.Usage{}, errors.New("engine: no sandbox pool or module")
	}
	return e.pool.Probe(ctx, m, in, seed)
}

// ErrNotFinite is a module's primary score that is NaN or infinite.
var ErrNotFinite = errors.New("primary score is not a finite number")

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
