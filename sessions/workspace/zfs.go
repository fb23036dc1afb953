package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	zfs "github.com/mistifyio/go-zfs/v3"

	"github.com/medforge/medforge/sessions"
)

// ZFS is the production workspace provider: dataset
// <parent>/<user_id>/<session_id> (parent defaults to
// tank/medforge/workspaces), an optional quota set at creation, the
// mountpoint owned by 1000:1000, and stop snapshots <dataset>@stop-<unixms>,
// which ZFS makes atomic and read-only.
type ZFS struct {
	parent string
	quota  string // "" for none, else a zfs size such as 50G
}

var _ sessions.WorkspaceProvider = (*ZFS)(nil)

// DefaultZFSParent is the dataset that holds every user's workspaces.
const DefaultZFSParent = "tank/medforge/workspaces"

// NewZFS checks that the zfs command exists and that parent is a dataset.
func NewZFS(parent, quota string) (*ZFS, error) {
	if parent == "" {
		parent = DefaultZFSParent
	}
	if _, err := exec.LookPath("zfs"); err != nil {
		return nil, errors.New("zfs command not found: this host has no ZFS; use the directory workspace provider")
	}
	if _, err := zfs.GetDataset(parent); err != nil {
		return nil, fmt.Errorf("workspace parent dataset %s: %w", parent, err)
	}
	return &ZFS{parent: parent, quota: quota}, nil
}

// Kind is "zfs".
func (z *ZFS) Kind() string { return "zfs" }

// Ensure creates the user's dataset and the session's dataset when missing.
func (z *ZFS) Ensure(_ context.Context, userID, sessionID int64) (sessions.Workspace, error) {
	if userID <= 0 || sessionID <= 0 {
		return sessions.Workspace{}, fmt.Errorf("workspace for user %d session %d: ids must be positive", userID, sessionID)
	}
	userDS := z.parent + "/" + strconv.FormatInt(userID, 10)
	if _, err := getOrCreate(userDS, nil); err != nil {
		return sessions.Workspace{}, err
	}
	props := map[string]string{}
	if z.quota != "" {
		props["quota"] = z.quota
	}
	name := userDS + "/" + strconv.FormatInt(sessionID, 10)
	ds, err := getOrCreate(name, props)
	if err != nil {
		return sessions.Workspace{}, err
	}
	if ds.Mountpoint == "" || ds.Mountpoint == "none" || ds.Mountpoint == "legacy" {
		return sessions.Workspace{}, fmt.Errorf("workspace dataset %s has no mountpoint", name)
	}
	if err := os.Lchown(ds.Mountpoint, IDEUser, IDEGroup); err != nil {
		return sessions.Workspace{}, fmt.Errorf("chown workspace %s: %w", ds.Mountpoint, err)
	}
	return sessions.Workspace{Name: name, HostPath: ds.Mountpoint}, nil
}

func getOrCreate(name string, props map[string]string) (*zfs.Dataset, error) {
	if ds, err := zfs.GetDataset(name); err == nil {
		return ds, nil
	}
	ds, err := zfs.CreateFilesystem(name, props)
	if err != nil {
		// Another session of the same user may have created it meanwhile.
		if again, err2 := zfs.GetDataset(name); err2 == nil {
			return again, nil
		}
		return nil, fmt.Errorf("create dataset %s: %w", name, err)
	}
	return ds, nil
}

func (z *ZFS) check(name string) error {
	if !strings.HasPrefix(name, z.parent+"/") || strings.Contains(name, "@") {
		return fmt.Errorf("workspace %q is not under %s", name, z.parent)
	}
	return nil
}

// Snapshot takes <name>@<snap> unless it exists.
func (z *ZFS) Snapshot(_ context.Context, name, snap string) error {
	if err := z.check(name); err != nil {
		return err
	}
	if _, err := zfs.GetDataset(name + "@" + snap); err == nil {
		return nil
	}
	ds, err := zfs.GetDataset(name)
	if err != nil {
		return fmt.Errorf("workspace dataset %s: %w", name, err)
	}
	if _, err := ds.Snapshot(snap, false); err != nil {
		if _, err2 := zfs.GetDataset(name + "@" + snap); err2 == nil {
			return nil
		}
		return fmt.Errorf("snapshot %s@%s: %w", name, snap, err)
	}
	return nil
}

// Snapshots lists the snapshot names of the dataset, oldest first by name.
func (z *ZFS) Snapshots(_ context.Context, name string) ([]string, error) {
	if err := z.check(name); err != nil {
		return nil, err
	}
	ds, err := zfs.GetDataset(name)
	if err != nil {
		return nil, fmt.Errorf("workspace dataset %s: %w", name, err)
	}
	snaps, err := ds.Snapshots()
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", name, err)
	}
	out := make([]string, 0, len(snaps))
	for _, s := range snaps {
		if _, short, ok := strings.Cut(s.Name, "@"); ok {
			out = append(out, short)
		}
	}
	sort.Strings(out)
	return out, nil
}

