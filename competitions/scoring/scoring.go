// Package scoring adapts MedForge's scoring engine (engine/holdout,
// engine/submission and the engine/sandbox pool) to competitions.Engine.
//
// It owns the in-memory cache of prepared holdouts (ids index and truth
// columns), keyed by holdout digest, so validating a submission never
// re-reads the holdout file. It reads holdout files only by the paths the
// competitions service hands it and never returns their bytes: only
// validation problems (which never quote truth values) and scores leave it.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
)

// Engine is the real competitions.Engine. It is safe for concurrent use.
type Engine struct {
	pool   *sandbox.Pool
	limits submission.Limits

	mu       sync.Mutex
	holdouts map[string]*entry
	order    []string
	modules  map[string]*sandbox.Module // by the digest competitions recorded
	masks    map[string][]bool          // public units by holdout digest and split
}

type entry struct {
	once sync.Once
	h    *holdout.Holdout
	err  error
}

var _ competitions.Engine = (*Engine)(nil)

// maxCached bounds the prepared holdouts kept in memory.
const maxCached = 16

// New returns an Engine scoring in pool with the given submission limits.
func New(pool *sandbox.Pool, limits submission.Limits) *Engine {
	return &Engine{pool: pool, limits: limits, holdouts: map[string]*entry{}, modules: map[string]*sandbox.Module{}, masks: map[string][]bool{}}
}

// holdout returns the prepared holdout h, loading it once per digest.
func (e *Engine) holdout(h competitions.Holdout) (*holdout.Holdout, error) {
	key := h.Digest + "\x00" + h.Path
	e.mu.Lock()
	ent := e.holdouts[key]
	if ent == nil {
		ent = &entry{}
		e.holdouts[key] = ent
		e.order = append(e.order, key)
		if len(e.order) > maxCached {
			delete(e.holdouts, e.order[0])
			e.order = e.order[1:]
		}
	}
	e.mu.Unlock()
	ent.once.Do(func() {
		ent.h, ent.err = holdout.ReadFile(h.Spec, h.Path)
		if ent.err == nil && strings.TrimPrefix(ent.h.Digest(), "sha256:") != h.Digest {
			ent.err = fmt.Errorf("holdout %d: content digest %s does not match the recorded %s", h.ID, ent.h.Digest(), h.Digest)
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

// problems converts the validator's refusal into competitions' form.
func problems(err error) error {
	var ie *strictcsv.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	out := &competitions.InvalidError{Problems: make([]competitions.Problem, 0, len(ie.Problems)+1)}
	for _, p := range ie.Problems {
		out.Problems = append(out.Problems, competitions.Problem{Row: p.Row, Column: p.Column, Value: p.Value, Message: p.Message})
	}
	if ie.More > 0 || ie.Stopped {
		out.Problems = append(out.Problems, competitions.Problem{Message: fmt.Sprintf("checking stopped after %d problems", len(ie.Problems))})
	}
	return out
}

func (e *Engine) validate(h competitions.Holdout, file []byte) (*abi.Input, error) {
	hd, err := e.holdout(h)
	if err != nil {
		return nil, err
	}
	in, err := submission.Validate(h.Spec, hd, file, e.limits)
	if err != nil {
		return nil, problems(err)
	}
	return in, nil
}

// Validate checks file against the holdout's ids and columns.
func (e *Engine) Validate(ctx context.Context, h competitions.Holdout, file []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	in, err := e.validate(h, file)
	if err != nil {
		return 0, err
	}
	return in.Units, nil
}

// Score validates file, aligns it to the holdout and runs m in the sandbox.
func (e *Engine) Score(ctx context.Context, h competitions.Holdout, m competitions.ScorerModule, file []byte) (*abi.Result, error) {
	in, err := e.validate(h, file)
	if err != nil {
		return nil, err
	}
	mod, err := e.loaded(ctx, m)
	if err != nil {
		return nil, err
	}
	return e.run(ctx, mod, in)
}

// loaded is module with a refused module as a ScorerError.
func (e *Engine) loaded(ctx context.Context, m competitions.ScorerModule) (*sandbox.Module, error) {
	mod, err := e.module(ctx, m)
	if err != nil {
		var re *sandbox.RejectedError
		if errors.As(err, &re) {
			return nil, &competitions.ScorerError{Message: "the scorer module was rejected", Detail: re.Reason}
		}
		return nil, err
	}
	return mod, nil
}

// run scores in with mod in the sandbox, mapping the sandbox's failures to
// ScorerErrors.
func (e *Engine) run(ctx context.Context, mod *sandbox.Module, in *abi.Input) (*abi.Result, error) {
	res, err := e.pool.Score(ctx, mod, in)
	if err == nil {
		return res, nil
	}
	var ge *abi.GuestError
	var te *sandbox.TrapError
	switch {
	case errors.As(err, &ge):
		return nil, &competitions.ScorerError{Public: ge.Public, Message: ge.Message, Detail: ge.Message}
	case errors.Is(err, sandbox.ErrTimeout):
		return nil, &competitions.ScorerError{Public: true, Message: "scoring exceeded its time limit", Detail: err.Error()}
	case errors.Is(err, sandbox.ErrMemoryLimit):
		return nil, &competitions.ScorerError{Public: true, Message: "scoring exceeded its memory limit", Detail: err.Error()}
	case errors.Is(err, sandbox.ErrOutputTooLarge):
		return nil, &competitions.ScorerError{Message: "scorer output too large", Detail: err.Error()}
	case errors.As(err, &te):
		return nil, &competitions.ScorerError{Message: "scorer crashed", Detail: te.Detail}
	}
	return nil, err
}

// module loads m once per digest: the pool hashes the bytes on every Load,
// which for a multi-megabyte module costs more than a titanic scoring.
func (e *Engine) module(ctx context.Context, m competitions.ScorerModule) (*sandbox.Module, error) {
	e.mu.Lock()
	mod := e.modules[m.Digest]
	e.mu.Unlock()
	if mod != nil && m.Digest != "" {
		return mod, nil
	}
	mod, err := e.pool.Load(ctx, m.Wasm)
	if err != nil {
		return nil, err
	}
	if m.Digest == mod.Digest {
		e.mu.Lock()
		if len(e.modules) >= maxCached {
			clear(e.modules)
		}
		e.modules[m.Digest] = mod
		e.mu.Unlock()
	}
	return mod, nil
}

// Check loads m in the sandbox: ABI marker, imports, exports and
// compilation.
func (e *Engine) Check(ctx context.Context, m competitions.ScorerModule) (string, error) {
	if _, err := e.pool.Load(ctx, m.Wasm); err != nil {
		var re *sandbox.RejectedError
		if errors.As(err, &re) {
			return "", &competitions.ScorerError{Public: true, Message: re.Reason, Detail: re.Reason}
		}
		return "", err
	}
	// The minor version and the start function are checked when the module
	// runs (the sample-submission check of the validation report).
	return fmt.Sprintf("%d", abi.Major), nil
}

var version = func() string {
	v := fmt.Sprintf("medforge-engine abi%d.%d", abi.Major, abi.Minor)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}()

// Version names the engine build.
func (e *Engine) Version() string { return version }
