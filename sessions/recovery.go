package sessions

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Reconciler keeps the database and the container engine in agreement. One
// pass:
//
//  1. lists this instance's containers, then the active rows (in that
//     order, so a container always has its row already committed);
//  2. requests a stop for running sessions past the idle timeout or the
//     maximum lifetime, and for active sessions whose container vanished;
//  3. finalizes every stopping session: stop the container with grace,
//     claim the snapshot name in the row, take the snapshot, remove the
//     container, run the GPU health gate, mark the row stopped; each step is
//     idempotent, so a pass cut short anywhere (a crash, a kill) is
//     completed exactly once by the next;
//  4. times out starting sessions, or resumes them after a restart (a
//     start with no container and no launch in flight is launched again);
//  5. stops and removes orphan containers (no active row);
//  6. finishes snapshot deletes cut short, hands any free GPU to queued
//     requests, and prunes snapshots by the retention policy.
//
// Passes never run concurrently; within a pass each session is handled by
// one goroutine (up to 8 sessions at once). The loop repeats them every PollInterval,
// backing off exponentially up to BackoffMax while they fail.
type Reconciler struct {
	s  *Service
	mu sync.Mutex // one pass at a time

	passes int // completed or not; the first one runs at Start

	hmu      sync.Mutex
	failures int
	lastErr  error
	lastOK   time.Time
}

// Health reports nil when recovery is healthy: Docker answers and recent
// passes succeeded. /healthz is 503 degraded while it returns an error.
func (r *Reconciler) Health(ctx context.Context) error {
	if err := r.s.rt.Ping(ctx); err != nil {
		return err
	}
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.failures >= r.s.cfg.UnhealthyAfter {
		return fmt.Errorf("session recovery failed %d times in a row: %w", r.failures, r.lastErr)
	}
	return nil
}

func (r *Reconciler) record(err error) {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if err == nil {
		r.failures, r.lastErr, r.lastOK = 0, nil, time.Now()
		return
	}
	r.failures++
	r.lastErr = err
}

