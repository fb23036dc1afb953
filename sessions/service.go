package sessions

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medforge/medforge/internal/text"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
)

// Config is the session runtime's configuration (cmd/medforge builds it
// from the settings in config.Sessions).
type Config struct {
	// Instance scopes reconciliation: only containers labelled with it are
	// this process's to manage. `medforge serve` uses the database name, so
	// each database reconciles only its own containers; tests use their
	// own so they never touch each other's. Empty means "default".
	Instance string
	// Packs is the allowlist of pack name -> image; "default" must exist.
	Packs map[string]string
	// ExternalNetwork and InternalNetwork are the Docker networks per exposure.
	ExternalNetwork string
	InternalNetwork string
	// Limits per container. Zero means unlimited.
	NanoCPUs    int64
	MemoryBytes int64
	PidsLimit   int64
	// TrainingDataRoot and PublicEvalDataRoot are mounted read-only at
	// /data/training and /data/public-eval when set. TestHoldoutsDir is never
	// mounted; it is only used to refuse any mount that overlaps it.
	TrainingDataRoot   string
	PublicEvalDataRoot string
	TestHoldoutsDir    string
	// StartTimeout is how long a session may stay starting before it
	// becomes error.
	StartTimeout time.Duration
	// StopGrace is how long a stopping container gets before it is killed.
	StopGrace time.Duration
	// PollInterval is the recovery loop's period when healthy;
	// BackoffMax caps its exponential backoff after failures
	// (SESSION_POLL_BACKOFF_MAX_SECONDS).
	PollInterval time.Duration
	BackoffMax   time.Duration
	// UnhealthyAfter is how many consecutive failed recovery passes make
	// /healthz degraded (a Docker ping failure does at once).
	UnhealthyAfter int
	// IdleTimeout stops running sessions with no routed request for that
	// long; MaxLifetime stops them that long after they started. Zero
	// disables either.
	IdleTimeout time.Duration
	MaxLifetime time.Duration
	// GPUBusyPercent is the GPU utilisation (0-100) at or above which a
	// recovery pass counts a session as busy, like routed traffic, for
	// idle culling (only providers that sample utilisation: NVML).
	GPUBusyPercent int
	// WarnBefore is how long before an idle cull or a lifetime stop the
	// session shows a warning (Session.Warning).
	WarnBefore time.Duration
	// MaxExtension is the most a user may extend a session, once: it pushes
	// the lifetime limit back and restarts the idle clock. 0 disables it.
	MaxExtension time.Duration
	// Retention is the snapshot retention policy (pruned by recovery).
	Retention Retention
	// UnschedulableHold is how long a GPU whose session could not be
	// placed by the runtime's scheduler (ErrUnschedulable) is held back
	// from allocation (60 s).
	UnschedulableHold time.Duration
}

func (c *Config) defaults() {
	if c.Instance == "" {
		c.Instance = "default"
	}
	if c.ExternalNetwork == "" {
		c.ExternalNetwork = "medforge-external-sessions"
	}
	if c.InternalNetwork == "" {
		c.InternalNetwork = "medforge-internal-sessions"
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 2 * time.Minute
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 60 * time.Second
	}
	if c.UnhealthyAfter <= 0 {
		c.UnhealthyAfter = 3
	}
	if c.GPUBusyPercent <= 0 {
		c.GPUBusyPercent = 10
	}
	if c.WarnBefore <= 0 {
		c.WarnBefore = 10 * time.Minute
	}
	if c.UnschedulableHold <= 0 {
		c.UnschedulableHold = time.Minute
	}
}

// Service is the session runtime: allocation, lifecycle and (through its
// Reconciler) recovery. It is safe for concurrent use.
type Service struct {
	cfg   Config
	st    store.Store
	gpus  GPUProvider
	ws    WorkspaceProvider
	rt    Runtime
	log   *slog.Logger
	probe *http.Client

	bg       context.Context
	cancelBG context.CancelFunc
	wg       sync.WaitGroup

	syncMu    sync.Mutex // one SyncGPUs at a time
	mu        sync.Mutex
	launching map[int64]bool // sessions whose start is in flight here
	gpuByID   map[int]GPU
	m         *metrics // nil until RegisterMetrics

	kick chan struct{}
	rec  *Reconciler

	lmu       sync.Mutex
	listeners []func(Change) // see OnChange
	exits     []func(string) // see OnExit

	// iso gates Create on the east-west rule (see Isolation); nil is off.
	iso         *Isolation
	isoInterval time.Duration
	// isoHeld is set while handOff keeps the waitlist on hold (logged once).
	isoHeld atomic.Bool

	// hook, when set by tests, is called at named points of the stop
	// finalization; a non-nil error aborts it there as a crash would.
	hook func(step string, sessionID int64) error
}

