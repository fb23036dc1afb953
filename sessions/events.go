package sessions

import (
	"context"

	"github.com/medforge/medforge/store/db"
)

// Change is one committed status change of a session, as published to
// OnChange listeners (the routing layer keeps its in-memory route table
// from them).
type Change struct {
	ID       int64
	Slug     string
	UserID   int64
	Exposure Exposure
	// Status is the status the row has just been given.
	Status Status
}

// OnChange registers fn to be called after every status change this
// Service commits: running (the IDE answered), stopping (a stop was
// requested by a user, an admin, the idle or lifetime limit, or because
// the container vanished), stopped and error. fn runs synchronously on the
// goroutine that made the change, after the commit; it must be quick and
// must not call back into the Service. Changes committed by other
// processes are not published: a listener that must stay exact also
// resyncs from the database.
func (s *Service) OnChange(fn func(Change)) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// changed publishes a status change of the session row r.
func (s *Service) changed(r db.Session, st Status) {
	s.lmu.Lock()
	ls := s.listeners
	s.lmu.Unlock()
	c := Change{ID: r.ID, Slug: r.Slug, UserID: r.UserID, Exposure: Exposure(r.Exposure), Status: st}
	for _, fn := range ls {
		fn(c)
	}
}

// Upstream is host:port of the IDE of the session with this slug on its
// exposure's network (the address the session proxy hands to Caddy).
func (s *Service) Upstream(ctx context.Context, slug string) (string, error) {
	return s.rt.Address(ctx, ContainerName(slug))
}
