package competitions_test

import (
	"strings"
	"testing"

	"github.com/medforge/medforge/competitions"
)

func TestRootsMustBeDisjoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // substring of the error, "" for none
	}{
		{"defaults under the run dir", nil, ""},
		{"holdouts inside public eval", map[string]string{
			"MEDFORGE_PUBLIC_EVAL_DATA_ROOT": "/srv/public", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/public/hidden"}, "MEDFORGE_TEST_HOLDOUTS_DIR"},
		{"training equals holdouts", map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/x", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/x/"}, "must not be inside or equal"},
		{"public eval inside training", map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/t", "MEDFORGE_PUBLIC_EVAL_DATA_ROOT": "/srv/t/p"}, "MEDFORGE_PUBLIC_EVAL_DATA_ROOT"},
		{"relative root", map[string]string{"MEDFORGE_TEST_HOLDOUTS_DIR": "holdouts"}, "absolute"},
		{"siblings with a shared prefix are fine", map[string]string{
			"MEDFORGE_TRAINING_DATA_ROOT": "/srv/data", "MEDFORGE_TEST_HOLDOUTS_DIR": "/srv/data-hidden"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := competitions.RootsFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, "/run/medforge")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