// New builds a Service. It does not touch Docker or the database until
// Start or a request.
func New(cfg Config, st store.Store, gpus GPUProvider, ws WorkspaceProvider, rt Runtime, log *slog.Logger) (*Service, error) {
	cfg.defaults()
	if _, ok := cfg.Packs["default"]; !ok {
		return nil, errors.New("sessions: the pack allowlist needs a \"default\" pack")
	}
	if log == nil {
		log = slog.Default()
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, st: st, gpus: gpus, ws: ws, rt: rt, log: log.With("component", "sessions"),
		probe:     &http.Client{Timeout: 2 * time.Second},
		bg:        bg,
		cancelBG:  cancel,
		launching: map[int64]bool{},
		gpuByID:   map[int]GPU{},
		kick:      make(chan struct{}, 1),
	}
	s.rec = &Reconciler{s: s}
	return s, nil
}

// SetIsolation makes Create and Request refuse with ErrIsolation, and the
// waitlist hold its requests (no GPU handed out, a reason shown), while
// iso's last verdict says the east-west rule is not in force. Start runs the first
// check and re-runs it every interval. Call before Start.
func (s *Service) SetIsolation(iso *Isolation, interval time.Duration) {
	s.iso, s.isoInterval = iso, interval
	if iso != nil {
		iso.mu.Lock()
		iso.restored = s.Kick
		iso.mu.Unlock()
	}
}

// Isolation is the east-west gate set by SetIsolation (nil when off).
func (s *Service) Isolation() *Isolation { return s.iso }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Reconciler is the service's recovery loop.
func (s *Service) Reconciler() *Reconciler { return s.rec }

// SetHookForTest installs a fault-injection hook called at each step of the
// stop finalization ("stopped", "snapshot-named", "snapshotted", "removed").
// Tests only.
func (s *Service) SetHookForTest(h func(step string, sessionID int64) error) { s.hook = h }

func (s *Service) at(step string, id int64) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(step, id)
}

// Start syncs the GPU inventory, creates the session networks (an error if
// it cannot) and runs the first recovery pass synchronously, then keeps the
// recovery loop running until Close. A failed first pass is logged, not
// returned: the loop retries with backoff and /healthz shows degraded
// meanwhile.
func (s *Service) Start(ctx context.Context) error {
	if err := s.SyncGPUs(ctx); err != nil {
		return err
	}
	if err := s.rt.EnsureNetworks(ctx); err != nil {
		// Without its networks (or the internal network's host guard) no
		// session may start: an internal session could reach the host.
		return fmt.Errorf("session networks: %w", err)
	}
	if err := s.iso.Refresh(ctx); err != nil {
		// Not fatal: the API stays up, /healthz says degraded and creates
		// answer 503 with the reason until a later check passes.
		s.log.Error("east-west isolation is not in force: sessions cannot be created", "method", s.iso.c.Method(), "err", err.Error())
	}
	if s.iso != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.iso.Loop(s.bg, s.isoInterval)
		}()
	}
	if err := s.rec.Pass(ctx); err != nil {
		s.log.Error("first recovery pass failed", "err", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.rec.Loop(s.bg)
	}()
	if w, ok := s.rt.(ExitWatcher); ok {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchExits(w)
		}()
	}
	if w, ok := s.gpus.(InventoryWatcher); ok {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchInventory(w)
		}()
	}
	return nil
}

// inventoryCoalesce is how long watchInventory waits after a change for
// more before it re-syncs (a burst of nodes joining is one sync).
const inventoryCoalesce = 200 * time.Millisecond

