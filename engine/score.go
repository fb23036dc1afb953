package engine

import (
	"errors"

	"github.com/medforge/medforge/engine/abi"
	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/engine/strictcsv"
)

// Result is one official score. Its JSON form (which leaves out PerUnit
// and Timing) is what `medforge score` prints and what a competition
// records: the same submission, holdout and module give the same bytes
// whichever process scored them.
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
	// Timing is how long this scoring took; it varies between runs, so it
	// is not part of the JSON form.
	Timing Timing `json:"-"`
}

// Timing splits one scoring's time, in milliseconds: validation and
// alignment, the sandboxed run, and their sum.
type Timing struct {
	ValidateMS, MetricMS, DurationMS float64
}

// InvalidSubmission reports whether err means the participant's file broke
// a rule; its *strictcsv.InvalidError lists problems safe to show them.
func InvalidSubmission(err error) (*strictcsv.InvalidError, bool) {
	var ie *strictcsv.InvalidError
	ok := errors.As(err, &ie)
	return ie, ok
}

// PublicMessage is the one rule for what a participant may see of a
// scoring error: the problems of an invalid submission, a scorer error its
// module marked public, or that the run hit its time or memory limit.
// Anything else (crashes, rejected modules, non-finite scores, internal
// scorer errors, which may reveal holdout values) is hidden behind a
// generic message and ok is false.
func PublicMessage(err error) (msg string, ok bool) {
	if ie, ok := InvalidSubmission(err); ok {
		return ie.Error(), true
	}
	var ge *abi.GuestError
	switch {
	case errors.As(err, &ge) && ge.Public:
		return ge.Message, true
	case errors.Is(err, sandbox.ErrTimeout):
		return "scoring exceeded its time limit", true
	case errors.Is(err, sandbox.ErrMemoryLimit):
		return "scoring exceeded its memory limit", true
	}
	return "scoring failed for an internal reason; the organisers have been told", false
}
