package sessions

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/medforge/medforge/store/db"
)

// Retention is the snapshot retention policy, applied per user across both
// exposures. A zero field disables its rule. Pruning runs in the recovery
// loop, is recorded in the audit log (snapshot.prune), and never deletes a
// snapshot in use; users see on their list when each snapshot will go.
type Retention struct {
	// KeepLast keeps the newest N snapshots of each user.
	KeepLast int
	// MaxAge drops snapshots older than this.
	MaxAge time.Duration
	// QuotaBytes caps the bytes of each user's snapshots: newest first,
	// a snapshot that would take the total over it is pruned.
	QuotaBytes int64
}

// Enabled reports whether any rule is set.
func (r Retention) Enabled() bool { return r.KeepLast > 0 || r.MaxAge > 0 || r.QuotaBytes > 0 }

// annotate sets PruneAt, PruneReason and KeptBecause on list, which holds
// users' snapshots grouped by user and newest first within a user (as
// ListSnapshots returns them). Rules, per user, newest first:
//   - max_age: due at created_at + MaxAge;
//   - keep_last: due now for every snapshot after the first KeepLast kept;
//   - quota: due now for a snapshot that would take the kept bytes over
//     QuotaBytes.
//
// A snapshot in use is never due: it is kept (KeptBecause "in use") and
// still counts toward the newest N and the bytes.
func (r Retention) annotate(list []Snapshot, now time.Time) {
	if !r.Enabled() {
		return
	}
	var (
		user  int64 = -1
		kept  int
		bytes int64
	)
	for i := range list {
		sn := &list[i]
		if sn.UserID != user {
			user, kept, bytes = sn.UserID, 0, 0
		}
		reason := ""
		var at time.Time
		switch {
		case r.MaxAge > 0 && !sn.CreatedAt.Add(r.MaxAge).After(now):
			reason, at = "max_age", sn.CreatedAt.Add(r.MaxAge)
		case r.KeepLast > 0 && kept >= r.KeepLast:
			reason, at = "keep_last", now
		case r.QuotaBytes > 0 && bytes+sn.SizeBytes > r.QuotaBytes:
			reason, at = "quota", now
		}
		if reason != "" && sn.InUse {
			sn.PruneReason, sn.KeptBecause = reason, "in use"
			reason = ""
		} else if reason != "" {
			sn.PruneAt, sn.PruneReason = &at, reason
			continue
		}
		kept++
		bytes += sn.SizeBytes
		if r.MaxAge > 0 && sn.KeptBecause == "" {
			t := sn.CreatedAt.Add(r.MaxAge)
			sn.PruneAt = &t
			if sn.PruneReason == "" {
				sn.PruneReason = "max_age"
			}
		}
	}
}

// prune deletes every snapshot the retention policy says is due, skipping
// those in use, and records each deletion in the audit log. It returns how
// many it deleted.
func (s *Service) prune(ctx context.Context) (int, error) {
	r := s.cfg.Retention
	if !r.Enabled() {
		return 0, nil
	}
	list, err := s.Snapshots(ctx, 0, "")
	if err != nil {
		return 0, err
	}
	now, err := s.st.SessionClock(ctx)
	if err != nil {
		return 0, fmt.Errorf("read database clock: %w", err)
	}
	var errs []error
	n := 0
	for _, sn := range list {
		if sn.InUse || sn.PruneAt == nil || sn.PruneAt.After(now) {
			continue
		}
		if _, err := s.DeleteSnapshot(ctx, sn.ID, 0, "retention:"+sn.PruneReason); err != nil {
			if !errors.Is(err, ErrSnapshotInUse) && !errors.Is(err, ErrSnapshotNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		n++
		if m := s.metrics(); m != nil {
			m.pruned.WithLabelValues(sn.PruneReason).Inc()
		}
		detail := fmt.Sprintf("user=%d name=%s rule=%s size_bytes=%d created_at=%s", sn.UserID, sn.Name, sn.PruneReason,
			sn.SizeBytes, sn.CreatedAt.Format(time.RFC3339))
		if err := s.st.InsertAuditEvent(ctx, db.InsertAuditEventParams{
			Action: "snapshot.prune", TargetType: "snapshot", TargetID: strconv.FormatInt(sn.ID, 10), Detail: detail,
		}); err != nil {
			s.log.Error("audit event lost", "action", "snapshot.prune", "snapshot", sn.ID, "err", err)
		}
		s.log.Info("snapshot pruned", "snapshot", sn.Name, "user", sn.UserID, "rule", sn.PruneReason)
	}
	return n, errors.Join(errs...)
}
