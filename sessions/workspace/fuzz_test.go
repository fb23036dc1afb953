package workspace_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medforge/medforge/sessions/workspace"
)

// FuzzDirectorySnapshotNames: whatever snapshot name reaches the directory
// provider (names come from the database, restores from users' requests),
// SnapshotPath never answers a path outside its root, and Restore and
// DeleteSnapshot never touch anything outside it.
func FuzzDirectorySnapshotNames(f *testing.F) {
	root := f.TempDir()
	d, err := workspace.NewDirectory(filepath.Join(root, "ws"))
	if err != nil {
		f.Fatal(err)
	}
	outside := filepath.Join(root, "outside@stop-1")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		d.Root() + "/1/2@stop-100", d.Root() + "/../outside@stop-1", "/etc@stop-1", d.Root() + "/1/2@stop-1/../../..",
		d.Root() + "/1/2@@stop-1", "@stop-1", d.Root() + "/1/2@", d.Root() + "@stop-1", d.Root() + "/1/2@stop-1\x00",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string) {
		if p, err := d.SnapshotPath(ctx, name); err == nil {
			rel, rerr := filepath.Rel(d.Root(), p)
			if rerr != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
				t.Fatalf("SnapshotPath(%q) = %q, outside %s", name, p, d.Root())
			}
		}
		_ = d.DeleteSnapshot(ctx, name)
		if _, err := os.Stat(outside); err != nil {
			t.Fatalf("DeleteSnapshot(%q) removed a folder outside the root", name)
		}
		if ws, err := d.Restore(ctx, 9, 9, name); err == nil {
			t.Fatalf("Restore(%q) made %s from a snapshot that does not exist", name, ws.HostPath)
		}
	})
}
