// Package scoring adapts MedForge's scoring engine (engine.Engine, the one
// assembly of validation, holdout and module caches and the sandboxed run)
// to competitions.Engine. It only maps competitions' types to the engine's
// and the engine's errors to competitions' (engine.PublicMessage decides
// what a participant may see).
//
// It reads holdout files only by the paths the competitions service hands
// it and never returns their bytes: only validation problems (which never
// quote truth values) and scores leave it.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
)

// Engine is the real competitions.Engine. It is safe for concurrent use.
type Engine struct {
	eng  *engine.Engine
	runs atomic.Int64 // sandbox runs made

	mu    sync.Mutex
	masks map[string][]bool // public units by holdout digest and split
	// noPerUnit holds the digests of modules whose result had no per-unit
	// contributions: their splits go straight to a run per part.
	noPerUnit map[string]bool
}

// maxCached bounds the split masks kept.
const maxCached = 16

var _ competitions.Engine = (*Engine)(nil)

// New returns an Engine scoring in pool with the given submission limits.
func New(pool *sandbox.Pool, limits submission.Limits) *Engine {
	return &Engine{eng: engine.New(pool, limits), masks: map[string][]bool{}, noPerUnit: map[string]bool{}}
}

// SandboxRuns is the number of module runs this Engine has made in the
// sandbox (Score, Run and each run of a split), for tests and metrics.
func (e *Engine) SandboxRuns() int64 { return e.runs.Load() }

func ref(h competitions.Holdout) engine.HoldoutRef {
	return engine.HoldoutRef{Spec: h.Spec, Path: h.Path, Digest: h.Digest}
}

// Validate checks file against the holdout's ids and columns.
func (e *Engine) Validate(ctx context.Context, h competitions.Holdout, file []byte) (*engine.Validated, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hd, err := e.eng.Holdout(ref(h))
	if err != nil {
		return nil, err
	}
	v, err := e.eng.Validate(h.Spec, hd, file)
	if err != nil {
		return nil, problems(err)
	}
	return v, nil
}

// Score validates file, aligns it to the holdout and runs m in the sandbox.
func (e *Engine) Score(ctx context.Context, h competitions.Holdout, m competitions.ScorerModule, file []byte) (*engine.Result, error) {
	v, err := e.Validate(ctx, h, file)
	if err != nil {
		return nil, err
	}
	return e.Run(ctx, v, m)
}

// Run scores a submission Validate accepted with m.
func (e *Engine) Run(ctx context.Context, v *engine.Validated, m competitions.ScorerModule) (*engine.Result, error) {
	mod, err := e.eng.Module(ctx, m.Digest, m.Wasm)
	if err != nil {
		return nil, scorerError(err)
	}
	e.runs.Add(1)
	res, err := e.eng.Run(ctx, v, mod)
	if err != nil {
		return nil, scorerError(err)
	}
	return res, nil
}

// holdout is the engine's cached, prepared holdout h.
func (e *Engine) holdout(h competitions.Holdout) (*holdout.Holdout, error) {
	return e.eng.Holdout(ref(h))
}

// validate is Validate's aligned input, for split scoring.
func (e *Engine) validate(h competitions.Holdout, file []byte) (*abi.Input, error) {
	v, err := e.Validate(context.Background(), h, file)
	if err != nil {
		return nil, err
	}
	return v.Input(), nil
}

// loaded is the engine's cached module m, a refused one as a ScorerError.
func (e *Engine) loaded(ctx context.Context, m competitions.ScorerModule) (*sandbox.Module, error) {
	mod, err := e.eng.Module(ctx, m.Digest, m.Wasm)
	if err != nil {
		return nil, scorerError(err)
	}
	return mod, nil
}

// run scores an aligned input (a part of a split) with mod through the
// engine, mapping its failures to ScorerErrors.
func (e *Engine) run(ctx context.Context, mod *sandbox.Module, in *abi.Input) (*abi.Result, error) {
	e.runs.Add(1)
	res, err := e.eng.RunInput(ctx, mod, in)
	if err != nil {
		return nil, scorerError(err)
	}
	return res, nil
}