// Loop runs passes until ctx ends: every PollInterval while they succeed,
// after an exponential backoff (1s, 2s, 4s... capped by BackoffMax) while
// they fail, and at once when the service is kicked.
func (r *Reconciler) Loop(ctx context.Context) {
	fails := 0
	for {
		delay := r.s.cfg.PollInterval
		if fails > 0 {
			delay = backoff(fails, r.s.cfg.BackoffMax)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-r.s.kick:
			t.Stop()
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := r.Pass(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fails++
			r.s.log.Warn("session recovery pass failed", "err", err, "failures", fails, "next_in", backoff(fails, r.s.cfg.BackoffMax))
		} else {
			fails = 0
		}
	}
}

// backoff is 2^(n-1) seconds, capped.
func backoff(n int, max time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// Pass runs one reconciliation. It returns the first error that kept it
// from completing, after trying every session it could.
func (r *Reconciler) Pass(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.passes == 0
	r.passes++
	began := time.Now()
	defer func() {
		r.record(err)
		if m := r.s.metrics(); m != nil {
			m.passSecs.Observe(time.Since(began).Seconds())
			if err != nil {
				m.passFails.Inc()
			}
		}
	}()
	in, err := r.observe(ctx)
	if err != nil {
		return err
	}
	var (
		emu  sync.Mutex
		errs []error
	)
	fail := func(err error) {
		emu.Lock()
		errs = append(errs, err)
		emu.Unlock()
	}
	r.reconcileAll(ctx, in, first, fail)
	r.housekeep(ctx, fail)
	return errors.Join(errs...)
}

// passInput is what one pass observed before acting: this instance's
// containers by session ID (0 for an unparseable label), the active rows,
// the database clock and the INTERNAL sessions whose owner lost
// can_use_internal.
type passInput struct {
	bySession map[int64][]Container
	rows      []db.Session
	now       time.Time
	revoked   map[int64]bool
}

// observe lists this instance's containers, then the active rows (in that
// order, so a container always has its row already committed), then reads
// the database clock and the revoked INTERNAL sessions. Any error ends the
// pass before it acts.
func (r *Reconciler) observe(ctx context.Context) (passInput, error) {
	s := r.s
	containers, err := s.rt.List(ctx, map[string]string{LabelInstance: s.cfg.Instance})
	if err != nil {
		return passInput{}, fmt.Errorf("list session containers: %w", err)
	}
	bySession := map[int64][]Container{}
	for _, c := range containers {
		id, perr := strconv.ParseInt(c.Labels[LabelSession], 10, 64)
		if perr != nil {
			id = 0 // unparseable label: an orphan
		}
		bySession[id] = append(bySession[id], c)
	}
	rows, err := s.st.ListActiveSessions(ctx)
	if err != nil {
		return passInput{}, fmt.Errorf("list active sessions: %w", err)
	}
	now, err := s.st.SessionClock(ctx)
	if err != nil {
		return passInput{}, fmt.Errorf("read database clock: %w", err)
	}
	// INTERNAL sessions of users who lost can_use_internal are stopped (the
	// session proxy already refuses them).
	revokedIDs, err := s.st.ListUnentitledInternalSessions(ctx)
	if err != nil {
		return passInput{}, fmt.Errorf("list unentitled internal sessions: %w", err)
	}
	revoked := make(map[int64]bool, len(revokedIDs))
	for _, id := range revokedIDs {
		revoked[id] = true
	}
	return passInput{bySession: bySession, rows: rows, now: now, revoked: revoked}, nil
}

// reconcileAll reconciles every active row and removes every orphan
// container (one with no active row), up to passParallelism at once, and
// returns when all are done. Errors go to fail, which must be safe for
// concurrent use.
func (r *Reconciler) reconcileAll(ctx context.Context, in passInput, first bool, fail func(error)) {
	// Sessions are reconciled in parallel (each by exactly one goroutine of
	// this pass, and passes never overlap), so one slow stop grace does not
	// hold up the others.
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, passParallelism)
	)
	active := map[int64]bool{}
	for _, row := range in.rows {
		active[row.ID] = true
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.reconcile(ctx, row, in.bySession[row.ID], in.now, first, in.revoked[row.ID]); err != nil {
				fail(fmt.Errorf("session %d: %w", row.ID, err))
			}
		}()
	}
	for id, cs := range in.bySession {
		if active[id] {
			continue
		}
		for _, c := range cs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := r.removeOrphan(ctx, c); err != nil {
					fail(err)
				}
			}()
		}
	}
	wg.Wait()
}

// removeOrphan stops and removes a container that has no active row, and
// counts it once both succeeded.
func (r *Reconciler) removeOrphan(ctx context.Context, c Container) error {
	s := r.s
	s.log.Warn("removing orphan session container", "container", c.Name, "session_label", c.Labels[LabelSession])
	if err := s.rt.Stop(ctx, c.ID, s.cfg.StopGrace); err != nil {
		return err
	}
	if err := s.rt.Remove(ctx, c.ID); err != nil {
		return err
	}
	if m := s.metrics(); m != nil {
		m.orphans.Inc()
	}
	return nil
}

// housekeep runs the pass's closing chores, each whatever the others did:
// snapshot deletes cut short, GPUs free while requests wait (enabled by an
// admin, found at a sync, or freed by a transaction that raced a create),
// and retention. Errors go to fail.
func (r *Reconciler) housekeep(ctx context.Context, fail func(error)) {
	s := r.s
	if err := s.finishDeletes(ctx); err != nil {
		fail(err)
	}
	if waiting, err := s.st.CountQueued(ctx); err != nil {
		fail(fmt.Errorf("count queue: %w", err))
	} else if waiting > 0 {
		if _, err := s.release(ctx, nil); err != nil {
			fail(fmt.Errorf("hand out free GPUs: %w", err))
		}
	}
	if _, err := s.prune(ctx); err != nil {
		fail(fmt.Errorf("retention: %w", err))
	}
}

// passParallelism bounds the sessions one pass reconciles at once.
const passParallelism = 8

// reconcile brings one active session in line with its containers cs: it
// dispatches on the row's status to reconcileRunning, reconcileStopping or
// reconcileStarting. Other statuses are left alone.
func (r *Reconciler) reconcile(ctx context.Context, row db.Session, cs []Container, now time.Time, first, revoked bool) error {
	running, failure := false, ""
	for _, c := range cs {
		running = running || c.Running
		if c.Failure != "" {
			failure = c.Failure
		}
	}
	switch Status(row.Status) {
	case StatusRunning:
		return r.reconcileRunning(ctx, row, cs, now, running, failure, revoked)
	case StatusStopping:
		return r.reconcileStopping(ctx, row, cs)
	case StatusStarting:
		return r.reconcileStarting(ctx, row, cs, now, first, running)
	}
	return nil
}

