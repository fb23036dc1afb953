package competitions_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Ensure gives the roots their modes whatever they had: session containers
// (uid 1000) must read the training and public eval mounts, and nobody but
// medforge the holdouts and the stores.
func TestEnsureSetsRootModes(t *testing.T) {
	t.Parallel()
	r := competitions.Under(t.TempDir())
	for _, d := range []string{r.TrainingData, r.PublicEval, r.Holdouts} {
		if err := os.Mkdir(d, 0o750); err != nil { // as an earlier version made them
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Ensure(); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{r.TrainingData: 0o755, r.PublicEval: 0o755,
		r.Holdouts: 0o700, r.Submissions: 0o700, r.Scorers: 0o700}
	for d, m := range want {
		assertMode(t, d, m)
	}
}

// Installed public files are world-readable in world-readable folders;
// holdouts, submitted files and scorer modules are private.
func TestStoredFileModes(t *testing.T) {
	e := setup(t, setupOpts{})
	ctx := ctxT(t, time.Minute)
	if _, err := e.svc.Submit(ctx, e.user(t, "modes"), e.slug, "s.csv", e.sample()); err != nil {
		t.Fatal(err)
	}
	check := func(root string, dirMode, fileMode os.FileMode) {
		t.Helper()
		files := 0
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				assertMode(t, p, dirMode)
			} else {
				files++
				assertMode(t, p, fileMode)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Errorf("%s holds no files", root)
		}
	}
	check(e.roots.TrainingData, 0o755, 0o644)
	check(e.roots.PublicEval, 0o755, 0o644)
	check(e.roots.Holdouts, 0o700, 0o600)
	check(e.roots.Submissions, 0o700, 0o600)
	check(e.roots.Scorers, 0o700, 0o600)
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", p, got, want)
	}
}
