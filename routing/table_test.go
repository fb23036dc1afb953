package routing_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/routing"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store"
	"github.com/medforge/medforge/store/db"
	"github.com/medforge/medforge/store/testdb"
)

// addressBook resolves container ids (the rows here use their slug as
// container id) from a map and can hold a lookup until
// released, to interleave events with a resync. It stands in for Docker's
// inspect only to control timing; the table's database side is real.
type addressBook struct {
	mu    sync.Mutex
	addrs map[string]string
	hold  map[string]chan struct{}
	asked chan string
}

func (a *addressBook) Endpoint(ctx context.Context, slug string) (string, error) {
	a.mu.Lock()
	h := a.hold[slug]
	a.mu.Unlock()
	if h != nil {
		a.asked <- slug
		select {
		case <-h:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.addrs[slug]
	if !ok {
		return "", errors.New("container has no address")
	}
	return addr, nil
}

// set changes the address container id holds ("" removes it).
func (a *addressBook) set(id, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr == "" {
		delete(a.addrs, id)
		return
	}
	a.addrs[id] = addr
}

// runningRow inserts a running session row for a new user.
func runningRow(t *testing.T, st store.Store, gpuID int32, slug string) db.Session {
	return runningRowOn(t, st, gpuID, slug, db.SessionsExposureExternal)
}

// runningRowOn is runningRow on an exposure.
func runningRowOn(t *testing.T, st store.Store, gpuID int32, slug string, exp db.SessionsExposure) db.Session {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	if err := st.UpsertGPU(ctx, db.UpsertGPUParams{ID: gpuID, Provider: "declared"}); err != nil {
		t.Fatal(err)
	}
	u := testdb.User(t, st, testdb.UserOpts{})
	id, err := st.InsertSession(ctx, db.InsertSessionParams{Slug: slug, UserID: u.ID, Exposure: exp, Pack: "default", Image: "x", GpuID: gpuID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetSessionContainer(ctx, db.SetSessionContainerParams{ID: id, ContainerID: slug}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkSessionRunning(ctx, id); err != nil {
		t.Fatal(err)
	}
	r, err := st.GetSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func change(r db.Session, st sessions.Status) sessions.Change {
	return sessions.Change{ID: r.ID, Slug: r.Slug, UserID: r.UserID, Exposure: sessions.Exposure(r.Exposure), Status: st}
}

// An event newer than a resync's database read wins over the read.
func TestResyncNeverRevivesAStoppedRoute(t *testing.T) {
	t.Parallel()
	st := testdb.Fresh(t)
	a := runningRow(t, st, 0, testdb.Unique("a"))
	b := runningRow(t, st, 1, testdb.Unique("b"))
	book := &addressBook{addrs: map[string]string{a.Slug: "10.0.0.1:8080", b.Slug: "10.0.0.2:8080"}, hold: map[string]chan struct{}{}, asked: make(chan string, 1)}
	tab, err := routing.NewTable(routing.Options{Store: st, Resolver: book})
	if err != nil {
		t.Fatal(err)
	}
	tab.Apply(change(a, sessions.StatusRunning))
	if r, ok := tab.Lookup(a.Slug); !ok || r.Upstream != "10.0.0.1:8080" {
		t.Fatalf("route of a: %+v %v", r, ok)
	}
	release := make(chan struct{})
	book.mu.Lock()
	book.hold[b.Slug] = release
	book.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- tab.Resync(ctxT(t, 30*time.Second)) }()
	<-book.asked // the resync has read the database (a and b running) and resolves b
	tab.Apply(change(a, sessions.StatusStopping))
	if _, ok := tab.Lookup(a.Slug); ok {
		t.Fatalf("a stopping session kept its route")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Lookup(a.Slug); ok {
		t.Fatalf("the resync revived the route of a stopping session")
	}
	if r, ok := tab.Lookup(b.Slug); !ok || r.Upstream != "10.0.0.2:8080" || r.UserID != b.UserID {
		t.Fatalf("route of b: %+v %v", r, ok)
	}
	// A later resync reads the database afresh: a is still running there
	// (no runtime finalized it in this test), so the read is the truth.
	if err := tab.Resync(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Lookup(a.Slug); !ok {
		t.Fatalf("a fresh resync did not take the database's word")
	}
	// A session gone from the database loses its route on resync.
	if _, err := st.RequestSessionStop(ctxT(t, 30*time.Second), db.RequestSessionStopParams{ID: b.ID, StopReason: "user"}); err != nil {
		t.Fatal(err)
	}
	if err := tab.Resync(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Lookup(b.Slug); ok || tab.Len() != 1 || !tab.Synced() {
		t.Fatalf("b kept its route after it stopped in the database (len %d)", tab.Len())
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	st := testdb.Fresh(t)
	ext := runningRow(t, st, 0, "extslug")
	book := &addressBook{addrs: map[string]string{ext.Slug: "172.30.0.9:8080", "intslug": "172.30.1.9:8080"}}
	tab, err := routing.NewTable(routing.Options{Store: st, Resolver: book})
	if err != nil {
		t.Fatal(err)
	}
	intl := runningRowOn(t, st, 1, "intslug", db.SessionsExposureInternal)
	tab.Apply(change(ext, sessions.StatusRunning))
	tab.Apply(change(intl, sessions.StatusRunning))
	owner := &identity.Principal{User: identity.User{ID: ext.UserID}, Method: identity.AuthCookie}
	ownerInt := &identity.Principal{User: identity.User{ID: ext.UserID, CanUseInternal: true}, Method: identity.AuthCookie}
	intOwner := &identity.Principal{User: identity.User{ID: intl.UserID, CanUseInternal: true}, Method: identity.AuthCookie}
	intOwnerNo := &identity.Principal{User: identity.User{ID: intl.UserID}, Method: identity.AuthCookie}
	other := &identity.Principal{User: identity.User{ID: ext.UserID + 1000}, Method: identity.AuthCookie}
	admin := &identity.Principal{User: identity.User{ID: ext.UserID + 2000, Role: identity.RoleAdmin}, Method: identity.AuthCookie}
	token := &identity.Principal{User: identity.User{ID: ext.UserID}, Method: identity.AuthToken}
	const d = "example.org"
	host := "s-extslug.external.medforge.example.org"
	ihost := "s-intslug.internal.medforge.example.org"
	tests := []struct {
		name   string
		host   string
		p      *identity.Principal
		status int
	}{
		{"anonymous", host, nil, http.StatusUnauthorized},
		{"api token", host, token, http.StatusUnauthorized},
		{"anonymous on a bad host", "evil.example", nil, http.StatusUnauthorized},
		{"owner", host, owner, http.StatusOK},
		{"admin", host, admin, http.StatusOK},
		{"other", host, other, http.StatusForbidden},
		{"bad host", "medforge.example.org", owner, http.StatusNotFound},
		{"unknown", "s-nope.external.medforge.example.org", owner, http.StatusNotFound},
		{"exposure mismatch", "s-extslug.internal.medforge.example.org", ownerInt, http.StatusNotFound},
		{"internal owner entitled", ihost, intOwner, http.StatusOK},
		{"internal owner not entitled", ihost, intOwnerNo, http.StatusForbidden},
		{"internal other entitled user", ihost, ownerInt, http.StatusForbidden},
		{"internal admin not entitled", ihost, admin, http.StatusForbidden},
		{"internal other entitled", ihost, &identity.Principal{User: identity.User{ID: 5, CanUseInternal: true}, Method: identity.AuthCookie}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tab.Decide(tc.host, d, tc.p)
			if got.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", got.Status, got.Code, tc.status)
			}
			if (got.Upstream != "") != (got.Status == http.StatusOK) {
				t.Fatalf("upstream %q with status %d", got.Upstream, got.Status)
			}
		})
	}
}

// Events can arrive out of order (the launch goroutine's "running" after
// the stop's "stopping"): the database decides, and a late "running" for a
// row that moved on adds no route.
func TestLateRunningEventAddsNoRoute(t *testing.T) {
	t.Parallel()
	st := testdb.Fresh(t)
	a := runningRow(t, st, 0, testdb.Unique("late"))
	book := &addressBook{addrs: map[string]string{a.Slug: "10.0.0.7:8080"}}
	tab, err := routing.NewTable(routing.Options{Store: st, Resolver: book})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RequestSessionStop(ctxT(t, 30*time.Second), db.RequestSessionStopParams{ID: a.ID, StopReason: "user"}); err != nil {
		t.Fatal(err)
	}
	tab.Apply(change(a, sessions.StatusStopping))
	tab.Apply(change(a, sessions.StatusRunning)) // late
	if r, ok := tab.Lookup(a.Slug); ok {
		t.Fatalf("a late running event routed a stopping session: %+v", r)
	}
}

// Routes follow container ids, not addresses: a resync resolves every
// route again (a container that lost its address loses its route, one
// that moved is followed), a route whose address another session's
// container now holds is replaced, and an exit drops the route at once.
func TestRoutesBoundToContainers(t *testing.T) {
	t.Parallel()
	st := testdb.Fresh(t)
	a := runningRow(t, st, 0, testdb.Unique("a"))
	b := runningRow(t, st, 1, testdb.Unique("b"))
	book := &addressBook{addrs: map[string]string{a.Slug: "10.0.0.1:8080", b.Slug: "10.0.0.2:8080"}}
	tab, err := routing.NewTable(routing.Options{Store: st, Resolver: book})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30*time.Second)
	if err := tab.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if r, ok := tab.Lookup(a.Slug); !ok || r.Upstream != "10.0.0.1:8080" || r.ContainerID != a.ContainerID {
		t.Fatalf("a: %+v %v", r, ok)
	}

	// a's container dies without an event; b's container now holds a's
	// old address. The next resync must not give a's owner b's IDE.
	book.set(a.Slug, "")
	book.set(b.Slug, "10.0.0.1:8080")
	if err := tab.Resync(ctx); err == nil {
		t.Fatal("resync did not report a's unresolvable container")
	}
	if r, ok := tab.Lookup(a.Slug); ok {
		t.Fatalf("a kept a route to %s after its container lost its address", r.Upstream)
	}
	if r, ok := tab.Lookup(b.Slug); !ok || r.Upstream != "10.0.0.1:8080" {
		t.Fatalf("b did not follow its container: %+v %v", r, ok)
	}

	// Two containers report one address (an engine race): neither routes.
	book.set(a.Slug, "10.0.0.1:8080")
	_ = tab.Resync(ctx)
	if _, ok := tab.Lookup(a.Slug); ok {
		t.Fatal("a routed to an address two containers claim")
	}
	if _, ok := tab.Lookup(b.Slug); ok {
		t.Fatal("b routed to an address two containers claim")
	}

	// A session reaching running on an address an older route still holds
	// takes it: the older route is stale.
	book.set(a.Slug, "10.0.0.3:8080")
	book.set(b.Slug, "10.0.0.4:8080")
	if err := tab.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	c := runningRow(t, st, 2, testdb.Unique("c"))
	book.set(c.Slug, "10.0.0.3:8080") // a's container died; c got its address
	tab.Apply(change(c, sessions.StatusRunning))
	if r, ok := tab.Lookup(c.Slug); !ok || r.Upstream != "10.0.0.3:8080" {
		t.Fatalf("c: %+v %v", r, ok)
	}
	if r, ok := tab.Lookup(a.Slug); ok {
		t.Fatalf("a still routes to %s, which c's container holds", r.Upstream)
	}

	// An exit event drops the container's route before Forget returns.
	tab.Forget(b.ContainerID)
	if _, ok := tab.Lookup(b.Slug); ok {
		t.Fatal("b kept its route after its container exited")
	}
	tab.Forget("")
	tab.Forget("unknown")
	if _, ok := tab.Lookup(c.Slug); !ok {
		t.Fatal("forgetting other containers removed c")
	}
}