// snapshotDataset checks that snapshot is <dataset under the parent>@<snap>
// and returns the snapshot dataset (nil, nil when it does not exist).
func (z *ZFS) snapshotDataset(snapshot string) (*zfs.Dataset, error) {
	ws, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok || !validSnapName(snap) {
		return nil, fmt.Errorf("snapshot %q: want <dataset>@stop-<unixms>", snapshot)
	}
	if err := z.check(ws); err != nil {
		return nil, err
	}
	ds, err := zfs.GetDataset(snapshot)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil, nil
		}
		return nil, fmt.Errorf("snapshot %s: %w", snapshot, err)
	}
	return ds, nil
}

// Restore clones the snapshot to <parent>/<user_id>/<session_id> (zfs
// clone: instant, copy-on-write). The clone depends on the snapshot until it
// is destroyed, so DeleteSnapshot refuses the snapshot meanwhile.
func (z *ZFS) Restore(_ context.Context, userID, sessionID int64, snapshot string) (sessions.Workspace, error) {
	if userID <= 0 || sessionID <= 0 {
		return sessions.Workspace{}, fmt.Errorf("workspace for user %d session %d: ids must be positive", userID, sessionID)
	}
	snap, err := z.snapshotDataset(snapshot)
	if err != nil {
		return sessions.Workspace{}, err
	}
	userDS := z.parent + "/" + strconv.FormatInt(userID, 10)
	name := userDS + "/" + strconv.FormatInt(sessionID, 10)
	ds, err := zfs.GetDataset(name)
	if err != nil {
		if snap == nil {
			return sessions.Workspace{}, fmt.Errorf("snapshot %s is missing", snapshot)
		}
		if _, err := getOrCreate(userDS, nil); err != nil {
			return sessions.Workspace{}, err
		}
		props := map[string]string{}
		if z.quota != "" {
			props["quota"] = z.quota
		}
		if ds, err = snap.Clone(name, props); err != nil {
			again, err2 := zfs.GetDataset(name)
			if err2 != nil {
				return sessions.Workspace{}, fmt.Errorf("clone %s to %s: %w", snapshot, name, err)
			}
			ds = again
		}
	}
	if ds.Mountpoint == "" || ds.Mountpoint == "none" || ds.Mountpoint == "legacy" {
		return sessions.Workspace{}, fmt.Errorf("workspace dataset %s has no mountpoint", name)
	}
	if err := os.Lchown(ds.Mountpoint, IDEUser, IDEGroup); err != nil {
		return sessions.Workspace{}, fmt.Errorf("chown workspace %s: %w", ds.Mountpoint, err)
	}
	return sessions.Workspace{Name: name, HostPath: ds.Mountpoint, Clone: ds.Origin != "" && ds.Origin != "-"}, nil
}

// SnapshotSize is the snapshot's referenced bytes (what a restore or a
// download holds, not the space it alone frees).
func (z *ZFS) SnapshotSize(_ context.Context, snapshot string) (int64, error) {
	ds, err := z.snapshotDataset(snapshot)
	if err != nil {
		return 0, err
	}
	if ds == nil {
		return 0, fmt.Errorf("snapshot %s is missing", snapshot)
	}
	return int64(ds.Referenced), nil
}

// SnapshotPath is <mountpoint>/.zfs/snapshot/<snap>, ZFS's read-only view.
func (z *ZFS) SnapshotPath(_ context.Context, snapshot string) (string, error) {
	ws, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok || !validSnapName(snap) {
		return "", fmt.Errorf("snapshot %q: want <dataset>@stop-<unixms>", snapshot)
	}
	if err := z.check(ws); err != nil {
		return "", err
	}
	ds, err := zfs.GetDataset(ws)
	if err != nil {
		return "", fmt.Errorf("workspace dataset %s: %w", ws, err)
	}
	return filepath.Join(ds.Mountpoint, ".zfs", "snapshot", snap), nil
}

// DeleteSnapshot destroys the snapshot unless a clone under the parent
// still has it as origin (ErrSnapshotInUse): MedForge keeps such a
// snapshot, and says so, rather than promoting the clone.
func (z *ZFS) DeleteSnapshot(_ context.Context, snapshot string) error {
	ds, err := z.snapshotDataset(snapshot)
	if err != nil || ds == nil {
		return err
	}
	all, err := zfs.Filesystems(z.parent)
	if err != nil {
		return fmt.Errorf("list workspaces: %w", err)
	}
	for _, fs := range all {
		if fs.Origin == snapshot {
			return fmt.Errorf("%w: %s is a clone of %s", sessions.ErrSnapshotInUse, fs.Name, snapshot)
		}
	}
	if err := ds.Destroy(zfs.DestroyDefault); err != nil {
		if again, _ := z.snapshotDataset(snapshot); again == nil {
			return nil
		}
		return fmt.Errorf("destroy %s: %w", snapshot, err)
	}
	return nil
}
