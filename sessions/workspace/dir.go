package workspace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/medforge/medforge/sessions"
)

// IDEUser and IDEGroup own every workspace: the IDE runs as 1000:1000.
const (
	IDEUser  = 1000
	IDEGroup = 1000
)

// Directory is the workspace provider for hosts without ZFS: one directory
// per session at <root>/<user_id>/<session_id>, and stop snapshots as
// read-only copies at <root>/<user_id>/<session_id>@stop-<unixms>, next to
// (never inside) the mounted workspace. There is no quota and a copy costs
// time proportional to the workspace; use ZFS in production.
type Directory struct {
	root string
}

var _ sessions.WorkspaceProvider = (*Directory)(nil)

// NewDirectory uses root (made absolute, created when missing) as the data
// root.
func NewDirectory(root string) (*Directory, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("workspace root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create workspace root: %w", err)
	}
	return &Directory{root: abs}, nil
}

// Kind is "directory".
func (d *Directory) Kind() string { return "directory" }

// Root is the data root.
func (d *Directory) Root() string { return d.root }

// Ensure creates <root>/<user_id>/<session_id> owned by 1000:1000.
func (d *Directory) Ensure(_ context.Context, userID, sessionID int64) (sessions.Workspace, error) {
	if userID <= 0 || sessionID <= 0 {
		return sessions.Workspace{}, fmt.Errorf("workspace for user %d session %d: ids must be positive", userID, sessionID)
	}
	p := filepath.Join(d.root, strconv.FormatInt(userID, 10), strconv.FormatInt(sessionID, 10))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return sessions.Workspace{}, fmt.Errorf("create workspace: %w", err)
	}
	if err := chownIDE(p); err != nil {
		return sessions.Workspace{}, err
	}
	return sessions.Workspace{Name: p, HostPath: p}, nil
}

// chownIDE gives p to 1000:1000. Without the privilege to do so (a
// developer running unprivileged) the folder is made world-writable instead
// so the IDE can still write, which is said in the returned nil only after
// trying chown.
func chownIDE(p string) error {
	if err := os.Lchown(p, IDEUser, IDEGroup); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return os.Chmod(p, 0o777)
		}
		return fmt.Errorf("chown workspace: %w", err)
	}
	return nil
}

func (d *Directory) check(name string) error {
	rel, err := filepath.Rel(d.root, name)
	if err != nil || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) || strings.Contains(rel, "@") {
		return fmt.Errorf("workspace %q is not under %s", name, d.root)
	}
	return nil
}