// reconcileRunning requests a stop for a running session whose container
// failed or vanished, whose owner lost the entitlement, or that the cull
// rules (idle timeout, maximum lifetime) select, and then finalizes it
// from the freshly read row. A session with no reason to stop is left as is.
func (r *Reconciler) reconcileRunning(ctx context.Context, row db.Session, cs []Container, now time.Time, running bool, failure string, revoked bool) error {
	s := r.s
	reason := ""
	if !running && failure != "" {
		reason = StopContainerFailed
	} else if !running {
		reason = StopContainerLost
	} else if revoked {
		reason = StopEntitlementRevoked
	} else {
		if s.sampleGPU(ctx, row) {
			row.LastGpuBusyAt.Time, row.LastGpuBusyAt.Valid = now, true
		}
		reason = s.cullReason(row, now)
	}
	if reason == "" {
		return nil
	}
	s.log.Info("stopping session", "session", row.ID, "reason", reason)
	n, err := s.st.RequestSessionStop(ctx, db.RequestSessionStopParams{ID: row.ID, StopReason: reason})
	if err != nil {
		return fmt.Errorf("request stop: %w", err)
	}
	if n == 1 {
		s.changed(row, StatusStopping)
	}
	fresh, err := s.st.GetSession(ctx, row.ID)
	if err != nil {
		return err
	}
	return r.finalize(ctx, fresh, cs)
}

// reconcileStopping finalizes a stopping session, unless its launch is
// still in flight in this process (the launch kicks recovery when done).
func (r *Reconciler) reconcileStopping(ctx context.Context, row db.Session, cs []Container) error {
	s := r.s
	s.mu.Lock()
	inFlight := s.launching[row.ID]
	s.mu.Unlock()
	if inFlight {
		// Stopped while starting: let the launch finish first, or its
		// container would appear after the GPU was released. The
		// launch kicks recovery when it is done.
		return nil
	}
	return r.finalize(ctx, row, cs)
}

