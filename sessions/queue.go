package sessions

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// The GPU waitlist.
//
// When no GPU is free, Request puts the create in the queue of its exposure
// (session_queue) instead of refusing it; the caller gets a QueueEntry with
// its position and an estimated start. The queue lives in the database and
// in the sessions service, independent of any runtime (Docker, Kubernetes):
// a runtime only ever sees the sessions the queue grants.
//
// Semantics, which every runtime's implementation relies on:
//   - one queue per exposure: a user has at most one queued request in
//     each (a unique index on queued_user_id and exposure), and a request
//     counts against nothing until granted;
//   - fair share within each queue: the user with fewer GPU-seconds held
//     in the last 24 h (on either exposure) goes first, ties by arrival
//     (ListQueuedFair). Positions are per exposure;
//   - between the queues, a freed GPU goes to the head that arrived first
//     (queues.next): deterministic, and no queue starves the other;
//   - hand-off in the freeing transaction: every transaction that ends an
//     active session (Service.release: a stop finalized, a failed start)
//     takes the scheduler lock, makes the status change, and grants each
//     GPU now free to the head of the queue by inserting its starting
//     session and marking the request granted, all before the commit. A
//     crash either keeps the GPU held and the request queued, or commits
//     both the release and the grant; the granted session is launched after
//     the commit and, if the process dies first, recovery launches it;
//   - creates take the same scheduler lock, and allocate a GPU directly only
//     when nobody is queued, so a newcomer never overtakes the queue;
//   - no GPU is ever given twice: the unique index on sessions.active_gpu_id
//     and the conditional grant (status queued -> granted) make a double
//     grant a failed transaction, not a second holder;
//   - restarts lose nothing: the queue is rows; each recovery pass also
//     hands out any GPU that is free while requests wait (a GPU enabled by
//     an admin, or found at a GPU sync).
//   - cancel (CancelQueued) is a conditional update under the same lock: it
//     either cancels a queued request or reports the session it was granted;
//   - a granted or created start that the runtime's scheduler cannot place
//     (ErrUnschedulable, Kubernetes) is queued again (Service.requeue): its
//     row ends, its GPU is held back for a while, and the request rejoins
//     the queue with its arrival time, all in one freeing transaction.

// Queue entry statuses.
const (
	QueueQueued    = "queued"
	QueueGranted   = "granted"
	QueueCancelled = "cancelled"
)

