package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
)

// Scorer validates submissions against a holdout and runs a scorer module
// in the sandbox. It is safe for concurrent use when Pool is.
type Scorer struct {
	// Pool runs the modules; the caller owns and closes it.
	Pool *sandbox.Pool
	// Limits bound each submission; zero fields take
	// submission.DefaultLimits.
	Limits submission.Limits
}

// Result is one official score. Its JSON form is what `medforge score`
// prints.
type Result struct {
	Competition    string             `json:"competition"`
	PrimaryScore   float64            `json:"primary_score"`
	HigherIsBetter bool               `json:"higher_is_better"`
	Rows           int                `json:"rows"`
	Secondary      map[string]float64 `json:"secondary,omitempty"`
	// PerUnit holds each unit's contribution when the module gives them
	// (NaN for a unit left out of the mean); not printed.
	PerUnit       []float64 `json:"-"`
	ScorerDigest  string    `json:"scorer_digest"`
	HoldoutDigest string    `json:"holdout_digest"`
	EngineVersion string    `json:"engine_version"`
	// DurationMS is the time of validation, alignment and the sandboxed
	// run, in milliseconds (for Score, including reading the reader).
	DurationMS float64 `json:"duration_ms"`
	// ValidateMS and MetricMS split DurationMS.
	ValidateMS float64 `json:"validate_ms"`
	MetricMS   float64 `json:"metric_ms"`
}

// InvalidSubmission reports whether err means the participant's file broke
// a rule; its *strictcsv.InvalidError lists problems safe to show them.
func InvalidSubmission(err error) (*strictcsv.InvalidError, bool) {
	var ie *strictcsv.InvalidError
	ok := errors.As(err, &ie)
	return ie, ok
}

// PublicMessage returns the message a participant may see for err: the
// problems of an invalid submission, or a scorer error its module marked
// public. Anything else (timeouts, crashes, internal scorer errors, which
// may reveal holdout values) is hidden behind a generic message and ok is
// false.
func PublicMessage(err error) (msg string, ok bool) {
	if ie, ok := InvalidSubmission(err); ok {
		return ie.Error(), true
	}
	var ge *abi.GuestError
	if errors.As(err, &ge) && ge.Public {
		return ge.Message, true
	}
	return "scoring failed for an internal reason; the organisers have been told", false
}

// Score reads a submission from sub (within s.Limits), validates it against
// sp and h (which must have been built for sp), aligns it to the holdout
// and runs m on it. Errors: a *strictcsv.InvalidError for an invalid
// submission (see InvalidSubmission); the sandbox's errors (*abi.GuestError,
// sandbox.ErrTimeout, ...) for a failing module; an error when the module's
// primary score is not a finite number; I/O errors of sub.
func (s *Scorer) Score(ctx context.Context, sp spec.Spec, h *holdout.Holdout, sub io.Reader, m *sandbox.Module) (*Result, error) {
	start := time.Now()
	lim := s.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = submission.DefaultLimits.MaxBytes
	}
	data, err := strictcsv.ReadAll(sub, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	return s.score(ctx, sp, h, data, m, start)
}

// ScoreBytes is Score for a submission already in memory. data must not be
// modified during the call.
func (s *Scorer) ScoreBytes(ctx context.Context, sp spec.Spec, h *holdout.Holdout, data []byte, m *sandbox.Module) (*Result, error) {
	return s.score(ctx, sp, h, data, m, time.Now())
}

func (s *Scorer) score(ctx context.Context, sp spec.Spec, h *holdout.Holdout, data []byte, m *sandbox.Module, start time.Time) (*Result, error) {
	v, err := s.validate(sp, h, data, start)
	if err != nil {
		return nil, err
	}
	return s.Run(ctx, v, m)
}

// Validated is a submission that passed validation, aligned to its
// holdout and ready to run. It holds no reference to the submission's
// bytes.
type Validated struct {
	spec     spec.Spec
	holdout  *holdout.Holdout
	input    *abi.Input
	start    time.Time
	validate time.Duration
}

// Units is the number of aligned units (the holdout's).
func (v *Validated) Units() int { return v.input.Units }

// Validate checks a submission in memory against sp and h without running
// anything (Pool may be nil): the intake of a service can reject an invalid
// file at once, and the CLI validates while the sandbox starts. Errors are
// as for Score's validation. data must not be modified during the call.
func (s *Scorer) Validate(sp spec.Spec, h *holdout.Holdout, data []byte) (*Validated, error) {
	return s.validate(sp, h, data, time.Now())
}

func (s *Scorer) validate(sp spec.Spec, h *holdout.Holdout, data []byte, start time.Time) (*Validated, error) {
	in, err := submission.Validate(sp, h, data, s.Limits)
	if err != nil {
		return nil, err
	}
	return &Validated{spec: sp, holdout: h, input: in, start: start, validate: time.Since(start)}, nil
}

// Run scores a validated submission with m in s.Pool. Its Result's
// DurationMS counts from the start of validation, excluding any wait
// between Validate and Run. Errors are as for Score's run.
func (s *Scorer) Run(ctx context.Context, v *Validated, m *sandbox.Module) (*Result, error) {
	if s.Pool == nil || m == nil {
		return nil, errors.New("engine: scorer has no sandbox pool or module")
	}
	sp := v.spec
	ran := time.Now()
	res, err := s.Pool.Score(ctx, m, v.input)
	if err != nil {
		return nil, fmt.Errorf("run scorer %s: %w", sp.Metric, err)
	}
	metric := time.Since(ran)
	if math.IsNaN(res.Primary) || math.IsInf(res.Primary, 0) {
		return nil, fmt.Errorf("run scorer %s: primary score is %v, not a finite number", sp.Metric, res.Primary)
	}
	out := &Result{
		Competition:    sp.Slug,
		PrimaryScore:   res.Primary,
		HigherIsBetter: sp.HigherIsBetter,
		Rows:           v.input.Units,
		PerUnit:        res.PerUnit,
		ScorerDigest:   "sha256:" + m.Digest,
		HoldoutDigest:  v.holdout.Digest(),
		EngineVersion:  Version,
		DurationMS:     ms(v.validate + metric),
		ValidateMS:     ms(v.validate),
		MetricMS:       ms(metric),
	}
	if len(res.Secondary) > 0 {
		out.Secondary = make(map[string]float64, len(res.Secondary))
		for _, n := range res.Secondary {
			if !math.IsNaN(n.Value) && !math.IsInf(n.Value, 0) {
				out.Secondary[n.Name] = n.Value
			}
		}
	}
	return out, nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