// watchInventory re-syncs the GPU inventory whenever the provider reports a
// change, and kicks recovery so GPUs that became free are handed to the
// waitlist at once. A failed sync is retried; the watch is re-subscribed
// (after a pause) when it breaks.
func (s *Service) watchInventory(w InventoryWatcher) {
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-s.bg.Done():
				return
			case <-changed:
			}
			select {
			case <-s.bg.Done():
				return
			case <-time.After(inventoryCoalesce):
			}
			ctx, cancel := context.WithTimeout(s.bg, 30*time.Second)
			err := s.SyncGPUs(ctx)
			cancel()
			if err != nil {
				if s.bg.Err() != nil {
					return
				}
				s.log.Warn("GPU inventory re-sync failed; retrying", "err", err)
				time.AfterFunc(2*time.Second, signal)
				continue
			}
			s.Kick()
		}
	}()
	for s.bg.Err() == nil {
		if err := w.WatchInventory(s.bg, signal); err != nil {
			s.log.Debug("GPU inventory watch broke; re-subscribing", "err", err)
		}
		select {
		case <-s.bg.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// watchExits kicks recovery whenever one of this instance's containers
// exits, re-subscribing (after a pause) when the event stream breaks; the
// poll loop remains the safety net.
func (s *Service) watchExits(w ExitWatcher) {
	for s.bg.Err() == nil {
		err := w.WatchExits(s.bg, map[string]string{LabelInstance: s.cfg.Instance}, func(id string) {
			s.exited(id)
			// The engine may publish the event a moment before its
			// container list shows the new state: look now and again
			// shortly after.
			s.Kick()
			time.AfterFunc(time.Second, s.Kick)
		})
		if err != nil {
			s.log.Debug("container event stream broke; polling meanwhile", "err", err)
		}
		select {
		case <-s.bg.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// Close stops the recovery loop and waits for in-flight starts to finish.
// Sessions keep running; the next Start recovers them.
func (s *Service) Close() {
	s.cancelBG()
	s.wg.Wait()
}

// Kick asks the recovery loop for a pass now (after a stop request).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// SyncGPUs makes gpu_devices match the provider: reported GPUs are upserted
// and present, the others are kept (for history) but marked absent. Enabled
// flags and disabled reasons survive a sync. Only rows that change are
// written (and so locked): a sync while users create sessions never makes
// an allocation's SKIP LOCKED pick miss a GPU that did not change, and a
// sync with nothing new writes nothing.
func (s *Service) SyncGPUs(ctx context.Context) error {
	s.syncMu.Lock() // syncs compare, then write: one at a time
	defer s.syncMu.Unlock()
	devs, err := s.gpus.Devices(ctx)
	if err != nil {
		return fmt.Errorf("list GPUs (%s): %w", s.gpus.Kind(), err)
	}
	cur, err := s.st.ListGPUs(ctx)
	if err != nil {
		return fmt.Errorf("sync GPUs: %w", err)
	}
	have := make(map[int32]db.GpuDevice, len(cur))
	for _, r := range cur {
		have[r.ID] = r
	}
	reported := make(map[int32]bool, len(devs))
	var upsert []GPU
	for _, g := range devs {
		reported[int32(g.Index)] = true
		r, ok := have[int32(g.Index)]
		if !ok || !r.Present || r.Uuid != g.UUID || r.Name != g.Name || r.MemoryBytes != g.MemoryBytes || r.Provider != s.gpus.Kind() {
			upsert = append(upsert, g)
		}
	}
	var gone []int32
	for _, r := range cur {
		if r.Present && !reported[r.ID] {
			gone = append(gone, r.ID)
		}
	}
	if len(upsert) > 0 || len(gone) > 0 {
		err = s.st.InTx(ctx, func(tx store.Store) error {
			for _, id := range gone {
				if _, err := tx.MarkGPUAbsent(ctx, id); err != nil {
					return err
				}
			}
			for _, g := range upsert {
				if err := tx.UpsertGPU(ctx, db.UpsertGPUParams{
					ID: int32(g.Index), Uuid: g.UUID, Name: g.Name, MemoryBytes: g.MemoryBytes, Provider: s.gpus.Kind(),
				}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sync GPUs: %w", err)
		}
	}
	s.mu.Lock()
	s.gpuByID = map[int]GPU{}
	for _, g := range devs {
		s.gpuByID[g.Index] = g
	}
	s.mu.Unlock()
	s.log.Info("GPU inventory synced", "provider", s.gpus.Kind(), "count", len(devs), "new_or_changed", len(upsert), "gone", len(gone))
	return nil
}

func (s *Service) gpu(id int) (GPU, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gpuByID[id]
	return g, ok
}

// CreateRequest asks for a new session.
type CreateRequest struct {
	UserID   int64
	Exposure Exposure
	Pack     string // "" means "default"
	// FromSnapshot, when set, is the name of one of the user's snapshots:
	// the session's workspace is made from it (restore or fork).
	FromSnapshot string
}

// Create allocates a GPU and inserts a starting session in one transaction,
// then starts its container in the background; the session becomes running
// once the IDE answers, or error with a reason. It never queues: with no
// GPU free, or other users on the waitlist, it is ErrNoGPU (Request queues
// instead). It returns ErrLimit, ErrNoGPU, ErrInternalNotAllowed,
// ErrUnknownPack, ErrSnapshotNotFound or ErrSnapshotExposure for refusals.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Session, error) {
	if err := s.isolationRefusal(); err != nil {
		return Session{}, err
	}
	row, _, err := s.allocate(ctx, req, false)
	if err != nil {
		s.countRefusal(err)
		return Session{}, err
	}
	if m := s.metrics(); m != nil {
		m.created.WithLabelValues(string(req.Exposure)).Inc()
	}
	s.launchAsync(row)
	return s.view(row), nil
}

// isolationRefusal is ErrIsolation (counted) while the east-west rule is
// not known to be in force; nothing is allocated or queued then.
func (s *Service) isolationRefusal() error {
	err := s.iso.Err()
	if err != nil {
		if m := s.metrics(); m != nil {
			m.refused.WithLabelValues("isolation").Inc()
		}
	}
	return err
}

func (s *Service) countRefusal(err error) {
	if m := s.metrics(); m != nil {
		switch {
		case errors.Is(err, ErrLimit):
			m.refused.WithLabelValues("limit").Inc()
		case errors.Is(err, ErrNoGPU):
			m.refused.WithLabelValues("no_gpu").Inc()
		}
	}
}

// launchAsync launches a starting session's container in the background.
func (s *Service) launchAsync(row db.Session) {
	s.mu.Lock()
	s.launching[row.ID] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.launch(row)
	}()
}

// allocate runs the allocation transaction: a starting session row, or
// (queue true, no GPU for this request) the id of a new queue entry.
func (s *Service) allocate(ctx context.Context, req CreateRequest, queue bool) (db.Session, int64, error) {
	if !req.Exposure.Valid() {
		return db.Session{}, 0, fmt.Errorf("invalid exposure %q", req.Exposure)
	}
	if req.Pack == "" {
		req.Pack = "default"
	}
	image, ok := s.cfg.Packs[req.Pack]
	if !ok {
		return db.Session{}, 0, ErrUnknownPack
	}
	// InTx is the one retry layer: it reruns a deadlock victim or a lock
	// wait timeout with backoff.
	return s.allocateTx(ctx, req, image, queue)
}

// allocateTx takes the scheduler lock, then the user's row; checks the
// entitlement, the limit and the source snapshot; and inserts a starting
// session on a free GPU, unless requests are queued or no GPU is free: then
// it joins the queue (queue true) or answers ErrNoGPU.
func (s *Service) allocateTx(ctx context.Context, req CreateRequest, image string, queue bool) (db.Session, int64, error) {
	var (
		row     db.Session
		entryID int64
	)
	err := s.st.InTx(ctx, func(tx store.Store) error {
		row, entryID = db.Session{}, 0
		if _, err := tx.LockScheduler(ctx); err != nil {
			return fmt.Errorf("lock scheduler: %w", err)
		}
		u, err := tx.LockUser(ctx, req.UserID)
		if err != nil {
			if store.IsNotFound(err) {
				return fmt.Errorf("user %d: %w", req.UserID, ErrNotFound)
			}
			return fmt.Errorf("lock user: %w", err)
		}
		if req.Exposure == Internal && !u.CanUseInternal {
			return ErrInternalNotAllowed
		}
		n, err := tx.CountActiveSessionsByUser(ctx, req.UserID)
		if err != nil {
			return fmt.Errorf("count active sessions: %w", err)
		}
		if n >= int64(u.MaxConcurrentSessions) {
			return ErrLimit
		}
		if _, err := tx.GetQueuedEntryByUser(ctx, db.GetQueuedEntryByUserParams{
			UserID: nullID(req.UserID), Exposure: db.SessionQueueExposure(req.Exposure),
		}); err == nil {
			return ErrAlreadyQueued
		} else if !store.IsNotFound(err) {
			return fmt.Errorf("queued request: %w", err)
		}
		var snapID int64
		if req.FromSnapshot != "" {
			if snapID, err = s.lockSourceSnapshot(ctx, tx, req.UserID, req.FromSnapshot, req.Exposure); err != nil {
				return err
			}
		}
		waiting, err := tx.CountQueued(ctx)
		if err != nil {
			return fmt.Errorf("count queue: %w", err)
		}
		var g db.PickFreeGPURow
		if waiting == 0 {
			g, err = tx.PickFreeGPU(ctx)
			if err != nil && !store.IsNotFound(err) {
				return fmt.Errorf("pick GPU: %w", err)
			}
		}
		if waiting > 0 || err != nil {
			if !queue {
				return ErrNoGPU
			}
			entryID, err = enqueue(ctx, tx, req, image, snapID)
			return err
		}
		row, err = insertSession(ctx, tx, req, image, g.ID, snapID)
		return err
	})
	return row, entryID, err
}

// insertSession inserts a starting session on GPU gpuID and returns it.
func insertSession(ctx context.Context, tx store.Store, req CreateRequest, image string, gpuID int32, snapID int64) (db.Session, error) {
	slug, err := newSlug()
	if err != nil {
		return db.Session{}, err
	}
	if req.Pack == "" {
		req.Pack = "default"
	}
	id, err := tx.InsertSession(ctx, db.InsertSessionParams{
		Slug: slug, UserID: req.UserID, Exposure: db.SessionsExposure(req.Exposure),
		Pack: req.Pack, Image: image, GpuID: gpuID, FromSnapshotID: nullID(snapID),
	})
	if err != nil {
		if store.IsDuplicate(err) {
			// The unique index on the active GPU caught a race the locking
			// read did not: report the GPU as taken.
			return db.Session{}, ErrNoGPU
		}
		return db.Session{}, fmt.Errorf("insert session: %w", err)
	}
	return tx.GetSession(ctx, id)
}

// view is a row's public view, with its deadlines and warning.
func (s *Service) view(r db.Session) Session {
	v := fromRow(r)
	v.Deadlines = s.deadlines(r)
	v.Warning = s.warning(r, time.Now())
	v.CanExtend = Status(r.Status) == StatusRunning && !r.ExtendedAt.Valid && s.cfg.MaxExtension > 0 &&
		(s.cfg.IdleTimeout > 0 || s.cfg.MaxLifetime > 0)
	return v
}

// newSlug is 10 lowercase base32 characters (50 bits), valid in a DNS label.
func newSlug() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:]), nil
}

// Labels returns the labels of a session's container.
func (s *Service) Labels(r db.Session) map[string]string {
	return map[string]string{
		LabelManaged:  "true",
		LabelInstance: s.cfg.Instance,
		LabelSession:  strconv.FormatInt(r.ID, 10),
		LabelSlug:     r.Slug,
		LabelUser:     strconv.FormatInt(r.UserID, 10),
		LabelExposure: string(r.Exposure),
		LabelGPU:      strconv.Itoa(int(r.GpuID)),
	}
}

// Spec builds the container spec of a session whose workspace is ws.
func (s *Service) Spec(r db.Session, ws Workspace) ContainerSpec {
	network := s.cfg.ExternalNetwork
	if Exposure(r.Exposure) == Internal {
		network = s.cfg.InternalNetwork
	}
	spec := ContainerSpec{
		Name:    ContainerName(r.Slug),
		Image:   r.Image,
		Network: network,
		Labels:  s.Labels(r),
		User:    "1000:1000",
		Env: []string{
			"HOME=/home/coder",
			"MEDFORGE_SESSION_ID=" + strconv.FormatInt(r.ID, 10),
			"MEDFORGE_SESSION_SLUG=" + r.Slug,
			"MEDFORGE_EXPOSURE=" + string(r.Exposure),
			"MEDFORGE_GPU_ID=" + strconv.Itoa(int(r.GpuID)),
			"MEDFORGE_GPU_PROVIDER=" + s.gpus.Kind(),
		},
		Mounts:          []Mount{{Source: ws.HostPath, Target: "/home/coder"}},
		Workspace:       ws.Name,
		WorkspaceSource: ws.Source,
		NanoCPUs:        s.cfg.NanoCPUs,
		MemoryBytes:     s.cfg.MemoryBytes,
		PidsLimit:       s.cfg.PidsLimit,
	}
	if s.cfg.TrainingDataRoot != "" {
		spec.Mounts = append(spec.Mounts, Mount{Source: s.cfg.TrainingDataRoot, Target: "/data/training", ReadOnly: true})
	}
	if s.cfg.PublicEvalDataRoot != "" {
		spec.Mounts = append(spec.Mounts, Mount{Source: s.cfg.PublicEvalDataRoot, Target: "/data/public-eval", ReadOnly: true})
	}
	if s.gpus.Attach() {
		if g, ok := s.gpu(int(r.GpuID)); ok && g.UUID != "" {
			spec.GPUUUID = g.UUID
		}
	}
	return spec
}

// launch creates the workspace and container of a starting session and
// waits for the IDE. Any failure turns the session into error with a reason
// and removes the container; the status change frees the GPU.
func (s *Service) launch(r db.Session) {
	defer func() {
		s.mu.Lock()
		delete(s.launching, r.ID)
		s.mu.Unlock()
		// A stop requested while starting, or an orphan left by a failed
		// start, is recovery's to finish now that the launch is over.
		s.Kick()
	}()
	ctx, cancel := context.WithTimeout(s.bg, s.cfg.StartTimeout)
	defer cancel()
	start := time.Now()
	containerID, err := s.startContainer(ctx, r)
	if err == nil {
		err = s.waitReady(ctx, containerID)
	}
	if err == nil {
		n, merr := s.st.MarkSessionRunning(ctx, r.ID)
		if merr == nil && n == 1 {
			s.changed(r, StatusRunning)
			if m := s.metrics(); m != nil {
				m.startSecs.Observe(time.Since(start).Seconds())
			}
			s.log.Info("session running", "session", r.ID, "slug", r.Slug, "gpu", r.GpuID, "took", time.Since(start).Round(time.Millisecond))
			return
		}
		if merr == nil {
			return // stopped while starting: recovery finalizes it
		}
		err = merr
	}
	if s.bg.Err() != nil {
		// Shutting down: leave the row starting; the next process's
		// recovery resumes or times it out.
		return
	}
	s.log.Warn("session failed to start", "session", r.ID, "slug", r.Slug, "err", err)
	// A fresh context: the start context may be the one that expired.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(s.bg), 30*time.Second)
	defer fcancel()
	if containerID != "" {
		if rerr := s.rt.Remove(fctx, containerID); rerr != nil {
			s.log.Error("remove failed session container", "session", r.ID, "err", rerr)
		}
	}
	if errors.Is(err, ErrUnschedulable) {
		ok, qerr := s.requeue(fctx, r, err)
		if qerr != nil {
			s.log.Error("requeue unschedulable session", "session", r.ID, "err", qerr)
		}
		if ok || qerr != nil {
			s.Kick()
			return
		}
		// The user has another request queued already: fail this one.
	}
	if n, ferr := s.release(fctx, func(tx store.Store) (int64, error) {
		return tx.FailStartingSession(fctx, db.FailStartingSessionParams{ID: r.ID, ErrorReason: startReason(err)})
	}); ferr != nil {
		s.log.Error("mark session error", "session", r.ID, "err", ferr)
	} else if n == 1 {
		s.changed(r, StatusError)
		if m := s.metrics(); m != nil {
			m.failed.Inc()
		}
	}
	s.Kick() // a stop requested meanwhile, or an orphan, is recovery's
}

// requeueReason is what the user sees on a session put back on the
// waitlist (the scheduler's own message names cluster details: logs and the
// admin GPU page only).
const requeueReason = "the cluster could not place the session on its GPU; the request is back on the waitlist"

// errQueuedElsewhere aborts a requeue whose user already has a request
// queued (at most one per user).
var errQueuedElsewhere = errors.New("the user already has a queued request")

// requeue puts a starting session whose container the runtime's scheduler
// cannot place (ErrUnschedulable) back on the waitlist, with the waitlist's
// semantics: in one transaction under the scheduler lock, the row ends
// (stopped, stop_reason requeued, no snapshot), its GPU is held back for
// UnschedulableHold (so the hand-off does not give the same unusable GPU
// straight back; the reason is shown to admins), the request is queued
// again with the session's arrival time, and free GPUs go to the head of
// the queue. It reports false, changing nothing, when the user already has
// another request queued on that exposure (one per user and exposure): the
// caller fails the session.
func (s *Service) requeue(ctx context.Context, r db.Session, cause error) (bool, error) {
	n, err := s.release(ctx, func(tx store.Store) (int64, error) {
		n, err := tx.RequeueStartingSession(ctx, db.RequeueStartingSessionParams{ID: r.ID, Reason: requeueReason})
		if err != nil || n == 0 {
			return n, err
		}
		if _, err := tx.HoldGPU(ctx, db.HoldGPUParams{ID: r.GpuID, HoldUs: s.cfg.UnschedulableHold.Microseconds(),
			HeldReason: text.Truncate(cause.Error(), 1000)}); err != nil {
			return 0, fmt.Errorf("hold GPU: %w", err)
		}
		_, err = tx.RequeueEntry(ctx, db.RequeueEntryParams{UserID: r.UserID, Exposure: db.SessionQueueExposure(r.Exposure),
			Pack: r.Pack, Image: r.Image, FromSnapshotID: r.FromSnapshotID, CreatedAt: r.CreatedAt})
		if store.IsDuplicate(err) {
			return 0, errQueuedElsewhere
		}
		return n, err
	})
	if errors.Is(err, errQueuedElsewhere) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if n == 1 {
		s.log.Warn("session could not be placed; back on the waitlist", "session", r.ID, "user", r.UserID, "gpu", r.GpuID,
			"held_for", s.cfg.UnschedulableHold, "err", cause)
		s.changed(r, StatusStopped)
		if m := s.metrics(); m != nil {
			m.queued.Inc()
		}
	}
	return true, nil
}

// startReason is the client-safe reason of a failed start.
func startReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the IDE did not answer before the start timeout"
	case errors.Is(err, ErrRuntimeUnavailable):
		return "the container engine is unavailable"
	case errors.Is(err, ErrUnschedulable):
		return "the cluster could not place the session on its GPU, and another request of yours is already queued"
	case errors.Is(err, ErrHoldoutMount):
		return "refused: the container would mount hidden test data"
	default:
		return "the session container failed to start"
	}
}

func (s *Service) startContainer(ctx context.Context, r db.Session) (string, error) {
	ws, err := s.workspace(ctx, r)
	if err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	if _, err := s.st.SetSessionWorkspace(ctx, db.SetSessionWorkspaceParams{ID: r.ID, Workspace: ws.Name}); err != nil {
		return "", fmt.Errorf("record workspace: %w", err)
	}
	spec := s.Spec(r, ws)
	if err := spec.Validate(s.cfg.TestHoldoutsDir); err != nil {
		return "", err
	}
	id, err := s.rt.Start(ctx, spec)
	if err != nil {
		return "", err
	}
	if _, err := s.st.SetSessionContainer(ctx, db.SetSessionContainerParams{ID: r.ID, ContainerID: id}); err != nil {
		return id, fmt.Errorf("record container: %w", err)
	}
	return id, nil
}

// workspace makes the session's workspace: empty, or from its snapshot.
func (s *Service) workspace(ctx context.Context, r db.Session) (Workspace, error) {
	if !r.FromSnapshotID.Valid {
		return s.ws.Ensure(ctx, r.UserID, r.ID)
	}
	snap, err := s.st.GetSnapshot(ctx, r.FromSnapshotID.Int64)
	if err != nil {
		return Workspace{}, fmt.Errorf("snapshot %d: %w", r.FromSnapshotID.Int64, err)
	}
	ws, err := s.ws.Restore(ctx, r.UserID, r.ID, snap.Name)
	if err != nil {
		return Workspace{}, err
	}
	if ws.Clone {
		if _, err := s.st.MarkSessionWorkspaceClone(ctx, r.ID); err != nil {
			return Workspace{}, fmt.Errorf("record clone: %w", err)
		}
	}
	return ws, nil
}

// waitReady polls the IDE on :8080 until it answers with any HTTP status.
func (s *Service) waitReady(ctx context.Context, containerID string) error {
	delay := 50 * time.Millisecond
	for {
		err := s.ready(ctx, containerID)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrUnschedulable) {
			return err // final: launch puts the request back on the waitlist
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if delay < 500*time.Millisecond {
			delay *= 2
		}
	}
}

func (s *Service) ready(ctx context.Context, containerID string) error {
	if rc, ok := s.rt.(ReadyChecker); ok {
		return rc.Ready(ctx, containerID)
	}
	addr, err := s.rt.Address(ctx, containerID)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := s.probe.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Current returns the user's active session on an exposure, or ErrNotFound.
func (s *Service) Current(ctx context.Context, userID int64, e Exposure) (Session, error) {
	r, err := s.st.GetCurrentSession(ctx, db.GetCurrentSessionParams{UserID: userID, Exposure: db.SessionsExposure(e)})
	if err != nil {
		if store.IsNotFound(err) {
			return Session{}, ErrNotFound
		}
		return Session{}, fmt.Errorf("current session: %w", err)
	}
	return s.view(r), nil
}

// Get returns a session; when userID is not zero it must be the owner, and
// a session of someone else is ErrNotFound too.
func (s *Service) Get(ctx context.Context, id, userID int64) (Session, error) {
	r, err := s.st.GetSession(ctx, id)
	if err != nil {
		if store.IsNotFound(err) {
			return Session{}, ErrNotFound
		}
		return Session{}, fmt.Errorf("get session %d: %w", id, err)
	}
	if userID != 0 && r.UserID != userID {
		return Session{}, ErrNotFound
	}
	return s.view(r), nil
}

// List returns the user's sessions, newest first, with snapshot names;
// pass beforeID 0 for the first page.
func (s *Service) List(ctx context.Context, userID, beforeID int64, limit int) ([]Session, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := s.st.ListSessionsByUser(ctx, db.ListSessionsByUserParams{UserID: userID, BeforeID: beforeID, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]Session, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.view(r))
	}
	return out, nil
}

// Stop records the intent to stop (status stopping) and asks recovery to
// finalize it. Stopping a session that is already stopping or ended is not
// an error: it returns the session as it is. userID 0 means an admin (any
// owner); otherwise only the owner may stop it.
func (s *Service) Stop(ctx context.Context, id, userID int64, reason string) (Session, error) {
	cur, err := s.Get(ctx, id, userID)
	if err != nil {
		return Session{}, err
	}
	if cur.Status == StatusStarting || cur.Status == StatusRunning {
		n, err := s.st.RequestSessionStop(ctx, db.RequestSessionStopParams{ID: id, StopReason: reason})
		if err != nil {
			return Session{}, fmt.Errorf("request stop: %w", err)
		}
		if n == 1 {
			s.changed(db.Session{ID: cur.ID, Slug: cur.Slug, UserID: cur.UserID, Exposure: db.SessionsExposure(cur.Exposure)}, StatusStopping)
		}
		s.Kick()
		if cur, err = s.Get(ctx, id, userID); err != nil {
			return Session{}, err
		}
	}
	return cur, nil
}

// GPUState is one GPU with its holder, for admins.
type GPUState struct {
	ID             int    `json:"id"`
	UUID           string `json:"uuid,omitempty"`
	Name           string `json:"name"`
	MemoryBytes    int64  `json:"memory_bytes"`
	Provider       string `json:"provider"`
	Present        bool   `json:"present"`
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// HeldUntil, while in the future, holds the GPU back from allocation:
	// the runtime's scheduler could not place a session on it (HeldReason
	// has its message); it is offered again afterwards.
	HeldUntil  *time.Time `json:"held_until,omitempty"`
	HeldReason string     `json:"held_reason,omitempty"`
	// Holder is the active session on it, if any.
	Holder *GPUHolder `json:"holder"`
}

// GPUHolder is the active session holding a GPU.
type GPUHolder struct {
	SessionID int64  `json:"session_id"`
	Slug      string `json:"slug"`
	UserID    int64  `json:"user_id"`
	Status    Status `json:"status"`
}

// GPUs lists every GPU with its state and holder.
func (s *Service) GPUs(ctx context.Context) ([]GPUState, error) {
	rows, err := s.st.ListGPUsWithHolder(ctx)
	if err != nil {
		return nil, fmt.Errorf("list GPUs: %w", err)
	}
	out := make([]GPUState, 0, len(rows))
	for _, r := range rows {
		g := GPUState{ID: int(r.ID), UUID: r.Uuid, Name: r.Name, MemoryBytes: r.MemoryBytes, Provider: r.Provider,
			Present: r.Present, Enabled: r.Enabled, DisabledReason: r.DisabledReason}
		if r.HeldUntil.Valid {
			t := r.HeldUntil.Time.UTC()
			g.HeldUntil, g.HeldReason = &t, r.HeldReason
		}
		if r.SessionID.Valid {
			g.Holder = &GPUHolder{SessionID: r.SessionID.Int64, Slug: r.SessionSlug.String, UserID: r.HolderUserID.Int64,
				Status: Status(r.SessionStatus.SessionsStatus)}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SetGPUEnabled enables or disables a GPU. Disabling does not stop the
// session holding it; it only keeps the GPU from the next allocation.
func (s *Service) SetGPUEnabled(ctx context.Context, id int, enabled bool, reason string) (GPUState, error) {
	if enabled {
		reason = ""
	} else if reason == "" {
		reason = "disabled by an admin"
	}
	n, err := s.st.SetGPUEnabled(ctx, db.SetGPUEnabledParams{ID: int32(id), Enabled: enabled, DisabledReason: reason})
	if err != nil {
		return GPUState{}, fmt.Errorf("set GPU %d enabled: %w", id, err)
	}
	if n == 0 {
		if _, err := s.st.GetGPU(ctx, int32(id)); errors.Is(err, sql.ErrNoRows) {
			return GPUState{}, ErrGPUNotFound
		}
	}
	all, err := s.GPUs(ctx)
	if err != nil {
		return GPUState{}, err
	}
	for _, g := range all {
		if g.ID == id {
			return g, nil
		}
	}
	return GPUState{}, ErrGPUNotFound
}
