package competitions

import (
	"context"
	"fmt"
	"strings"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/spec"
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
// and loading (checking) scorer modules. Implementations cache prepared
// holdouts per Holdout.Digest and must be safe for concurrent use.
type Engine interface {
	// Validate checks file against h and returns its row count. An invalid
	// file is an *InvalidError listing the problems; any other error is an
	// internal failure.
	Validate(ctx context.Context, h Holdout, file []byte) (rows int, err error)
	// Score validates, aligns and scores file against h with m.
	// Failures of the module itself are *ScorerError.
	Score(ctx context.Context, h Holdout, m ScorerModule, file []byte) (*abi.Result, error)
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
	// Version names the engine build; it is recorded with every score.
	Version() string
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

// Problem is one reason a submitted file is invalid. Row is 1-based (the
// header is row 1) or 0 for the whole file; Column and Value may be empty.
type Problem struct {
	Row     int    `json:"row,omitempty"`
	Column  string `json:"column,omitempty"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Row > 0 {
		fmt.Fprintf(&b, "row %d: ", p.Row)
	}
	if p.Column != "" {
		fmt.Fprintf(&b, "column %q: ", p.Column)
	}
	if p.Value != "" {
		fmt.Fprintf(&b, "value %q: ", p.Value)
	}
	b.WriteString(p.Message)
	return b.String()
}

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
}

func (e *ScorerError) Error() string {
	if e.Detail != "" {
		return "scorer failed: " + e.Message + ": " + e.Detail
	}
	return "scorer failed: " + e.Message
}
