package workspace_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions/workspace"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDirectoryEnsure(t *testing.T) {
	t.Parallel()
	d, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	ctx := ctxT(t)
	ws, err := d.Ensure(ctx, 7, 42)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(d.Root(), "7", "42"), ws.HostPath)
	assert.Equal(t, ws.HostPath, ws.Name)
	fi, err := os.Stat(ws.HostPath)
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		assert.EqualValues(t, 1000, fi.Sys().(*syscall.Stat_t).Uid)
		assert.EqualValues(t, 1000, fi.Sys().(*syscall.Stat_t).Gid)
	}
	again, err := d.Ensure(ctx, 7, 42)
	require.NoError(t, err)
	assert.Equal(t, ws, again)
	_, err = d.Ensure(ctx, 0, 1)
	assert.Error(t, err)
}

// A snapshot is a read-only copy; taking it again is a no-op; a user's
// symbolic link is copied as a link, never followed; leftovers of a copy
// cut short are cleaned up; names outside the root are refused.
func TestDirectorySnapshot(t *testing.T) {
	t.Parallel()
	d, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	ctx := ctxT(t)
	ws, err := d.Ensure(ctx, 1, 2)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(ws.HostPath, "src", "deep"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ws.HostPath, "src", "deep", "a.txt"), []byte("hello"), 0o644))
	secret := filepath.Join(t.TempDir(), "host-secret")
	require.NoError(t, os.WriteFile(secret, []byte("host only"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(ws.HostPath, "link")))
	// A partial copy left by a crash.
	require.NoError(t, os.MkdirAll(filepath.Join(d.Root(), "1", ".2@stop-100.partial-dead"), 0o755))

	require.NoError(t, d.Snapshot(ctx, ws.Name, "stop-100"))
	snap := ws.Name + "@stop-100"
	data, err := os.ReadFile(filepath.Join(snap, "src", "deep", "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(data))
	for _, p := range []string{snap, filepath.Join(snap, "src"), filepath.Join(snap, "src", "deep", "a.txt")} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o222, "%s is read-only", p)
	}
	target, err := os.Readlink(filepath.Join(snap, "link"))
	require.NoError(t, err)
	assert.Equal(t, secret, target, "the link is copied, not what it points to")
	partials, _ := filepath.Glob(filepath.Join(d.Root(), "1", ".*partial*"))
	assert.Empty(t, partials)

	// Idempotent: the workspace changes, the existing snapshot does not.
	require.NoError(t, os.WriteFile(filepath.Join(ws.HostPath, "src", "deep", "a.txt"), []byte("changed"), 0o644))
	require.NoError(t, d.Snapshot(ctx, ws.Name, "stop-100"))
	data, _ = os.ReadFile(filepath.Join(snap, "src", "deep", "a.txt"))
	assert.Equal(t, "hello", string(data))

	require.NoError(t, d.Snapshot(ctx, ws.Name, "stop-200"))
	names, err := d.Snapshots(ctx, ws.Name)
	require.NoError(t, err)
	assert.Equal(t, []string{"stop-100", "stop-200"}, names)

	tests := []struct{ name, ws, snap string }{
		{name: "outside the root", ws: "/etc", snap: "stop-1"},
		{name: "parent escape", ws: filepath.Join(d.Root(), "..", "x"), snap: "stop-1"},
		{name: "bad snapshot name", ws: ws.Name, snap: "../../x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Error(t, d.Snapshot(ctx, tc.ws, tc.snap))
		})
	}
}

// Concurrent snapshots of the same name (two finalizers racing) leave
// exactly one snapshot and no partial copies.
func TestDirectorySnapshotConcurrent(t *testing.T) {
	t.Parallel()
	d, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	ctx := ctxT(t)
	ws, err := d.Ensure(ctx, 3, 4)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(ws.HostPath, "f"), []byte(strings.Repeat("x", 1<<16)), 0o644))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.Snapshot(ctx, ws.Name, "stop-7")
		}()
	}
	wg.Wait()
	names, err := d.Snapshots(ctx, ws.Name)
	require.NoError(t, err)
	assert.Equal(t, []string{"stop-7"}, names)
}

// The ZFS provider needs a zfs command and pool; hosts without ZFS say so.
func TestZFSUnavailableHere(t *testing.T) {
	t.Parallel()
	_, err := workspace.NewZFS("", "")
	if err == nil {
		t.Skip("this host has ZFS with tank/medforge/workspaces; the directory tests cover the contract")
	}
	assert.Contains(t, err.Error(), "ZFS")
}
