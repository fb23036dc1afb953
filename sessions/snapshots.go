package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Snapshot is one stop snapshot as its owner (or an admin) sees it.
// A snapshot is taken of the workspace at every stop; a new session can
// start from it (restore, or fork when the same snapshot starts several).
type Snapshot struct {
	ID int64 `json:"id"`
	// Name is what from_snapshot takes: <workspace>@stop-<unixms>, the same
	// string as the session's snapshot field.
	Name        string    `json:"name"`
	SessionID   int64     `json:"session_id"`
	SessionSlug string    `json:"session_slug"`
	UserID      int64     `json:"user_id"`
	Exposure    Exposure  `json:"exposure"`
	SizeBytes   int64     `json:"size_bytes"`
	CreatedAt   time.Time `json:"created_at"`
	// InUse: an active session or a queued request was made from it, or a
	// workspace is a ZFS clone of it. It cannot be deleted or pruned.
	InUse bool `json:"in_use"`
	// PruneAt is when retention will delete it (now or earlier: at the
	// next recovery pass), null when the policy keeps it; PruneReason names
	// the rule (keep_last, max_age, quota). KeptBecause says why a
	// snapshot that a rule selects is kept anyway ("in use").
	PruneAt     *time.Time `json:"prune_at"`
	PruneReason string     `json:"prune_reason,omitempty"`
	KeptBecause string     `json:"kept_because,omitempty"`
}

// Errors of the snapshot API.
var (
	// ErrSnapshotNotFound: no such snapshot, or it is not the caller's
	// (the same answer, so names and ids do not leak).
	ErrSnapshotNotFound = errors.New("snapshot not found")
	// ErrSnapshotExposure: an INTERNAL snapshot never becomes the workspace
	// of an EXTERNAL session (its data would leave the no-egress network).
	ErrSnapshotExposure = errors.New("an internal snapshot cannot start an external session")
)

func snapshotFromRow(r db.ListSnapshotsRow) Snapshot {
	return Snapshot{
		ID: r.ID, Name: r.Name, SessionID: r.SessionID, SessionSlug: r.SessionSlug, UserID: r.UserID,
		Exposure: Exposure(r.Exposure), SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt.UTC(), InUse: r.InUse != 0,
	}
}

// Snapshots lists the user's snapshots on exposure e ("" for both), newest
// first, each with when retention will prune it. userID 0 lists everyone's.
func (s *Service) Snapshots(ctx context.Context, userID int64, e Exposure) ([]Snapshot, error) {
	rows, err := s.st.ListSnapshots(ctx, db.ListSnapshotsParams{UserID: userID, Exposure: db.SessionSnapshotsExposure(e)})
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	now, err := s.st.SessionClock(ctx)
	if err != nil {
		return nil, fmt.Errorf("read database clock: %w", err)
	}
	out := make([]Snapshot, 0, len(rows))
	for _, r := range rows {
		out = append(out, snapshotFromRow(r))
	}
	s.cfg.Retention.annotate(out, now)
	return out, nil
}

// snapshot returns one available snapshot; when userID is not zero it must
// be the owner's (anyone else's is ErrSnapshotNotFound).
func (s *Service) snapshot(ctx context.Context, id, userID int64) (Snapshot, error) {
	rows, err := s.st.ListSnapshots(ctx, db.ListSnapshotsParams{UserID: userID})
	if err != nil {
		return Snapshot{}, fmt.Errorf("list snapshots: %w", err)
	}
	for _, r := range rows {
		if r.ID == id {
			return snapshotFromRow(r), nil
		}
	}
	return Snapshot{}, ErrSnapshotNotFound
}

// SnapshotPath returns a snapshot (the owner's when userID is not zero) and
// the host folder with its files, for a download.
func (s *Service) SnapshotPath(ctx context.Context, id, userID int64) (Snapshot, string, error) {
	snap, err := s.snapshot(ctx, id, userID)
	if err != nil {
		return Snapshot{}, "", err
	}
	p, err := s.ws.SnapshotPath(ctx, snap.Name)
	if err != nil {
		return Snapshot{}, "", fmt.Errorf("snapshot %d: %w", id, err)
	}
	return snap, p, nil
}

