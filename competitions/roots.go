package competitions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Roots are the directories competitions reads and writes. TrainingData,
// PublicEval and Holdouts are the three disjoint data roots of the
// architecture; Submissions and Scorers are content-addressed stores. The
// config package reads them (MEDFORGE_TRAINING_DATA_ROOT, ...).
type Roots struct {
	// TrainingData (TRAINING_DATA_ROOT) holds training files, served publicly.
	TrainingData string
	// PublicEval (PUBLIC_EVAL_DATA_ROOT) holds public eval files and sample
	// submissions, served publicly.
	PublicEval string
	// Holdouts (TEST_HOLDOUTS_DIR) holds hidden labels; never served.
	Holdouts string
	// Submissions holds submitted files by SHA-256.
	Submissions string
	// Scorers holds scorer modules (.wasm) by SHA-256.
	Scorers string
	// Owner, when set, owns every root and everything stored in them
	// (MEDFORGE_DATA_OWNER); see FileOwner.
	Owner *FileOwner
}

// Under returns roots for a fresh directory tree under dir (tests, dev runs).
func Under(dir string) Roots {
	return Roots{
		TrainingData: filepath.Join(dir, "training"),
		PublicEval:   filepath.Join(dir, "public-eval"),
		Holdouts:     filepath.Join(dir, "test-holdouts"),
		Submissions:  filepath.Join(dir, "submissions"),
		Scorers:      filepath.Join(dir, "scorers"),
	}
}

func (r Roots) named() [][2]string {
	return [][2]string{
		{"training data root", r.TrainingData}, {"public eval data root", r.PublicEval},
		{"test holdouts dir", r.Holdouts}, {"submissions store", r.Submissions},
		{"scorer store", r.Scorers},
	}
}

// Validate checks that every root is set and absolute and that no root is
// inside another (the holdouts must never be reachable from a public root).
func (r Roots) Validate() error {
	var errs []error
	n := r.named()
	for _, kv := range n {
		if kv[1] == "" || !filepath.IsAbs(kv[1]) {
			errs = append(errs, fmt.Errorf("%s must be an absolute path, got %q", kv[0], kv[1]))
		}
	}
	for i := range n {
		for j := range n {
			if i != j && n[i][1] != "" && within(n[j][1], n[i][1]) {
				errs = append(errs, fmt.Errorf("%s (%s) must not be inside or equal to %s (%s)", n[i][0], n[i][1], n[j][0], n[j][1]))
			}
		}
	}
	return errors.Join(errs...)
}

// Modes of the roots and what is stored in them. Session containers run as
// an unprivileged user (uid 1000) and mount the training and public eval
// roots read-only, so those are world-readable; the holdouts and the
// content-addressed stores are private to the medforge process.
const (
	publicDirMode   os.FileMode = 0o755
	publicFileMode  os.FileMode = 0o644
	privateDirMode  os.FileMode = 0o700
	privateFileMode os.FileMode = 0o600
)

// Ensure creates every root and sets its mode: the training and public
// eval roots 0755, the holdouts and the stores 0700. An existing root with
// another mode is changed, except on a read-only mount (a container that
// only reads the root), where it is left as the host made it.
func (r Roots) Ensure() error {
	for _, kv := range r.named() {
		mode := privateDirMode
		if kv[1] == r.TrainingData || kv[1] == r.PublicEval {
			mode = publicDirMode
		}
		if err := ensureDir(kv[1], mode, r.Owner); err != nil {
			return fmt.Errorf("create %s: %w", kv[0], err)
		}
	}
	return nil
}

// ensureDir creates dir (and missing parents) and gives dir exactly mode,
// whatever the umask. A read-only file system keeps the mode it has.
// With an owner, dir and the parents it creates are given to it.
func ensureDir(dir string, mode os.FileMode, owner *FileOwner) error {
	if err := owner.mkdirAll(dir, mode); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if owner != nil {
		if err := owner.chown(dir); err != nil && !errors.Is(err, syscall.EROFS) {
			return err
		}
	}
	if st.Mode().Perm() == mode {
		return nil
	}
	if err := os.Chmod(dir, mode); err != nil && !errors.Is(err, syscall.EROFS) {
		return err
	}
	return nil
}

// within reports whether p is parent or inside it (lexically).
func within(parent, p string) bool {
	parent, p = filepath.Clean(parent), filepath.Clean(p)
	if p == parent {
		return true
	}
	return strings.HasPrefix(p, parent+string(filepath.Separator))
}

// resolve joins a stored relative path to root and refuses any result
// outside root, so a corrupted row cannot reach another root.
func resolve(root, rel string) (string, error) {
	if rel == "" || filepath.IsAbs(rel) {
		return "", fmt.Errorf("stored path %q is not relative", rel)
	}
	p := filepath.Join(root, rel)
	if !within(root, p) || p == filepath.Clean(root) {
		return "", fmt.Errorf("stored path %q escapes its root", rel)
	}
	return p, nil
}
