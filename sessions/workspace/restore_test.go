package workspace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/workspace"
)

// Restoring a directory snapshot copies it into a new, writable workspace;
// the snapshot stays unchanged when the new workspace is written; deleting
// the snapshot removes it (and again is a no-op); bad names are refused.
func TestDirectoryRestoreAndDelete(t *testing.T) {
	t.Parallel()
	d, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	ctx := ctxT(t)
	ws, err := d.Ensure(ctx, 1, 2)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(ws.HostPath, "src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ws.HostPath, "src", "model.py"), []byte("v1"), 0o644))
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(ws.HostPath, "link")))
	require.NoError(t, d.Snapshot(ctx, ws.Name, "stop-100"))
	snap := ws.Name + "@stop-100"

	size, err := d.SnapshotSize(ctx, snap)
	require.NoError(t, err)
	assert.EqualValues(t, 2, size)
	p, err := d.SnapshotPath(ctx, snap)
	require.NoError(t, err)
	assert.Equal(t, snap, p)

	restored, err := d.Restore(ctx, 1, 3, snap)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(d.Root(), "1", "3"), restored.HostPath)
	assert.False(t, restored.Clone, "a copy does not depend on its snapshot")
	got, err := os.ReadFile(filepath.Join(restored.HostPath, "src", "model.py"))
	require.NoError(t, err)
	assert.Equal(t, "v1", string(got))
	link, err := os.Readlink(filepath.Join(restored.HostPath, "link"))
	require.NoError(t, err)
	assert.Equal(t, "/etc/shadow", link, "links are copied as links")
	require.NoError(t, os.WriteFile(filepath.Join(restored.HostPath, "src", "model.py"), []byte("v2"), 0o644), "the restored workspace is writable")
	require.NoError(t, os.WriteFile(filepath.Join(restored.HostPath, "src", "new.py"), []byte("x"), 0o644))
	got, _ = os.ReadFile(filepath.Join(snap, "src", "model.py"))
	assert.Equal(t, "v1", string(got), "the snapshot is unchanged")

	again, err := d.Restore(ctx, 1, 3, snap)
	require.NoError(t, err, "idempotent")
	assert.Equal(t, restored, again)
	got, _ = os.ReadFile(filepath.Join(again.HostPath, "src", "model.py"))
	assert.Equal(t, "v2", string(got), "a repeated restore keeps the workspace as it is")

	bad := []string{
		"/etc@stop-1",
		filepath.Join(d.Root(), "..", "x") + "@stop-1",
		ws.Name + "@../../x",
		ws.Name + "@stop-1x",
		ws.Name,
		"",
	}
	for _, b := range bad {
		_, err := d.Restore(ctx, 1, 4, b)
		assert.Error(t, err, "restore %q", b)
		assert.Error(t, d.DeleteSnapshot(ctx, b), "delete %q", b)
		_, err = d.SnapshotPath(ctx, b)
		assert.Error(t, err, "path %q", b)
	}
	_, err = d.Restore(ctx, 1, 5, ws.Name+"@stop-999")
	assert.Error(t, err, "a missing snapshot")

	require.NoError(t, d.DeleteSnapshot(ctx, snap))
	_, err = os.Stat(snap)
	assert.True(t, os.IsNotExist(err))
	require.NoError(t, d.DeleteSnapshot(ctx, snap), "deleting a deleted snapshot is a no-op")
	_, err = os.Stat(filepath.Join(restored.HostPath, "src", "new.py"))
	assert.NoError(t, err, "the restored workspace does not depend on the snapshot")
	left, _ := filepath.Glob(filepath.Join(d.Root(), "1", ".*"))
	assert.Empty(t, left, "no temporary folders left")
}

// The ZFS provider restores by zfs clone and refuses to destroy a snapshot
// a clone depends on, against a FAKE zfs (testdata/fakezfs/zfs; this host
// has no ZFS): the fake copies where ZFS clones.
func TestZFSRestoreWithFakeZFS(t *testing.T) {
	fake, err := filepath.Abs("testdata/fakezfs")
	require.NoError(t, err)
	state := t.TempDir()
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_ZFS_STATE", state)
	for _, ds := range []string{"tank", "tank/medforge", "tank/medforge/workspaces"} {
		out, err := exec.Command("zfs", "create", ds).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	ctx := ctxT(t)
	z, err := workspace.NewZFS("", "")
	require.NoError(t, err)
	ws, err := z.Ensure(ctx, 7, 42)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(ws.HostPath, "notes.txt"), []byte("hello"), 0o644))
	require.NoError(t, z.Snapshot(ctx, ws.Name, "stop-100"))
	snap := ws.Name + "@stop-100"

	p, err := z.SnapshotPath(ctx, snap)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(ws.HostPath, ".zfs", "snapshot", "stop-100"), p)
	size, err := z.SnapshotSize(ctx, snap)
	require.NoError(t, err)
	assert.Positive(t, size)

	restored, err := z.Restore(ctx, 7, 43, snap)
	require.NoError(t, err)
	assert.Equal(t, "tank/medforge/workspaces/7/43", restored.Name)
	assert.True(t, restored.Clone)
	got, err := os.ReadFile(filepath.Join(restored.HostPath, "notes.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	again, err := z.Restore(ctx, 7, 43, snap)
	require.NoError(t, err)
	assert.Equal(t, restored, again, "idempotent")

	err = z.DeleteSnapshot(ctx, snap)
	assert.ErrorIs(t, err, sessions.ErrSnapshotInUse, "the clone's origin is kept")
	_, err = os.Stat(p)
	assert.NoError(t, err)

	require.NoError(t, z.Snapshot(ctx, ws.Name, "stop-200"))
	require.NoError(t, z.DeleteSnapshot(ctx, ws.Name+"@stop-200"))
	names, err := z.Snapshots(ctx, ws.Name)
	require.NoError(t, err)
	assert.Equal(t, []string{"stop-100"}, names)
	require.NoError(t, z.DeleteSnapshot(ctx, ws.Name+"@stop-200"), "a missing snapshot is not an error")
	_, err = z.Restore(ctx, 7, 44, ws.Name+"@stop-200")
	assert.Error(t, err)
	_, err = z.Restore(ctx, 7, 45, "tank/other/1@stop-1")
	assert.Error(t, err, "outside the parent")
}
