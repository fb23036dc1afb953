package workspace_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions/workspace"
)

// The ZFS provider's logic (dataset layout, parent creation, quota at
// creation, mountpoint ownership, idempotent snapshots, snapshot listing)
// against a FAKE zfs command (testdata/fakezfs/zfs): this host has no ZFS.
// The fake records datasets; it is not a file system.
func TestZFSProviderWithFakeZFS(t *testing.T) {
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
	z, err := workspace.NewZFS("", "1073741824")
	require.NoError(t, err)
	assert.Equal(t, "zfs", z.Kind())

	ws, err := z.Ensure(ctx, 7, 42)
	require.NoError(t, err)
	assert.Equal(t, "tank/medforge/workspaces/7/42", ws.Name)
	assert.Equal(t, filepath.Join(state, "mnt", "tank/medforge/workspaces/7/42"), ws.HostPath)
	if os.Geteuid() == 0 {
		fi, err := os.Stat(ws.HostPath)
		require.NoError(t, err)
		assert.EqualValues(t, 1000, fi.Sys().(*syscall.Stat_t).Uid)
	}
	again, err := z.Ensure(ctx, 7, 42)
	require.NoError(t, err)
	assert.Equal(t, ws, again)
	_, err = z.Ensure(ctx, 7, 43) // the user's dataset exists already
	require.NoError(t, err)
	db, err := os.ReadFile(filepath.Join(state, "datasets"))
	require.NoError(t, err)
	assert.Contains(t, string(db), "tank/medforge/workspaces/7/42\tfilesystem\t1073741824\t", "quota set at creation")
	assert.Contains(t, string(db), "tank/medforge/workspaces/7\tfilesystem\t0\t", "no quota on the user's parent dataset")

	require.NoError(t, z.Snapshot(ctx, ws.Name, "stop-100"))
	require.NoError(t, z.Snapshot(ctx, ws.Name, "stop-100"), "idempotent")
	require.NoError(t, z.Snapshot(ctx, ws.Name, "stop-200"))
	names, err := z.Snapshots(ctx, ws.Name)
	require.NoError(t, err)
	assert.Equal(t, []string{"stop-100", "stop-200"}, names)
	db, _ = os.ReadFile(filepath.Join(state, "datasets"))
	assert.Equal(t, 1, strings.Count(string(db), "tank/medforge/workspaces/7/42@stop-100\t"))

	assert.Error(t, z.Snapshot(ctx, "tank/other/1/2", "stop-1"), "outside the parent")
	assert.Error(t, z.Snapshot(ctx, ws.Name+"@x", "stop-1"))
}
