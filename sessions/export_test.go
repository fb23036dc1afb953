package sessions

import (
	"context"
	"fmt"

	"github.com/medforge/medforge/store"
)

// Test-only hooks of the sessions package's own tests and benchmarks.

// AllocateOnly runs Create's allocation transaction alone and returns the
// starting session without launching anything; recovery fails it after the
// start grace. Benchmarks and tests of the allocation invariant use it.
func (s *Service) AllocateOnly(ctx context.Context, req CreateRequest) (Session, error) {
	row, _, err := s.allocate(ctx, req, false)
	if err != nil {
		return Session{}, err
	}
	return s.view(row), nil
}

// Touch records a routed request to a running session (idle culling
// measures from the last one), as the routing table's batched activity
// flush does in production.
func (s *Service) Touch(ctx context.Context, id int64) error {
	_, err := s.st.TouchSessionActivity(ctx, id)
	return err
}

// BySlug returns a session by its slug (the routing layer's key: hosts are
// s-<slug>.<exposure>.medforge.<domain>), or ErrNotFound.
func (s *Service) BySlug(ctx context.Context, slug string) (Session, error) {
	r, err := s.st.GetSessionBySlug(ctx, slug)
	if err != nil {
		if store.IsNotFound(err) {
			return Session{}, ErrNotFound
		}
		return Session{}, fmt.Errorf("session %q: %w", slug, err)
	}
	return s.view(r), nil
}
