package sessions_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// fakeStop gives uid a stopped session with a real (directory) stop
// snapshot of size bytes, taken age ago.
func (e *env) fakeStop(ctx context.Context, uid int64, size int, age time.Duration) sessions.Snapshot {
	e.t.Helper()
	slug := "ret" + randHex(4)
	res, err := e.st.DB().ExecContext(ctx, `INSERT INTO sessions (slug, user_id, exposure, pack, image, gpu_id, status, created_at, ended_at)
		VALUES (?, ?, 'external', 'default', 'x', 3, 'stopped', NOW(6) - INTERVAL ? SECOND, NOW(6) - INTERVAL ? SECOND)`,
		slug, uid, int64(age/time.Second)+60, int64(age/time.Second))
	require.NoError(e.t, err)
	sid, _ := res.LastInsertId()
	ws, err := e.ws.Ensure(ctx, uid, sid)
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(ws.HostPath, "data.bin"), make([]byte, size), 0o644))
	snap := "stop-" + itoa(time.Now().Add(-age).UnixMilli())
	require.NoError(e.t, e.ws.Snapshot(ctx, ws.Name, snap))
	name := ws.Name + "@" + snap
	_, err = e.st.DB().ExecContext(ctx, `UPDATE sessions SET workspace = ?, snapshot = ? WHERE id = ?`, ws.Name, name, sid)
	require.NoError(e.t, err)
	res, err = e.st.DB().ExecContext(ctx, `INSERT INTO session_snapshots (session_id, user_id, exposure, name, size_bytes, created_at)
		VALUES (?, ?, 'external', ?, ?, NOW(6) - INTERVAL ? SECOND)`, sid, uid, name, size, int64(age/time.Second))
	require.NoError(e.t, err)
	id, _ := res.LastInsertId()
	return sessions.Snapshot{ID: id, Name: name, UserID: uid}
}

// Retention prunes exactly what the policy says (keep the newest 3 per
// user, drop those older than 7 days, at most 10 KiB per user), never a
// snapshot in use, records each prune in the audit log, and shows users
// beforehand when each snapshot will go.
func TestRetentionPrunes(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) {
		c.PollInterval = time.Hour
		c.Retention = sessions.Retention{KeepLast: 3, MaxAge: 7 * 24 * time.Hour, QuotaBytes: 10 << 10}
	}})
	ctx := ctxT(t, 2*time.Minute)
	a, b, c := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	h := time.Hour
	// User a: five small snapshots, newest first by age; the 4th and 5th
	// fall outside the newest 3; the 5th is in use by a queued request.
	a1 := e.fakeStop(ctx, a, 100, 1*h)
	a2 := e.fakeStop(ctx, a, 100, 2*h)
	a3 := e.fakeStop(ctx, a, 100, 3*h)
	a4 := e.fakeStop(ctx, a, 100, 4*h)
	a5 := e.fakeStop(ctx, a, 100, 5*h)
	// User b: one older than 7 days, two that together exceed the quota.
	b1 := e.fakeStop(ctx, b, 6<<10, 1*h)
	b2 := e.fakeStop(ctx, b, 6<<10, 2*h)
	b3 := e.fakeStop(ctx, b, 10, 8*24*h)
	// User c: within every rule.
	c1 := e.fakeStop(ctx, c, 10, 24*h)
	// No GPU to hand out, so a5's queued request stays queued (in use).
	_, err := e.st.DB().ExecContext(ctx, `UPDATE gpu_devices SET enabled = FALSE`)
	require.NoError(t, err)
	_, err = e.st.DB().ExecContext(ctx, `INSERT INTO session_queue (user_id, exposure, pack, image, from_snapshot_id) VALUES (?, 'external', 'default', 'x', ?)`, a, a5.ID)
	require.NoError(t, err)

	list, err := e.svc.Snapshots(ctx, a, sessions.External)
	require.NoError(t, err)
	require.Len(t, list, 5)
	byID := map[int64]sessions.Snapshot{}
	for _, s := range list {
		byID[s.ID] = s
	}
	for _, s := range []sessions.Snapshot{a1, a2, a3} {
		require.NotNil(t, byID[s.ID].PruneAt, "the age rule dates every snapshot")
		assert.Equal(t, "max_age", byID[s.ID].PruneReason)
		assert.True(t, byID[s.ID].PruneAt.After(time.Now().Add(6*24*h)))
	}
	require.NotNil(t, byID[a4.ID].PruneAt)
	assert.Equal(t, "keep_last", byID[a4.ID].PruneReason)
	assert.False(t, byID[a4.ID].PruneAt.After(time.Now().Add(time.Minute)), "due now")
	assert.True(t, byID[a5.ID].InUse)
	assert.Nil(t, byID[a5.ID].PruneAt, "in use: kept")
	assert.Equal(t, "in use", byID[a5.ID].KeptBecause)

	require.NoError(t, e.svc.Reconciler().Pass(ctx))

	left := func(uid int64) []int64 {
		l, err := e.svc.Snapshots(ctx, uid, "")
		require.NoError(t, err)
		var ids []int64
		for _, s := range l {
			ids = append(ids, s.ID)
		}
		return ids
	}
	assert.Equal(t, []int64{a1.ID, a2.ID, a3.ID, a5.ID}, left(a))
	assert.Equal(t, []int64{b1.ID}, left(b), "b2 over the quota, b3 too old")
	assert.Equal(t, []int64{c1.ID}, left(c))
	for _, gone := range []sessions.Snapshot{a4, b2, b3} {
		_, err := os.Stat(gone.Name)
		assert.True(t, os.IsNotExist(err), "%s destroyed", gone.Name)
	}
	for _, kept := range []sessions.Snapshot{a1, a5, b1, c1} {
		_, err := os.Stat(kept.Name)
		assert.NoError(t, err, "%s kept", kept.Name)
	}
	events, err := e.st.ListAuditEventsByAction(ctx, "snapshot.prune")
	require.NoError(t, err)
	var details []string
	for _, ev := range events {
		details = append(details, ev.Detail)
	}
	require.Len(t, details, 3, "one audit event per pruned snapshot: %v", details)
	joined := strings.Join(details, "\n")
	assert.Contains(t, joined, a4.Name+" rule=keep_last")
	assert.Contains(t, joined, b2.Name+" rule=quota")
	assert.Contains(t, joined, b3.Name+" rule=max_age")

	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	events, _ = e.st.ListAuditEventsByAction(ctx, "snapshot.prune")
	assert.Len(t, events, 3, "a second pass prunes nothing more")
}
