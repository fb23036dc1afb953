package competitions_test

import (
	"strings"
	"testing"

	"github.com/medforge/medforge/competitions"
)

// Roots.Validate repeats config's disjointness rule for callers that build
// Roots themselves.
func TestRootsMustBeDisjoint(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *competitions.Roots)
		want string // substring of the error, "" for none
	}{
		{"fresh tree", func(r *competitions.Roots) {}, ""},
		{"holdouts inside public eval", func(r *competitions.Roots) { r.Holdouts = r.PublicEval + "/hidden" }, "test holdouts dir"},
		{"training equals holdouts", func(r *competitions.Roots) { r.TrainingData = r.Holdouts + "/" }, "must not be inside or equal"},
		{"relative root", func(r *competitions.Roots) { r.Holdouts = "holdouts" }, "absolute"},
		{"siblings with a shared prefix are fine", func(r *competitions.Roots) { r.Holdouts = r.TrainingData + "-hidden" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := competitions.Under("/srv/medforge")
			tc.edit(&r)
			err := r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
