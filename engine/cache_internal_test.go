package engine

import (
	"path/filepath"
	"testing"

	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
)

// A holdout that fails to load leaves nothing behind in the cache, not
// even its place in the eviction order: a stale place there would evict the
// same key's next, good entry early and make it load again.
func TestFailedHoldoutLoadLeavesNoEvictionEntry(t *testing.T) {
	sp, _ := spec.Builtin(spec.Titanic)
	e := New(nil, submission.Limits{})
	ref := HoldoutRef{Spec: sp, Digest: "00", Path: filepath.Join(t.TempDir(), "missing.arrow")}
	for range 3 {
		if _, err := e.Holdout(ref); err == nil {
			t.Fatal("a missing holdout file loaded")
		}
	}
	if len(e.holdouts) != 0 || len(e.order) != 0 {
		t.Fatalf("after failed loads: %d cached, %d in the eviction order; want 0 and 0", len(e.holdouts), len(e.order))
	}
}