// Check loads m in the sandbox: ABI marker, imports, exports and
// compilation.
func (e *Engine) Check(ctx context.Context, m competitions.ScorerModule) (string, error) {
	if _, err := e.eng.Module(ctx, "", m.Wasm); err != nil {
		var re *sandbox.RejectedError
		if errors.As(err, &re) {
			return "", &competitions.ScorerError{Public: true, Message: re.Reason, Detail: re.Reason, Kind: competitions.ScorerRejected}
		}
		return "", err
	}
	// The minor version and the start function are checked when the module
	// runs (the sample-submission check of the validation report).
	return fmt.Sprintf("%d", abi.Major), nil
}

// scorerError maps a failure of a module (loading or running it) to a
// *competitions.ScorerError; others (a cancelled context, an I/O error)
// pass through.
func scorerError(err error) error {
	var re *sandbox.RejectedError
	var ge *abi.GuestError
	var te *sandbox.TrapError
	msg, public := engine.PublicMessage(err)
	switch {
	case errors.As(err, &re):
		return &competitions.ScorerError{Message: "the scorer module was rejected", Detail: re.Reason, Kind: competitions.ScorerRejected}
	case errors.As(err, &ge):
		return &competitions.ScorerError{Public: ge.Public, Message: ge.Message, Detail: ge.Message}
	case public:
		return &competitions.ScorerError{Public: true, Message: msg, Detail: err.Error(), Kind: kind(err)}
	case errors.Is(err, sandbox.ErrTimeout), errors.Is(err, sandbox.ErrMemoryLimit):
		// Participants see only the generic message; admins and the
		// certification report see the kind and the detail.
		return &competitions.ScorerError{Message: msg, Detail: err.Error(), Kind: kind(err)}
	case errors.Is(err, sandbox.ErrOutputTooLarge):
		return &competitions.ScorerError{Message: "scorer output too large", Detail: err.Error(), Kind: competitions.ScorerOutput}
	case errors.Is(err, engine.ErrNotFinite):
		return &competitions.ScorerError{Message: "the primary score is not a finite number", Detail: err.Error()}
	case errors.As(err, &te):
		return &competitions.ScorerError{Message: "scorer crashed", Detail: te.Detail, Kind: competitions.ScorerCrash}
	}
	return err
}

// kind classifies a public sandbox failure for the certification report.
func kind(err error) competitions.ScorerErrorKind {
	switch {
	case errors.Is(err, sandbox.ErrTimeout):
		return competitions.ScorerTimeout
	case errors.Is(err, sandbox.ErrMemoryLimit):
		return competitions.ScorerMemory
	}
	return competitions.ScorerVerdict
}

// Probe is Score in a sandbox instance whose random source and clock derive
// from seed, reporting the scoring's memory and time
// (sandbox.Pool.Probe); it implements competitions.ProbeEngine for the
// certification report.
func (e *Engine) Probe(ctx context.Context, h competitions.Holdout, m competitions.ScorerModule, file []byte, seed uint64) (*abi.Result, competitions.Usage, error) {
	in, err := e.validate(h, file)
	if err != nil {
		return nil, competitions.Usage{}, err
	}
	mod, err := e.loaded(ctx, m)
	if err != nil {
		return nil, competitions.Usage{}, err
	}
	res, u, err := e.eng.Probe(ctx, mod, in, seed)
	if err != nil {
		return nil, competitions.Usage{MemoryBytes: u.MemoryBytes, Duration: u.Duration}, scorerError(err)
	}
	return res, competitions.Usage{MemoryBytes: u.MemoryBytes, Duration: u.Duration}, nil
}

// problems converts the validator's refusal into competitions' form.
func problems(err error) error {
	var ie *strictcsv.InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	out := &competitions.InvalidError{Problems: make([]competitions.Problem, 0, len(ie.Problems)+1)}
	out.Problems = append(out.Problems, ie.Problems...)
	if ie.More > 0 || ie.Stopped {
		out.Problems = append(out.Problems, competitions.Problem{Message: fmt.Sprintf("checking stopped after %d problems", len(ie.Problems))})
	}
	return out
}
