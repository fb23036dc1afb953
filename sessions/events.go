package sessions

import (
	"context"
	"errors"

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

// OnExit registers fn to be called with a container's id (as Start
// returned it, the sessions row's container_id) the moment the runtime
// reports that one of this instance's containers died or was removed,
// before recovery has written anything. The routing layer drops the
// container's route there: a dead container's address may be handed to
// another container at once. fn runs synchronously on the event goroutine;
// it must be quick and must not call back into the Service. Runtimes
// without exit events (ExitWatcher) never call it; an id of "" means the
// runtime could not tell which container it was.
func (s *Service) OnExit(fn func(containerID string)) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	s.exits = append(s.exits, fn)
}

// exited publishes the exit of container id.
func (s *Service) exited(id string) {
	s.lmu.Lock()
	ls := s.exits
	s.lmu.Unlock()
	for _, fn := range ls {
		fn(id)
	}
}

// Upstream is host:port of the IDE of the session with this slug on its
// exposure's network, looked up by the container's name. The session
// proxy uses Endpoint, which is bound to the container's id.
func (s *Service) Upstream(ctx context.Context, slug string) (string, error) {
	return s.rt.Address(ctx, ContainerName(slug))
}

// Endpoint is host:port of the IDE of the container containerID (a
// sessions row's container_id): the address that container holds now on
// its exposure's network. An error means that container has no address (it
// stopped, vanished or left its network): whatever holds the address now
// is another container.
func (s *Service) Endpoint(ctx context.Context, containerID string) (string, error) {
	if containerID == "" {
		return "", errors.New("session has no container")
	}
	return s.rt.Address(ctx, containerID)
}
