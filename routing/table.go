package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store"
)

// Resolver gives the IDE address (host:port) that a session's container
// holds now, by the container's id (the sessions row's container_id). An
// error means that container has no address: it stopped, vanished or left
// its network. *sessions.Service implements it.
type Resolver interface {
	Endpoint(ctx context.Context, containerID string) (string, error)
}

var _ Resolver = (*sessions.Service)(nil)

// Route is one running session as the proxy sees it.
type Route struct {
	ID       int64
	Slug     string
	UserID   int64
	Exposure sessions.Exposure
	// ContainerID is the container the route is bound to: Upstream is the
	// address that container held when it was last resolved.
	ContainerID string
	// Upstream is <container address>:8080.
	Upstream string

	active atomic.Bool // a request was routed since the last flush
}

// Options configure a Table. Store and Resolver are required.
type Options struct {
	Store    store.Store
	Resolver Resolver
	Logger   *slog.Logger
	// ResyncEvery is how often the whole table is rebuilt from the
	// database, a safety net for changes no event reported (10s).
	ResyncEvery time.Duration
	// FlushEvery is how often routed sessions' last activity is written
	// (30s); idle culling is only as precise as this.
	FlushEvery time.Duration
	// ResolveTimeout bounds one upstream lookup (5s).
	ResolveTimeout time.Duration
	// CredentialTTL is how long a session host's credential cookie lives
	// (8h). It dies earlier with its login, its session or the user's
	// access; a browser whose credential expired repeats the handshake on
	// its next page load.
	CredentialTTL time.Duration
}

// Table is the in-memory set of routable (running) sessions by slug. Reads
// are lock-free; writes copy the map. It is safe for concurrent use.
//
// Guarantees: a change event that takes a session out of running removes
// its route before Apply returns; a resync never brings back a route that
// an event newer than the resync's database read removed; an entry is only
// added for a session the runtime or the database reported running.
//
// Routes are bound to container ids: a route's address is the one its
// container held when last resolved, every resync resolves every route
// again, a container's exit (Forget) removes its route at once, and no two
// routes ever share an address (adding one removes any other holding the
// same address, which must be stale). An address the engine hands to a
// new container is therefore never served to the old container's owner.
type Table struct {
	opt    Options
	log    *slog.Logger
	routes atomic.Pointer[map[string]*Route]

	mu      sync.Mutex // serializes writers
	gen     uint64
	changed map[int64]uint64 // session id -> gen of its last event

	synced  atomic.Bool // the first resync succeeded
	touches atomic.Int64

	metrics *tableMetrics
	sig     *signer // session hosts' credentials (handshake.go)
}

