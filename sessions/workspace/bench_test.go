package workspace_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/workspace"
)

// TestBenchRestore measures restoring a workspace of MEDFORGE_RESTORE_BENCH_MIB
// (default 1024 MiB) from its stop snapshot: the ZFS provider's clone against
// the directory provider's copy. The ZFS path runs on the FAKE zfs command
// (testdata/fakezfs/zfs) with FAKE_ZFS_OVERLAY=1, which makes a clone an
// overlay mount (copy-on-write and instant, as a ZFS clone is), so the figure
// is go-zfs plus the provider's work, not real ZFS. It runs only with
// MEDFORGE_SESSIONS_BENCH=1 (ops/bench/bench-sessions.sh).
func TestBenchRestore(t *testing.T) {
	if os.Getenv("MEDFORGE_SESSIONS_BENCH") != "1" {
		t.Skip("benchmark: set MEDFORGE_SESSIONS_BENCH=1 (make bench)")
	}
	mib := 1024
	if v := os.Getenv("MEDFORGE_RESTORE_BENCH_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		mib = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	fill := func(dir string) {
		chunk := make([]byte, 16<<20)
		_, _ = rand.Read(chunk)
		for i := 0; i < mib/16; i++ {
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("part%03d.bin", i)), chunk, 0o644))
		}
	}

	// Directory provider: a copy.
	d, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	ws, err := d.Ensure(ctx, 1, 1)
	require.NoError(t, err)
	fill(ws.HostPath)
	require.NoError(t, d.Snapshot(ctx, ws.Name, "stop-1"))
	exec.Command("sync").Run()
	t0 := time.Now()
	_, err = d.Restore(ctx, 1, 2, ws.Name+"@stop-1")
	require.NoError(t, err)
	copyTook := time.Since(t0)

	// ZFS provider on the fake zfs, clones as overlay mounts.
	fake, err := filepath.Abs("testdata/fakezfs")
	require.NoError(t, err)
	state := t.TempDir()
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_ZFS_STATE", state)
	t.Setenv("FAKE_ZFS_OVERLAY", "1")
	for _, ds := range []string{"tank", "tank/medforge", "tank/medforge/workspaces"} {
		out, err := exec.Command("zfs", "create", ds).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	z, err := workspace.NewZFS("", "")
	require.NoError(t, err)
	zws, err := z.Ensure(ctx, 1, 1)
	require.NoError(t, err)
	fill(zws.HostPath)
	require.NoError(t, z.Snapshot(ctx, zws.Name, "stop-1"))
	exec.Command("sync").Run()
	t1 := time.Now()
	clone, err := z.Restore(ctx, 1, 2, zws.Name+"@stop-1")
	cloneTook := time.Since(t1)
	if err != nil && os.Geteuid() != 0 {
		t.Skipf("the fake's overlay clone needs root: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = exec.Command("umount", clone.HostPath).Run() })
	_, err = os.Stat(filepath.Join(clone.HostPath, "part000.bin"))
	require.NoError(t, err)
	var _ sessions.Workspace = clone
	fmt.Printf("BENCH restore of a %d MiB workspace: directory copy %s, ZFS clone (FAKE zfs, overlay) %s: clone is %.0fx faster than copy\n",
		mib, copyTook.Round(time.Millisecond), cloneTook.Round(time.Millisecond), float64(copyTook)/float64(cloneTook))
}
