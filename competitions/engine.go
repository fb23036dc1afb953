package competitions

import (
	"context"
	"fmt"
	"time"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
)

// Holdout is one hidden holdout version as the Engine needs it. Path is
// absolute, under TEST_HOLDOUTS_DIR; it never leaves the process.
type Holdout struct {
	ID     int64
	Digest string
	Path   string
	Rows   int
	Spec   spec.Spec
}

// ScorerModule is a scorer's bytes and digest.
type ScorerModule struct {
	ID     int64 // scorer_modules row, 0 when not stored yet
	Digest string
	Wasm   []byte
}

// Engine is the scoring engine as competitions uses it: validation of
// submissions against a holdout's ids and columns, scoring in the sandbox,
// and loading (checking) scorer modules. The real one (competitions/scoring)
// is engine.Engine, the same assembly `medforge score` uses, so a recorded
// score equals the CLI's Result for the same files. Implementations cache
// prepared holdouts per Holdout.Digest and must be safe for concurrent use.
type Engine interface {
	// Validate checks file against h and returns it aligned to h, ready to
	// Run (it holds no reference to file). An invalid file is an
	// *InvalidError listing the problems; any other error is an internal
	// failure.
	Validate(ctx context.Context, h Holdout, file []byte) (*engine.Validated, error)
	// Run scores a validated submission with m. Failures of the module
	// itself (including a non-finite primary score) are *ScorerError.
	Run(ctx context.Context, v *engine.Validated, m ScorerModule) (*engine.Result, error)
	// Score is Validate then Run.
	Score(ctx context.Context, h Holdout, m ScorerModule, file []byte) (*engine.Result, error)
	// ScoreSplit validates file against h and scores it on both parts of
	// the split sp (see SplitResult). Failures are as for Score.
	ScoreSplit(ctx context.Context, h Holdout, m ScorerModule, file []byte, sp Split) (*SplitResult, error)
	// PublicUnits marks h's public units under sp, in holdout order (a
	// fresh slice the caller may change).
	PublicUnits(ctx context.Context, h Holdout, sp Split) ([]bool, error)
	// Check loads m in the sandbox (ABI version, imports, exports, compile
	// and start) and returns the ABI version it reports, such as "1.0".
	// A refused module is a *ScorerError with Public set.
	Check(ctx context.Context, m ScorerModule) (abiVersion string, err error)
}

// ProbeEngine is an Engine that can also score in a sandbox whose random
// source and clock derive from seed instead of the fixed ones every official
// scoring sees, and report what the scoring used. The certification report
// runs a module under several seeds: a score that moves with the seed
// depends on something besides its input.
type ProbeEngine interface {
	Probe(ctx context.Context, h Holdout, m ScorerModule, file []byte, seed uint64) (*abi.Result, Usage, error)
}

// Usage is what one scoring used: the scorer's linear memory at its end
// (its peak) and the sandbox time.
type Usage struct {
	MemoryBytes uint64
	Duration    time.Duration
}

// Split scoring methods, recorded with every split score.
const (
	// SplitOneRun: one sandbox run; each part's score is the mean of its
	// units' per-unit contributions (metrics that are means over units).
	SplitOneRun = "one_run"
	// SplitPerPart: one run per part, on that part's units only.
	SplitPerPart = "per_part"
)

// PartScore is a submission's score on one part of a split holdout.
type PartScore struct {
	Primary float64
	// Secondary values of a per-part run; a one-run split has none (values
	// computed over the whole holdout would leak the private part).
	Secondary []abi.Named
	Units     int
}

// SplitResult is a submission scored on both parts of a split holdout.
type SplitResult struct {
	Public, Private PartScore
	// InPublic marks the public units, in holdout order.
	InPublic []bool
	// PerUnit holds the per-unit contributions in holdout order (both
	// parts), for one-run splits; nil otherwise.
	PerUnit []float64
	// Method is SplitOneRun or SplitPerPart.
	Method string
}

// Problem is one reason a submitted file is invalid: the engine's own
// (strictcsv.Problem), so it prints the same in every layer. Row is 1-based
// (the header is row 1) or 0 for the whole file; Column and Value may be
// empty.
type Problem = strictcsv.Problem

// InvalidError is a submission the validator refused; Problems are safe to
// show its author.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid submission"
	}
	return fmt.Sprintf("invalid submission: %s (and %d more)", e.Problems[0], len(e.Problems)-1)
}

// ScorerError is a failure of a scorer module. Public says Message is safe
// to show the participant; Detail is for logs and admins only.
type ScorerError struct {
	Public  bool
	Message string
	Detail  string
	// Kind says what failed; the certification report counts by it.
	Kind ScorerErrorKind
}

// ScorerErrorKind classifies a ScorerError.
type ScorerErrorKind string

// Kinds of ScorerError. The zero kind is the module's own verdict (an
// error it returned, public or not).
const (
	ScorerVerdict  ScorerErrorKind = ""
	ScorerTimeout  ScorerErrorKind = "timeout"
	ScorerMemory   ScorerErrorKind = "memory"
	ScorerCrash    ScorerErrorKind = "crash"
	ScorerOutput   ScorerErrorKind = "output"
	ScorerRejected ScorerErrorKind = "rejected"
)

func (e *ScorerError) Error() string {
	if e.Detail != "" {
		return "scorer failed: " + e.Message + ": " + e.Detail
	}
	return "scorer failed: " + e.Message
}