// NewTable builds an empty Table; call Resync (or Run) to fill it.
func NewTable(o Options) (*Table, error) {
	if o.Store == nil || o.Resolver == nil {
		return nil, errors.New("routing: Store and Resolver are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ResyncEvery <= 0 {
		o.ResyncEvery = 10 * time.Second
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 30 * time.Second
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = 5 * time.Second
	}
	if o.CredentialTTL <= 0 {
		o.CredentialTTL = 8 * time.Hour
	}
	t := &Table{opt: o, log: o.Logger.With("component", "routing"), changed: map[int64]uint64{}, sig: newSigner()}
	empty := map[string]*Route{}
	t.routes.Store(&empty)
	return t, nil
}

// Lookup returns the route of a running session by slug.
func (t *Table) Lookup(slug string) (*Route, bool) {
	r, ok := (*t.routes.Load())[slug]
	return r, ok
}

// Len is the number of routable sessions.
func (t *Table) Len() int { return len(*t.routes.Load()) }

// mark records a routed request for the next activity flush.
func (r *Route) mark() {
	if !r.active.Load() {
		r.active.Store(true)
	}
}

// set replaces the map with a copy edited by fn; t.mu must be held.
func (t *Table) set(fn func(m map[string]*Route)) {
	old := *t.routes.Load()
	m := make(map[string]*Route, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	fn(m)
	t.routes.Store(&m)
	if t.metrics != nil {
		t.metrics.routes.Set(float64(len(m)))
	}
}

func removeID(m map[string]*Route, id int64) {
	for k, r := range m {
		if r.ID == id {
			delete(m, k)
		}
	}
}

// add puts r in m, first removing r's session's old route and any route of
// another session that holds r's address: an address belongs to one
// container at a time, and r was resolved last.
func add(m map[string]*Route, r *Route) {
	for k, o := range m {
		if o.ID == r.ID || o.Upstream == r.Upstream {
			delete(m, k)
		}
	}
	m[r.Slug] = r
}

// Forget removes the route bound to the container containerID at once (its
// runtime reported that it exited: its address is free for another
// container). Register it with sessions.Service.OnExit. A resync that read
// the database before the exit does not bring the route back.
func (t *Table) Forget(containerID string) {
	if containerID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range *t.routes.Load() {
		if r.ContainerID != containerID {
			continue
		}
		t.gen++
		t.changed[r.ID] = t.gen
		t.set(func(m map[string]*Route) { removeID(m, r.ID) })
		t.log.Info("container exited: route removed", "session", r.ID)
	}
}

// Apply takes one change event of the session runtime (register it with
// sessions.Service.OnChange). A session leaving running loses its route
// before Apply returns. A session becoming running gets one once the
// database confirms it is still running (events from different goroutines
// may arrive out of order: a stop published before a late "running" must
// win) and its upstream resolves; a failure is logged and the next resync
// retries.
func (t *Table) Apply(c sessions.Change) {
	t.mu.Lock()
	t.gen++
	g := t.gen
	t.changed[c.ID] = g
	if c.Status != sessions.StatusRunning {
		t.set(func(m map[string]*Route) { removeID(m, c.ID) })
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), t.opt.ResolveTimeout)
	defer cancel()
	row, err := t.opt.Store.GetSession(ctx, c.ID)
	if err != nil {
		t.log.Warn("confirm running session", "session", c.ID, "err", err.Error())
		return
	}
	if sessions.Status(row.Status) != sessions.StatusRunning {
		return // a stale event: the row moved on
	}
	up, err := t.opt.Resolver.Endpoint(ctx, row.ContainerID)
	if err != nil {
		t.log.Warn("resolve session upstream", "session", c.ID, "err", err.Error())
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed[c.ID] != g {
		return // a newer event decided
	}
	// Owner, slug and exposure come from the row, not the event.
	r := &Route{ID: row.ID, Slug: row.Slug, UserID: row.UserID, Exposure: sessions.Exposure(row.Exposure), ContainerID: row.ContainerID, Upstream: up}
	t.set(func(m map[string]*Route) { add(m, r) })
}

// Resync rebuilds the table from the database's running sessions, resolving
// every route's address again from its container id: a route whose
// container no longer holds an address is dropped, one whose container
// moved follows it, and when two containers report one address (a race
// with the engine) neither is routed until the next resync. Routes of
// sessions whose events are newer than the database read are left as the
// events made them.
func (t *Table) Resync(ctx context.Context) error {
	t.mu.Lock()
	start := t.gen
	t.mu.Unlock()
	rows, err := t.opt.Store.ListActiveSessions(ctx)
	if err != nil {
		return fmt.Errorf("list active sessions: %w", err)
	}
	cur := *t.routes.Load()
	byID := make(map[int64]*Route, len(cur))
	for _, r := range cur {
		byID[r.ID] = r
	}
	want := map[int64]*Route{}
	holders := map[string]int{} // address -> routes that resolved to it
	var errs []error
	for _, row := range rows {
		if sessions.Status(row.Status) != sessions.StatusRunning {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, t.opt.ResolveTimeout)
		up, err := t.opt.Resolver.Endpoint(rctx, row.ContainerID)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve session %d: %w", row.ID, err))
			continue
		}
		holders[up]++
		if r, ok := byID[row.ID]; ok && r.Slug == row.Slug && r.ContainerID == row.ContainerID && r.Upstream == up {
			want[row.ID] = r // unchanged: keep its activity mark
			continue
		}
		want[row.ID] = &Route{ID: row.ID, Slug: row.Slug, UserID: row.UserID, Exposure: sessions.Exposure(row.Exposure), ContainerID: row.ContainerID, Upstream: up}
	}
	for id, r := range want {
		if holders[r.Upstream] > 1 {
			delete(want, id)
			errs = append(errs, fmt.Errorf("session %d: address %s is reported by more than one container", id, r.Upstream))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set(func(m map[string]*Route) {
		for k, r := range m {
			if t.changed[r.ID] > start {
				continue // an event after the read decides
			}
			if w, ok := want[r.ID]; !ok || w != r {
				delete(m, k)
			}
		}
		newer := map[string]bool{} // addresses of routes events decided
		for _, r := range m {
			if t.changed[r.ID] > start {
				newer[r.Upstream] = true
			}
		}
		for id, r := range want {
			if t.changed[id] > start || newer[r.Upstream] {
				continue // resolved after our read: that one is current
			}
			add(m, r)
		}
	})
	for id, g := range t.changed {
		if g <= start {
			delete(t.changed, id)
		}
	}
	t.synced.Store(true)
	return errors.Join(errs...)
}

// Flush writes last activity for every session routed since the previous
// flush and returns how many it wrote; a session whose write fails stays
// marked for the next flush.
func (t *Table) Flush(ctx context.Context) (int, error) {
	var routed []*Route
	for _, r := range *t.routes.Load() {
		if r.active.Swap(false) {
			routed = append(routed, r)
		}
	}
	var errs []error
	n := 0
	for _, r := range routed {
		if _, err := t.opt.Store.TouchSessionActivity(ctx, r.ID); err != nil {
			// Keep the mark for the next flush: dropping it would let idle
			// culling stop a session that was in use.
			r.active.Store(true)
			errs = append(errs, fmt.Errorf("touch session %d: %w", r.ID, err))
			continue
		}
		n++
	}
	t.touches.Add(int64(n))
	return n, errors.Join(errs...)
}

// Run resyncs at once and then every ResyncEvery, and flushes activity
// every FlushEvery, until ctx ends; it flushes one last time before it
// returns.
func (t *Table) Run(ctx context.Context) {
	if err := t.Resync(ctx); err != nil && ctx.Err() == nil {
		t.log.Warn("routing table resync", "err", err.Error())
	}
	resync := time.NewTicker(t.opt.ResyncEvery)
	flush := time.NewTicker(t.opt.FlushEvery)
	defer resync.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if _, err := t.Flush(fctx); err != nil {
				t.log.Warn("flush session activity", "err", err.Error())
			}
			cancel()
			return
		case <-resync.C:
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			if err := t.Resync(rctx); err != nil && ctx.Err() == nil {
				t.log.Warn("routing table resync", "err", err.Error())
			}
			cancel()
		case <-flush.C:
			fctx, cancel := context.WithTimeout(ctx, time.Minute)
			if _, err := t.Flush(fctx); err != nil && ctx.Err() == nil {
				t.log.Warn("flush session activity", "err", err.Error())
			}
			cancel()
		}
	}
}

type tableMetrics struct {
	routes    prometheus.Gauge
	decisions *prometheus.CounterVec
}

// RegisterMetrics adds the table's gauges and the endpoint's decision
// counters to reg.
func (t *Table) RegisterMetrics(reg prometheus.Registerer) error {
	m := &tableMetrics{
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medforge_routing_sessions", Help: "Running sessions in the routing table.",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medforge_session_proxy_decisions_total", Help: "Session-proxy answers by status.",
		}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.routes, m.decisions} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	t.metrics = m
	return nil
}
