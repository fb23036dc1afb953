package routing

import (
	"context"
	"errors"
	"testing"

	"github.com/medforge/medforge/store"
)

// touchStore fails TouchSessionActivity while down and counts the writes
// that succeed; the table's Flush calls nothing else.
type touchStore struct {
	store.Store
	down    bool
	touched []int64
}

func (s *touchStore) TouchSessionActivity(_ context.Context, id int64) (int64, error) {
	if s.down {
		return 0, errors.New("database unavailable")
	}
	s.touched = append(s.touched, id)
	return 1, nil
}

type noResolver struct{}

func (noResolver) Endpoint(context.Context, string) (string, error) { return "", nil }

// A flush whose write fails keeps the session's activity for the next one:
// otherwise a database hiccup would erase a busy session's use, and idle
// culling could stop it.
func TestFlushKeepsActivityWhenTheWriteFails(t *testing.T) {
	st := &touchStore{down: true}
	tb, err := NewTable(Options{Store: st, Resolver: noResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	r := &Route{ID: 7, Slug: "abc"}
	tb.mu.Lock()
	tb.set(func(m map[string]*Route) { m[r.Slug] = r })
	tb.mu.Unlock()
	r.mark()
	if n, err := tb.Flush(context.Background()); err == nil || n != 0 {
		t.Fatalf("flush with the database down: n=%d err=%v, want 0 and an error", n, err)
	}
	st.down = false
	if n, err := tb.Flush(context.Background()); err != nil || n != 1 || len(st.touched) != 1 || st.touched[0] != 7 {
		t.Fatalf("flush after recovery: n=%d err=%v touched=%v, want session 7 written once", n, err, st.touched)
	}
	if n, err := tb.Flush(context.Background()); err != nil || n != 0 {
		t.Fatalf("flush with nothing routed: n=%d err=%v, want 0", n, err)
	}
}