// reconcileStarting settles a starting session with no launch in flight in
// this process: it records a start that a dead process completed, requeues
// one the runtime could not schedule, leaves a young start its time,
// resumes an interrupted one, and fails (releasing the GPU) one past the
// start timeout.
func (r *Reconciler) reconcileStarting(ctx context.Context, row db.Session, cs []Container, now time.Time, first, running bool) error {
	s := r.s
	s.mu.Lock()
	inFlight := s.launching[row.ID]
	s.mu.Unlock()
	if inFlight {
		return nil // launch decides; it has its own timeout
	}
	if running && len(cs) == 1 && s.ready(ctx, cs[0].ID) == nil {
		// Started by a process that died before recording it.
		_, _ = s.st.SetSessionContainer(ctx, db.SetSessionContainerParams{ID: row.ID, ContainerID: cs[0].ID})
		n, err := s.st.MarkSessionRunning(ctx, row.ID)
		if err == nil && n == 1 {
			s.changed(row, StatusRunning)
		}
		return err
	}
	if len(cs) == 1 {
		// A start left by a process that died while the runtime's
		// scheduler could not place it: back on the waitlist, as the
		// launch would have done.
		if cause := s.ready(ctx, cs[0].ID); errors.Is(cause, ErrUnschedulable) {
			if err := s.rt.Remove(ctx, cs[0].ID); err != nil {
				return err
			}
			if ok, err := s.requeue(ctx, row, cause); ok || err != nil {
				return err
			}
		}
	}
	// Give a young start its time: a container exists and the IDE may
	// still be booting, or the row was committed an instant ago and its
	// launch is about to register.
	age := now.Sub(row.CreatedAt)
	if age < s.cfg.StartTimeout && len(cs) > 0 {
		return nil
	}
	if age < s.cfg.StartTimeout && len(cs) == 0 {
		if !first && age < startGrace {
			return nil
		}
		// No process launches it any more (the API died between the
		// allocation, or a queue grant, and the launch): launch it
		// here, so a granted GPU is not lost with its place in line.
		s.log.Info("resuming an interrupted session start", "session", row.ID)
		s.launchAsync(row)
		return nil
	}
	reason := "the session start was interrupted"
	if len(cs) > 0 {
		reason = "the IDE did not answer before the start timeout"
	}
	for _, c := range cs {
		if err := s.rt.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	n, err := s.release(ctx, func(tx store.Store) (int64, error) {
		return tx.FailStartingSession(ctx, db.FailStartingSessionParams{ID: row.ID, ErrorReason: reason})
	})
	if err == nil && n == 1 {
		s.changed(row, StatusError)
	}
	return err
}

// startGrace is how long a starting row without a container and without a
// launch in flight here is left alone before it counts as interrupted.
const startGrace = 15 * time.Second

// finalize completes a stop. Every step can be repeated: stopping a stopped
// or missing container is a no-op, the snapshot name is claimed in the row
// once and the provider skips an existing snapshot, removing a missing
// container is a no-op, and the row moves to stopped only from stopping.
func (r *Reconciler) finalize(ctx context.Context, row db.Session, cs []Container) error {
	s := r.s
	if err := r.stopAll(ctx, cs); err != nil {
		return err
	}
	if err := s.at("stopped", row.ID); err != nil {
		return err
	}
	snap, size, err := r.stopSnapshot(ctx, row)
	if err != nil {
		return err
	}
	if err := r.removeAll(ctx, row, cs); err != nil {
		return err
	}
	if err := s.at("removed", row.ID); err != nil {
		return err
	}
	r.gate(ctx, int(row.GpuID))
	if row.StopReason == StopContainerFailed {
		return r.finishFailed(ctx, row, cs, snap, size)
	}
	return r.finishStopped(ctx, row, snap, size)
}

// stopAll stops each of cs with the configured grace, in order, and returns
// the first error.
func (r *Reconciler) stopAll(ctx context.Context, cs []Container) error {
	s := r.s
	for _, c := range cs {
		if err := s.rt.Stop(ctx, c.ID, s.cfg.StopGrace); err != nil {
			return err
		}
	}
	return nil
}

// stopSnapshot takes the stop snapshot of row's workspace and returns its
// full name and size (0 when the provider cannot tell, which is only
// logged). The name is claimed in the row first, so a repeated pass reuses
// it; a session without a workspace returns the row's snapshot unchanged.
func (r *Reconciler) stopSnapshot(ctx context.Context, row db.Session) (string, int64, error) {
	s := r.s
	snap := row.Snapshot
	var size int64
	if row.Workspace != "" {
		if snap == "" {
			name := row.Workspace + "@stop-" + strconv.FormatInt(stopMillis(), 10)
			if _, err := s.st.RecordSessionSnapshot(ctx, db.RecordSessionSnapshotParams{ID: row.ID, Snapshot: name}); err != nil {
				return "", 0, fmt.Errorf("record snapshot name: %w", err)
			}
			fresh, err := s.st.GetSession(ctx, row.ID)
			if err != nil {
				return "", 0, err
			}
			snap = fresh.Snapshot
		}
		if err := s.at("snapshot-named", row.ID); err != nil {
			return "", 0, err
		}
		ws, short, ok := SplitSnapshot(snap)
		if !ok {
			return "", 0, fmt.Errorf("bad snapshot name %q", snap)
		}
		if err := s.ws.Snapshot(ctx, ws, short); err != nil {
			return "", 0, fmt.Errorf("snapshot: %w", err)
		}
		if err := s.at("snapshotted", row.ID); err != nil {
			return "", 0, err
		}
		var err error
		if size, err = s.ws.SnapshotSize(ctx, snap); err != nil {
			s.log.Warn("snapshot size unknown", "snapshot", snap, "err", err)
		}
	}
	return snap, size, nil
}

// removeAll removes each of cs and then the row's recorded container when
// it is not among them, returning the first error.
func (r *Reconciler) removeAll(ctx context.Context, row db.Session, cs []Container) error {
	s := r.s
	// The recorded container too: it may have vanished from the list
	// already while the runtime still holds parts of it (on Kubernetes a
	// deleted Pod leaves its Service). Removing a missing one is a no-op.
	removed := map[string]bool{}
	for _, c := range cs {
		removed[c.ID] = true
		if err := s.rt.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	if row.ContainerID != "" && !removed[row.ContainerID] {
		if err := s.rt.Remove(ctx, row.ContainerID); err != nil {
			return err
		}
	}
	return nil
}

// finishStopped marks a stopping row stopped: the snapshot's record, the
// status change and the hand-off of the GPU to the head of the queue commit
// in one transaction. Only the pass that moved the row counts and
// announces the change.
func (r *Reconciler) finishStopped(ctx context.Context, row db.Session, snap string, size int64) error {
	s := r.s
	// The snapshot's record, the stop and the hand-off of the GPU to the
	// head of the queue commit together.
	n, err := s.release(ctx, func(tx store.Store) (int64, error) {
		n, err := tx.FinishSessionStop(ctx, row.ID)
		if err != nil || n == 0 {
			return n, err
		}
		return n, s.recordSnapshot(ctx, tx, row, snap, size)
	})
	if err != nil {
		return fmt.Errorf("mark stopped: %w", err)
	}
	if n == 1 {
		s.changed(row, StatusStopped)
		if m := s.metrics(); m != nil {
			m.stopped.WithLabelValues(row.StopReason).Inc()
		}
	}
	s.log.Info("session stopped", "session", row.ID, "slug", row.Slug, "snapshot", snap, "reason", row.StopReason)
	return nil
}

// finishFailed ends a session whose container the runtime reported failed:
// status error with the runtime's reason (or a generic one when the
// container was already removed by an earlier, interrupted pass).
func (r *Reconciler) finishFailed(ctx context.Context, row db.Session, cs []Container, snap string, size int64) error {
	reason := "the session's container failed"
	for _, c := range cs {
		if c.Failure != "" {
			reason = c.Failure
		}
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	// Like a stop: the snapshot's record, the status change and the
	// hand-off of the GPU to the queue commit together.
	n, err := r.s.release(ctx, func(tx store.Store) (int64, error) {
		n, err := tx.FailSession(ctx, db.FailSessionParams{ID: row.ID, ErrorReason: reason})
		if err != nil || n == 0 {
			return n, err
		}
		return n, r.s.recordSnapshot(ctx, tx, row, snap, size)
	})
	if err != nil {
		return fmt.Errorf("mark error: %w", err)
	}
	if n == 1 {
		r.s.changed(row, StatusError)
		if m := r.s.metrics(); m != nil {
			m.stopped.WithLabelValues(row.StopReason).Inc()
		}
	}
	r.s.log.Warn("session failed", "session", row.ID, "slug", row.Slug, "reason", reason)
	return nil
}

var (
	stopMu   sync.Mutex
	lastStop int64
)

// stopMillis is the Unix time in milliseconds for a stop snapshot's name,
// strictly increasing within the process: two sessions finalized in the
// same millisecond still get different names (Kubernetes VolumeSnapshots
// share a namespace, so stop-<unixms> must not repeat there).
func stopMillis() int64 {
	stopMu.Lock()
	defer stopMu.Unlock()
	now := time.Now().UnixMilli()
	if now <= lastStop {
		now = lastStop + 1
	}
	lastStop = now
	return now
}

// gate runs the GPU health gate on a released GPU and disables it when
// unhealthy, before the row's status change lets it go to the next user.
func (r *Reconciler) gate(ctx context.Context, gpuID int) {
	s := r.s
	g, ok := s.gpu(gpuID)
	if !ok {
		return
	}
	h, err := s.gpus.Check(ctx, g)
	if err != nil {
		h = Health{Unhealthy: true, Reason: "health check failed: " + err.Error()}
	}
	if !h.Unhealthy {
		return
	}
	s.log.Error("GPU failed the health gate; disabling it", "gpu", gpuID, "reason", h.Reason)
	if m := s.metrics(); m != nil {
		m.gpuGated.Inc()
	}
	if _, err := s.st.SetGPUEnabled(ctx, db.SetGPUEnabledParams{ID: int32(gpuID), Enabled: false, DisabledReason: h.Reason}); err != nil {
		s.log.Error("disable GPU", "gpu", gpuID, "err", err)
	}
}
