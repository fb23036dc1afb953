package sessions_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// stopped stops a session and waits until its snapshot is recorded.
func (e *env) stopped(ctx context.Context, s sessions.Session) sessions.Session {
	e.t.Helper()
	_, err := e.svc.Stop(ctx, s.ID, s.UserID, sessions.StopUser)
	require.NoError(e.t, err)
	return e.waitStatus(s.ID, sessions.StatusStopped, time.Minute)
}

func (e *env) hostPath(s sessions.Session) string {
	return filepath.Join(e.ws.Root(), itoa(s.UserID), itoa(s.ID))
}

// The restore journey on the real Docker engine: a file written in a
// session's workspace is in the workspace of a new session restored from
// its stop snapshot, the snapshot itself is unchanged by the new session's
// writes, the snapshot is in use (undeletable) while the restored session
// runs, another user's restore is 404, a fork starts two sessions from one
// snapshot, and the download holds the file.
func TestRestoreFromSnapshot(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 3*time.Minute)
	uid := e.user(testdb.UserOpts{MaxConcurrentSessions: 2})
	other := e.user(testdb.UserOpts{})

	first := e.running(ctx, uid)
	require.NoError(t, os.MkdirAll(filepath.Join(e.hostPath(first), "project"), 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(e.hostPath(first), "project", "train.py"), []byte("print('epoch 1')\n"), 0o666))
	first = e.stopped(ctx, first)
	require.NotEmpty(t, first.Snapshot)

	snaps, err := e.svc.Snapshots(ctx, uid, sessions.External)
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	snap := snaps[0]
	assert.Equal(t, first.Snapshot, snap.Name)
	assert.Equal(t, first.ID, snap.SessionID)
	assert.Equal(t, first.Slug, snap.SessionSlug)
	assert.Equal(t, sessions.External, snap.Exposure)
	assert.EqualValues(t, len("print('epoch 1')\n"), snap.SizeBytes)
	assert.False(t, snap.InUse)
	assert.Nil(t, snap.PruneAt, "no retention policy: kept")
	none, err := e.svc.Snapshots(ctx, other, sessions.External)
	require.NoError(t, err)
	assert.Empty(t, none, "another user sees none of them")

	// Another user naming it gets the same answer as a name that does not exist.
	_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: other, Exposure: sessions.External, FromSnapshot: snap.Name})
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound)
	_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: snap.Name + "0"})
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound)
	_, err = e.svc.DeleteSnapshot(ctx, snap.ID, other, "user")
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound)
	_, _, err = e.svc.SnapshotPath(ctx, snap.ID, other)
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound)

	// Restore, and fork: two sessions from the one snapshot.
	var restored [2]sessions.Session
	for i := range restored {
		p, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: snap.Name})
		require.NoError(t, err)
		require.NotNil(t, p.Session)
		assert.Equal(t, snap.ID, p.Session.FromSnapshotID)
		restored[i] = e.waitStatus(p.Session.ID, sessions.StatusRunning, time.Minute)
		got, err := os.ReadFile(filepath.Join(e.hostPath(restored[i]), "project", "train.py"))
		require.NoError(t, err, "the file is in the restored workspace")
		assert.Equal(t, "print('epoch 1')\n", string(got))
	}
	require.NoError(t, os.WriteFile(filepath.Join(e.hostPath(restored[0]), "project", "train.py"), []byte("print('epoch 2')\n"), 0o666))
	got, err := os.ReadFile(filepath.Join(first.Snapshot, "project", "train.py"))
	require.NoError(t, err)
	assert.Equal(t, "print('epoch 1')\n", string(got), "the snapshot is unchanged")
	got, _ = os.ReadFile(filepath.Join(e.hostPath(restored[1]), "project", "train.py"))
	assert.Equal(t, "print('epoch 1')\n", string(got), "forks do not share a workspace")

	snaps, err = e.svc.Snapshots(ctx, uid, sessions.External)
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.True(t, snaps[0].InUse, "running sessions were made from it")
	_, err = e.svc.DeleteSnapshot(ctx, snap.ID, uid, "user")
	assert.ErrorIs(t, err, sessions.ErrSnapshotInUse)

	// The download holds the file, as a link-preserving tar.gz.
	_, root, err := e.svc.SnapshotPath(ctx, snap.ID, uid)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, sessions.WriteTarGz(ctx, root, &buf))
	files := untar(t, buf.Bytes())
	assert.Equal(t, "print('epoch 1')\n", files["project/train.py"])

	for _, s := range restored {
		e.stopped(ctx, s)
	}
	snaps, err = e.svc.Snapshots(ctx, uid, sessions.External)
	require.NoError(t, err)
	require.Len(t, snaps, 3, "each restored session left its own snapshot")
	deleted, err := e.svc.DeleteSnapshot(ctx, snap.ID, uid, "user")
	require.NoError(t, err, "a copy does not depend on its snapshot once its sessions ended")
	assert.Equal(t, snap.Name, deleted.Name)
	_, err = os.Stat(snap.Name)
	assert.True(t, os.IsNotExist(err), "the provider destroyed it")
	_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: snap.Name})
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound, "a deleted snapshot cannot be restored")
	_, err = e.svc.DeleteSnapshot(ctx, snap.ID, uid, "user")
	assert.ErrorIs(t, err, sessions.ErrSnapshotNotFound)
}

// An INTERNAL snapshot never becomes the workspace of an EXTERNAL session
// (its data would leave the no-egress network); into an INTERNAL session it
// restores.
func TestInternalSnapshotRefusedForExternal(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := ctxT(t, 3*time.Minute)
	uid := e.user(testdb.UserOpts{CanUseInternal: true})
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.Internal})
	require.NoError(t, err)
	s = e.waitStatus(s.ID, sessions.StatusRunning, time.Minute)
	require.NoError(t, os.WriteFile(filepath.Join(e.hostPath(s), "phi.csv"), []byte("patient,label\n"), 0o666))
	s = e.stopped(ctx, s)

	ext, err := e.svc.Snapshots(ctx, uid, sessions.External)
	require.NoError(t, err)
	assert.Empty(t, ext, "the external list shows no internal snapshot")
	_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: s.Snapshot})
	assert.ErrorIs(t, err, sessions.ErrSnapshotExposure)
	_, err = e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External, FromSnapshot: s.Snapshot})
	assert.ErrorIs(t, err, sessions.ErrSnapshotExposure)
	cur, err := e.svc.Current(ctx, uid, sessions.External)
	assert.ErrorIs(t, err, sessions.ErrNotFound, "nothing was created: %+v", cur)

	p, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.Internal, FromSnapshot: s.Snapshot})
	require.NoError(t, err)
	require.NotNil(t, p.Session)
	r := e.waitStatus(p.Session.ID, sessions.StatusRunning, time.Minute)
	got, err := os.ReadFile(filepath.Join(e.hostPath(r), "phi.csv"))
	require.NoError(t, err)
	assert.Equal(t, "patient,label\n", string(got))
}

func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		switch h.Typeflag {
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[h.Name] = string(data)
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		case tar.TypeDir:
			out[h.Name] = "/"
		}
	}
}