// Snapshot copies the workspace to <name>@<snap> and makes the copy
// read-only. The copy is built under a temporary name and renamed into
// place, so the snapshot either exists whole or not at all; an existing
// snapshot makes this a no-op.
func (d *Directory) Snapshot(ctx context.Context, name, snap string) error {
	if err := d.check(name); err != nil {
		return err
	}
	if !strings.HasPrefix(snap, "stop-") || strings.ContainsAny(snap, "/@") {
		return fmt.Errorf("snapshot name %q: want stop-<unixms>", snap)
	}
	dst := name + "@" + snap
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	parent, base := filepath.Split(dst)
	// Leftovers of a copy interrupted by a crash.
	if old, _ := filepath.Glob(filepath.Join(parent, "."+base+".partial-*")); len(old) > 0 {
		for _, o := range old {
			_ = makeWritable(o)
			if err := os.RemoveAll(o); err != nil {
				return fmt.Errorf("remove partial snapshot: %w", err)
			}
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(parent, "."+base+".partial-"+hex.EncodeToString(rnd[:]))
	if err := copyTree(ctx, name, tmp); err != nil {
		_ = makeWritable(tmp)
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("snapshot %s: %w", dst, err)
	}
	if err := makeReadOnly(tmp); err != nil {
		return fmt.Errorf("snapshot %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("snapshot %s: %w", dst, err)
	}
	return nil
}

// Snapshots lists the stop snapshots of the workspace, oldest first.
func (d *Directory) Snapshots(_ context.Context, name string) ([]string, error) {
	if err := d.check(name); err != nil {
		return nil, err
	}
	matches, err := filepath.Glob(name + "@stop-*")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, strings.TrimPrefix(m, name+"@"))
	}
	sort.Strings(out)
	return out, nil
}

// copyTree copies regular files, folders and symbolic links (as links, never
// followed) from src to dst, keeping modes and owners. Other file types
// (sockets, fifos, devices) are skipped.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()|0o700); err != nil {
				return err
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return nil
		}
		if uid, gid, ok := owner(info); ok {
			_ = os.Lchown(target, uid, gid)
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// makeReadOnly clears every write bit below root (links are left alone).
func makeReadOnly(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if e.IsDir() {
			dirs = append(dirs, p) // after their contents
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		return os.Chmod(p, info.Mode().Perm()&^0o222)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		info, err := os.Stat(dirs[i])
		if err != nil {
			return err
		}
		if err := os.Chmod(dirs[i], info.Mode().Perm()&^0o222); err != nil {
			return err
		}
	}
	return nil
}

func makeWritable(root string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if e.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
}

// snapshotPath checks that snapshot is <root>/<user>/<session>@stop-<unixms>
// of this provider and returns it as a path.
func (d *Directory) snapshotPath(snapshot string) (string, error) {
	ws, snap, ok := sessions.SplitSnapshot(snapshot)
	if !ok || !validSnapName(snap) {
		return "", fmt.Errorf("snapshot %q: want <workspace>@stop-<unixms>", snapshot)
	}
	if err := d.check(ws); err != nil {
		return "", err
	}
	return snapshot, nil
}

// validSnapName reports whether snap is stop-<digits>.
func validSnapName(snap string) bool {
	digits, ok := strings.CutPrefix(snap, "stop-")
	if !ok || digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Restore copies the snapshot to <root>/<user_id>/<session_id>. The copy is
// built under a temporary name and renamed into place; the owner keeps
// write access to everything (the snapshot's read-only bits are not
// carried over to the owner).
func (d *Directory) Restore(ctx context.Context, userID, sessionID int64, snapshot string) (sessions.Workspace, error) {
	if userID <= 0 || sessionID <= 0 {
		return sessions.Workspace{}, fmt.Errorf("workspace for user %d session %d: ids must be positive", userID, sessionID)
	}
	src, err := d.snapshotPath(snapshot)
	if err != nil {
		return sessions.Workspace{}, err
	}
	if fi, err := os.Lstat(src); err != nil || !fi.IsDir() {
		return sessions.Workspace{}, fmt.Errorf("snapshot %s is missing", snapshot)
	}
	dst := filepath.Join(d.root, strconv.FormatInt(userID, 10), strconv.FormatInt(sessionID, 10))
	if _, err := os.Lstat(dst); err == nil {
		return sessions.Workspace{Name: dst, HostPath: dst}, nil
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return sessions.Workspace{}, fmt.Errorf("create workspace: %w", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(parent, "."+filepath.Base(dst)+".restore-"+hex.EncodeToString(rnd[:]))
	if err := copyTree(ctx, src, tmp); err != nil {
		_ = makeWritable(tmp)
		_ = os.RemoveAll(tmp)
		return sessions.Workspace{}, fmt.Errorf("restore %s: %w", snapshot, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		return sessions.Workspace{}, fmt.Errorf("restore %s: %w", snapshot, err)
	}
	if err := chownIDE(dst); err != nil {
		return sessions.Workspace{}, err
	}
	return sessions.Workspace{Name: dst, HostPath: dst}, nil
}

// SnapshotSize sums the sizes of the snapshot's regular files.
func (d *Directory) SnapshotSize(_ context.Context, snapshot string) (int64, error) {
	p, err := d.snapshotPath(snapshot)
	if err != nil {
		return 0, err
	}
	return treeSize(p)
}

// treeSize sums the sizes of the regular files below root (links are not
// followed).
func treeSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			info, err := e.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// SnapshotPath is the snapshot's folder itself.
func (d *Directory) SnapshotPath(_ context.Context, snapshot string) (string, error) {
	p, err := d.snapshotPath(snapshot)
	if err != nil {
		return "", err
	}
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("snapshot %s is missing", snapshot)
	}
	return p, nil
}

// DeleteSnapshot renames the snapshot out of the way first (so a delete cut
// short never leaves a half snapshot under its name) and then removes it.
// A copy has no dependents, so it is never ErrSnapshotInUse here.
func (d *Directory) DeleteSnapshot(_ context.Context, snapshot string) error {
	p, err := d.snapshotPath(snapshot)
	if err != nil {
		return err
	}
	parent, base := filepath.Split(p)
	// Leftovers of a delete cut short.
	if old, _ := filepath.Glob(filepath.Join(parent, "."+base+".deleting-*")); len(old) > 0 {
		for _, o := range old {
			_ = makeWritable(o)
			_ = os.RemoveAll(o)
		}
	}
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(parent, "."+base+".deleting-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(p, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete snapshot %s: %w", snapshot, err)
	}
	_ = makeWritable(tmp)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("delete snapshot %s: %w", snapshot, err)
	}
	return nil
}