// DeleteSnapshot deletes a snapshot of userID's (any user's when userID is
// 0) for reason ("user", "admin", or a retention rule). A snapshot in use is
// ErrSnapshotInUse and stays whole. The row is claimed (status deleting)
// under the scheduler lock, so no create can start from it meanwhile; the
// provider's destroy runs after that commit, and recovery finishes a
// delete cut short by a crash.
func (s *Service) DeleteSnapshot(ctx context.Context, id, userID int64, reason string) (Snapshot, error) {
	snap, err := s.snapshot(ctx, id, userID)
	if err != nil {
		return Snapshot{}, err
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.LockScheduler(ctx); err != nil {
			return fmt.Errorf("lock scheduler: %w", err)
		}
		inUse, err := tx.SnapshotInUse(ctx, db.SnapshotInUseParams{ID: nullID(id)})
		if err != nil {
			return fmt.Errorf("snapshot in use: %w", err)
		}
		if inUse != 0 {
			return ErrSnapshotInUse
		}
		n, err := tx.ClaimSnapshotDelete(ctx, db.ClaimSnapshotDeleteParams{ID: id, DeleteReason: reason})
		if err != nil {
			return fmt.Errorf("claim snapshot delete: %w", err)
		}
		if n == 0 {
			return ErrSnapshotNotFound // deleted meanwhile
		}
		return nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	return snap, s.destroySnapshot(ctx, id, snap.Name)
}

// destroySnapshot runs the provider's destroy of a snapshot claimed for
// deletion and records the outcome: deleted, or available again when the
// provider finds something depends on it.
func (s *Service) destroySnapshot(ctx context.Context, id int64, name string) error {
	err := s.ws.DeleteSnapshot(ctx, name)
	if errors.Is(err, ErrSnapshotInUse) {
		if _, rerr := s.st.ReleaseSnapshotDelete(ctx, id); rerr != nil {
			return fmt.Errorf("release snapshot %d: %w", id, rerr)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("delete snapshot %d: %w", id, err) // stays deleting: recovery retries
	}
	if _, err := s.st.FinishSnapshotDelete(ctx, id); err != nil {
		return fmt.Errorf("mark snapshot %d deleted: %w", id, err)
	}
	s.log.Info("snapshot deleted", "snapshot", name, "id", id)
	return nil
}

// finishDeletes completes deletes that a crash cut short (rows left
// deleting); recovery calls it on every pass.
func (s *Service) finishDeletes(ctx context.Context) error {
	rows, err := s.st.ListDeletingSnapshots(ctx)
	if err != nil {
		return fmt.Errorf("list deleting snapshots: %w", err)
	}
	var errs []error
	for _, r := range rows {
		if err := s.destroySnapshot(ctx, r.ID, r.Name); err != nil && !errors.Is(err, ErrSnapshotInUse) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recordSnapshot stores the stop snapshot of row in the same transaction
// that marks it stopped; size is measured by the provider beforehand.
func (s *Service) recordSnapshot(ctx context.Context, tx store.Store, row db.Session, name string, size int64) error {
	if name == "" {
		return nil
	}
	return tx.InsertSnapshot(ctx, db.InsertSnapshotParams{
		SessionID: row.ID, UserID: row.UserID, Exposure: db.SessionSnapshotsExposure(row.Exposure), Name: name, SizeBytes: size,
	})
}

// lockSourceSnapshot resolves a create's from_snapshot inside the
// allocation transaction: the user's own available snapshot, locked so a
// delete cannot claim it before the session row refers to it.
func (s *Service) lockSourceSnapshot(ctx context.Context, tx store.Store, userID int64, name string, e Exposure) (int64, error) {
	snap, err := tx.LockSnapshotByName(ctx, db.LockSnapshotByNameParams{Name: name, UserID: userID})
	if err != nil {
		if store.IsNotFound(err) {
			return 0, ErrSnapshotNotFound
		}
		return 0, fmt.Errorf("snapshot %q: %w", name, err)
	}
	if Exposure(snap.Exposure) == Internal && e != Internal {
		return 0, ErrSnapshotExposure
	}
	if rl, ok := s.ws.(RestoreLimiter); ok {
		if err := rl.CanRestore(Exposure(snap.Exposure), e); err != nil {
			return 0, err
		}
	}
	return snap.ID, nil
}

func nullID(id int64) sql.NullInt64 {
	return sql.NullInt64{Int64: id, Valid: id != 0}
}