// QueueEntry is one request on the GPU waitlist.
type QueueEntry struct {
	ID       int64    `json:"id"`
	UserID   int64    `json:"user_id"`
	Exposure Exposure `json:"exposure"`
	Pack     string   `json:"pack"`
	// FromSnapshotID is the snapshot the session will start from, if any.
	FromSnapshotID int64 `json:"from_snapshot_id,omitempty"`
	// Status is queued, granted (SessionID is the session it got) or
	// cancelled (Reason says why).
	Status string `json:"status"`
	// Position is 1 for the next request of this exposure's queue to get a
	// GPU (queued only); QueueLength is that queue's length.
	Position    int `json:"position,omitempty"`
	QueueLength int `json:"queue_length,omitempty"`
	// EstimatedStartAt is when a GPU should reach this request, from the
	// running sessions' idle timeouts and maximum lifetimes; null when it
	// cannot be estimated, and EstimateUnknown then says why.
	EstimatedStartAt *time.Time `json:"estimated_start_at"`
	EstimateUnknown  string     `json:"estimate_unknown,omitempty"`
	// GPUHours24h is the GPU time this user held in the last 24 h, the
	// fair-share key.
	GPUHours24h float64 `json:"gpu_hours_24h"`
	SessionID   int64   `json:"session_id,omitempty"`
	// Reason says why a cancelled request was cancelled, or why a queued
	// one is on hold (HoldReason: no GPU is handed out while session
	// isolation is not in force).
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// HoldReason starts QueueEntry.Reason (and is the EstimateUnknown) of
// queued requests while the east-west rule is not in force: the waitlist
// hands out no GPU then, since a promoted session would start unprotected.
const HoldReason = "on hold: no session starts until session isolation is in force again"

// Placement is the outcome of Request: a session when a GPU was free, or a
// place on the waitlist.
type Placement struct {
	Session *Session
	Queued  *QueueEntry
}

// Errors of the waitlist.
var (
	// ErrAlreadyQueued: the user already has a queued request on that
	// exposure.
	ErrAlreadyQueued = errors.New("you already have a queued session request on this exposure")
	// ErrNotQueued: the user has no queued request on that exposure.
	ErrNotQueued = errors.New("no queued session request")
	// ErrAlreadyGranted: the request got its GPU before the cancel.
	ErrAlreadyGranted = errors.New("the queued request has already been granted a GPU")
)

// Request is Create that waits: with a GPU free it allocates and launches a
// session (Placement.Session); with none, or with other users already
// waiting, it joins the waitlist (Placement.Queued).
func (s *Service) Request(ctx context.Context, req CreateRequest) (Placement, error) {
	if err := s.isolationRefusal(); err != nil {
		return Placement{}, err
	}
	row, entryID, err := s.allocate(ctx, req, true)
	if err != nil {
		s.countRefusal(err)
		return Placement{}, err
	}
	if entryID != 0 {
		if m := s.metrics(); m != nil {
			m.queued.Inc()
		}
		e, err := s.QueueStatus(ctx, req.UserID, req.Exposure)
		if err != nil {
			return Placement{}, err
		}
		// A GPU may have been freed by a transaction that committed before
		// ours saw the queue: recovery hands it out at once.
		s.Kick()
		return Placement{Queued: &e}, nil
	}
	if m := s.metrics(); m != nil {
		m.created.WithLabelValues(string(req.Exposure)).Inc()
	}
	s.launchAsync(row)
	sess := s.view(row)
	return Placement{Session: &sess}, nil
}

// enqueue inserts a queued request inside the allocation transaction.
func enqueue(ctx context.Context, tx store.Store, req CreateRequest, image string, snapID int64) (int64, error) {
	id, err := tx.InsertQueueEntry(ctx, db.InsertQueueEntryParams{
		UserID: req.UserID, Exposure: db.SessionQueueExposure(req.Exposure), Pack: req.Pack, Image: image, FromSnapshotID: nullID(snapID),
	})
	if err != nil {
		if store.IsDuplicate(err) {
			return 0, ErrAlreadyQueued
		}
		return 0, fmt.Errorf("join queue: %w", err)
	}
	return id, nil
}

// release runs free, a status change that ends active sessions (so frees
// their GPUs), and hands every GPU free afterwards to the head of the queue,
// in one transaction under the scheduler lock. free may be nil (a pass
// handing out GPUs freed by other means). It returns free's count of changed
// rows; granted sessions are launched after the commit.
func (s *Service) release(ctx context.Context, free func(tx store.Store) (int64, error)) (int64, error) {
	var (
		n       int64
		granted []db.Session
	)
	err := s.st.InTx(ctx, func(tx store.Store) error {
		n, granted = 0, nil
		if _, err := tx.LockScheduler(ctx); err != nil {
			return fmt.Errorf("lock scheduler: %w", err)
		}
		if free != nil {
			var err error
			if n, err = free(tx); err != nil {
				return err
			}
		}
		var err error
		granted, err = s.handOff(ctx, tx)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, row := range granted {
		if m := s.metrics(); m != nil {
			m.granted.Inc()
			m.created.WithLabelValues(string(row.Exposure)).Inc()
		}
		s.log.Info("queued request granted a GPU", "session", row.ID, "user", row.UserID, "gpu", row.GpuID)
		s.launchAsync(row)
	}
	return n, nil
}

// handOff grants free GPUs to queued requests, inside the caller's
// transaction (which holds the scheduler lock): each free GPU goes to the
// request that the two queues' merge (queues.next) puts first. A request
// whose user is at their session limit waits on; one that can no longer be
// granted (the user lost INTERNAL, the snapshot is gone) is cancelled with
// a reason. Either way it is passed over, and its queue's next request is
// that exposure's head for this pass.
func (s *Service) handOff(ctx context.Context, tx store.Store) ([]db.Session, error) {
	rows, err := tx.ListQueuedFair(ctx)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	if err := s.iso.Err(); err != nil {
		// A promotion starts a session as surely as a create does: while
		// the east-west rule is not known to be in force the requests stay
		// queued (QueueEntry.Reason says why) and the GPUs stay free. The
		// verdict's return kicks a pass that hands them out.
		if s.isoHeld.CompareAndSwap(false, true) {
			s.log.Warn("waitlist on hold: session isolation is not in force", "queued", len(rows), "err", err.Error())
		}
		return nil, nil
	}
	s.isoHeld.Store(false)
	qs := splitQueues(rows)
	passOver := func(q db.ListQueuedFairRow) (bool, error) {
		u, err := tx.LockUser(ctx, q.UserID)
		if err != nil {
			return false, fmt.Errorf("lock user: %w", err)
		}
		cancel := ""
		switch {
		case Exposure(q.Exposure) == Internal && !u.CanUseInternal:
			cancel = "internal sessions need the can_use_internal entitlement"
		case q.FromSnapshotID.Valid:
			snap, err := tx.GetSnapshot(ctx, q.FromSnapshotID.Int64)
			if err != nil || snap.Status != db.SessionSnapshotsStatusAvailable {
				cancel = "the snapshot to start from is gone"
			}
		}
		if cancel != "" {
			if _, err := tx.CancelQueueEntry(ctx, db.CancelQueueEntryParams{ID: q.ID, Reason: cancel}); err != nil {
				return false, fmt.Errorf("cancel queue entry: %w", err)
			}
			return true, nil
		}
		active, err := tx.CountActiveSessionsByUser(ctx, q.UserID)
		if err != nil {
			return false, fmt.Errorf("count active sessions: %w", err)
		}
		// At the limit: waits until the user's own session ends.
		return active >= int64(u.MaxConcurrentSessions), nil
	}
	var granted []db.Session
	for {
		g, err := tx.PickFreeGPU(ctx)
		if err != nil {
			if store.IsNotFound(err) {
				break
			}
			return nil, fmt.Errorf("pick GPU: %w", err)
		}
		q, ok, err := qs.next(passOver)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		row, err := insertSession(ctx, tx, CreateRequest{UserID: q.UserID, Exposure: Exposure(q.Exposure), Pack: q.Pack},
			q.Image, g.ID, q.FromSnapshotID.Int64)
		if err != nil {
			return nil, err
		}
		n, err := tx.GrantQueueEntry(ctx, db.GrantQueueEntryParams{ID: q.ID, SessionID: nullID(row.ID)})
		if err != nil {
			return nil, fmt.Errorf("grant queue entry: %w", err)
		}
		if n != 1 {
			// Cancelled meanwhile (impossible under the scheduler lock, but
			// never give a GPU to a request that is not queued).
			return nil, fmt.Errorf("queue entry %d changed during its grant", q.ID)
		}
		granted = append(granted, row)
	}
	return granted, nil
}

// queues is the waitlist as two queues, one per exposure, each in
// fair-share order (fewer GPU-seconds in the last 24 h, then arrival), and
// the rule that decides which exposure's head gets the next free GPU:
// the head that arrived first (created_at, then id). The rule is
// deterministic, and starvation-free between exposures: once a request is
// the head of its queue, the other queue can win only with requests that
// arrived before it, of which there are finitely many, so every non-empty
// queue gets a GPU within that many grants.
type queues struct {
	q  [2][]db.ListQueuedFairRow // external, internal
	at [2]int
}

func splitQueues(rows []db.ListQueuedFairRow) *queues {
	qs := &queues{}
	for _, r := range rows {
		i := exposureIndex(Exposure(r.Exposure))
		qs.q[i] = append(qs.q[i], r)
	}
	return qs
}

func exposureIndex(e Exposure) int {
	if e == Internal {
		return 1
	}
	return 0
}

// next removes and returns the request that gets the next GPU. passOver
// (nil: none) is asked about each queue's head before the two are
// compared; a head it passes over is dropped from this pass, and the
// next request of its queue becomes the head.
func (qs *queues) next(passOver func(db.ListQueuedFairRow) (bool, error)) (db.ListQueuedFairRow, bool, error) {
	best := -1
	for i := range qs.q {
		for qs.at[i] < len(qs.q[i]) {
			if passOver == nil {
				break
			}
			skip, err := passOver(qs.q[i][qs.at[i]])
			if err != nil {
				return db.ListQueuedFairRow{}, false, err
			}
			if !skip {
				break
			}
			qs.at[i]++
		}
		if qs.at[i] == len(qs.q[i]) {
			continue
		}
		if best < 0 || arrivedBefore(qs.q[i][qs.at[i]], qs.q[best][qs.at[best]]) {
			best = i
		}
	}
	if best < 0 {
		return db.ListQueuedFairRow{}, false, nil
	}
	r := qs.q[best][qs.at[best]]
	qs.at[best]++
	return r, true, nil
}

func arrivedBefore(a, b db.ListQueuedFairRow) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// CancelQueued cancels the user's queued request on exposure e. A request
// granted meanwhile is ErrAlreadyGranted, with the entry (its SessionID).
func (s *Service) CancelQueued(ctx context.Context, userID int64, e Exposure) (QueueEntry, error) {
	var entry db.SessionQueue
	err := s.st.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.LockScheduler(ctx); err != nil {
			return fmt.Errorf("lock scheduler: %w", err)
		}
		var err error
		entry, err = tx.LatestQueueEntryByUser(ctx, db.LatestQueueEntryByUserParams{UserID: userID, Exposure: db.SessionQueueExposure(e)})
		if err != nil {
			if store.IsNotFound(err) {
				return ErrNotQueued
			}
			return fmt.Errorf("queue entry: %w", err)
		}
		switch entry.Status {
		case db.SessionQueueStatusGranted:
			return ErrAlreadyGranted
		case db.SessionQueueStatusCancelled:
			return ErrNotQueued
		}
		if _, err := tx.CancelQueueEntry(ctx, db.CancelQueueEntryParams{ID: entry.ID, Reason: "cancelled by the user"}); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
		entry, err = tx.GetQueueEntry(ctx, entry.ID)
		return err
	})
	if err != nil && !errors.Is(err, ErrAlreadyGranted) {
		return QueueEntry{}, err
	}
	return queueEntryFromRow(entry), err
}

func queueEntryFromRow(r db.SessionQueue) QueueEntry {
	return QueueEntry{
		ID: r.ID, UserID: r.UserID, Exposure: Exposure(r.Exposure), Pack: r.Pack, FromSnapshotID: r.FromSnapshotID.Int64,
		Status: string(r.Status), SessionID: r.SessionID.Int64, Reason: r.Reason, CreatedAt: r.CreatedAt.UTC(),
	}
}

// QueueStatus is the user's latest request on exposure e: while queued
// with its position and estimate, else granted (with the session) or
// cancelled. ErrNotQueued when the user never queued there.
func (s *Service) QueueStatus(ctx context.Context, userID int64, e Exposure) (QueueEntry, error) {
	r, err := s.st.LatestQueueEntryByUser(ctx, db.LatestQueueEntryByUserParams{UserID: userID, Exposure: db.SessionQueueExposure(e)})
	if err != nil {
		if store.IsNotFound(err) {
			return QueueEntry{}, ErrNotQueued
		}
		return QueueEntry{}, fmt.Errorf("queue entry: %w", err)
	}
	entry := queueEntryFromRow(r)
	if entry.Status != QueueQueued {
		return entry, nil
	}
	all, err := s.Queue(ctx)
	if err != nil {
		return QueueEntry{}, err
	}
	for _, q := range all {
		if q.ID == entry.ID {
			return q, nil
		}
	}
	// Granted or cancelled between the two reads: report it as it is now.
	r, err = s.st.GetQueueEntry(ctx, entry.ID)
	if err != nil {
		return QueueEntry{}, fmt.Errorf("queue entry: %w", err)
	}
	return queueEntryFromRow(r), nil
}

// Queue lists every queued request in hand-off order (the two exposures'
// queues merged by queues.next, as the hand-off would grant them if no
// request were passed over), each with its position in its exposure's
// queue and its estimate.
func (s *Service) Queue(ctx context.Context) ([]QueueEntry, error) {
	rows, err := s.st.ListQueuedFair(ctx)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	if len(rows) == 0 {
		return []QueueEntry{}, nil
	}
	est, err := s.estimator(ctx)
	if err != nil {
		return nil, err
	}
	qs := splitQueues(rows)
	held := s.iso.Err()
	out := make([]QueueEntry, 0, len(rows))
	for {
		r, ok, _ := qs.next(nil)
		if !ok {
			break
		}
		e, i := Exposure(r.Exposure), exposureIndex(Exposure(r.Exposure))
		q := QueueEntry{
			ID: r.ID, UserID: r.UserID, Exposure: e, Pack: r.Pack, FromSnapshotID: r.FromSnapshotID.Int64,
			Status: QueueQueued, Position: qs.at[i], QueueLength: len(qs.q[i]), CreatedAt: r.CreatedAt.UTC(),
			GPUHours24h: float64(r.GpuUs) / 3.6e9,
		}
		q.EstimatedStartAt, q.EstimateUnknown = est.next()
		if held != nil {
			q.Reason = HoldReason + ": " + held.Error()
			q.EstimatedStartAt, q.EstimateUnknown = nil, HoldReason
		}
		out = append(out, q)
	}
	return out, nil
}

// UserGPUHours is one user's GPU time in the last 24 h.
type UserGPUHours struct {
	UserID   int64   `json:"user_id"`
	Email    string  `json:"email"`
	GPUHours float64 `json:"gpu_hours_24h"`
}

// GPUHours lists GPU time per user in the last 24 h, most first.
func (s *Service) GPUHours(ctx context.Context) ([]UserGPUHours, error) {
	rows, err := s.st.GPUSecondsByUser(ctx)
	if err != nil {
		return nil, fmt.Errorf("GPU hours: %w", err)
	}
	out := make([]UserGPUHours, 0, len(rows))
	for _, r := range rows {
		out = append(out, UserGPUHours{UserID: r.UserID, Email: r.Email, GPUHours: float64(r.GpuUs) / 3.6e9})
	}
	return out, nil
}

// estimate hands out start estimates in queue order: a min-heap of the
// times GPUs become free; each queued request takes the earliest, and the
// session it starts then holds that GPU for its expected length.
type estimate struct {
	free    timeHeap
	holdFor time.Duration // expected length of a new session; 0 unknown
	now     time.Time
	why     string
}

func (e *estimate) next() (*time.Time, string) {
	if e.free.Len() == 0 {
		return nil, e.why
	}
	t := heap.Pop(&e.free).(time.Time)
	if t.Before(e.now) {
		t = e.now
	}
	if e.holdFor > 0 {
		heap.Push(&e.free, t.Add(e.holdFor))
	}
	return &t, ""
}

type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// estimator builds the estimate from the enabled GPUs and the sessions on
// them: a stopping session frees its GPU about now; a running one at the
// earlier of its idle deadline (last routed request or busy GPU plus the
// idle timeout) and its lifetime deadline; with neither limit set its end
// is unknown, and the GPU is left out of the estimate.
func (s *Service) estimator(ctx context.Context) (*estimate, error) {
	gpus, err := s.st.ListGPUsWithHolder(ctx)
	if err != nil {
		return nil, fmt.Errorf("list GPUs: %w", err)
	}
	active, err := s.st.ListActiveSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active sessions: %w", err)
	}
	now, err := s.st.SessionClock(ctx)
	if err != nil {
		return nil, fmt.Errorf("read database clock: %w", err)
	}
	byID := map[int64]db.Session{}
	for _, r := range active {
		byID[r.ID] = r
	}
	e := &estimate{now: now}
	switch {
	case s.cfg.MaxLifetime > 0:
		e.holdFor = s.cfg.MaxLifetime
	case s.cfg.IdleTimeout > 0:
		e.holdFor = s.cfg.IdleTimeout
	}
	for _, g := range gpus {
		if !g.Enabled || !g.Present {
			continue
		}
		if !g.SessionID.Valid {
			if g.HeldUntil.Valid && g.HeldUntil.Time.After(now) {
				// Held back (its session could not be placed): offered
				// again when the hold ends.
				e.free = append(e.free, g.HeldUntil.Time)
				continue
			}
			e.free = append(e.free, now)
			continue
		}
		r, ok := byID[g.SessionID.Int64]
		if !ok {
			e.free = append(e.free, now)
			continue
		}
		if end, ok := s.expectedEnd(r, now); ok {
			e.free = append(e.free, end)
		}
	}
	heap.Init(&e.free)
	if e.free.Len() == 0 {
		e.why = "the sessions holding the GPUs have no idle timeout or maximum lifetime, so their end is unknown"
	} else if e.holdFor == 0 {
		e.why = "sessions have no idle timeout or maximum lifetime, so the end of the sessions ahead is unknown"
	}
	return e, nil
}

// expectedEnd is when an active session is expected to free its GPU.
func (s *Service) expectedEnd(r db.Session, now time.Time) (time.Time, bool) {
	if Status(r.Status) == StatusStopping {
		return now, true
	}
	d := s.deadlines(r)
	var ends []time.Time
	if d.Idle != nil {
		ends = append(ends, *d.Idle)
	}
	if d.Lifetime != nil {
		ends = append(ends, *d.Lifetime)
	}
	if len(ends) == 0 {
		return time.Time{}, false
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	return ends[0], true
}
