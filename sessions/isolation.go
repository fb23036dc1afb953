package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrIsolation refuses a session create while the east-west rule (only the
// router reaches a session's IDE port; sessions never reach each other) is
// not known to be in force. The wrapped text says what an admin should do.
var ErrIsolation = errors.New("session isolation is not in force")

// IsolationChecker proves the east-west rule on a runtime. The Docker
// runtime probes it with two throwaway containers on a session network (one
// listening on the IDE port, one dialling it); a Kubernetes runtime answers
// from its NetworkPolicy. A nil error means in force; Method names how that
// was established, for /healthz logs and docs.
type IsolationChecker interface {
	CheckIsolation(ctx context.Context) error
	Method() string
}

// Isolation caches an IsolationChecker's verdict: Refresh runs the check,
// Err answers from the last verdict without blocking. Before the first
// verdict it reports "not checked yet". It is safe for concurrent use.
type Isolation struct {
	c IsolationChecker

	mu  sync.Mutex
	err error
	at  time.Time
	// restored is called (outside the lock) when a verdict says in force
	// after one that did not: the sessions service hands out the GPUs its
	// waitlist was kept from meanwhile.
	restored func()
}

var errNotChecked = errors.New("not checked yet")

// NewIsolation wraps c; a nil c means the check is off (always in force),
// for development hosts and tests without the host firewall.
func NewIsolation(c IsolationChecker) *Isolation { return &Isolation{c: c, err: errNotChecked} }

// Refresh runs the check now and records its verdict.
func (i *Isolation) Refresh(ctx context.Context) error {
	if i == nil || i.c == nil {
		return nil
	}
	err := i.c.CheckIsolation(ctx)
	if err != nil && ctx.Err() != nil {
		// A check cut short by shutdown says nothing about the host.
		return err
	}
	i.mu.Lock()
	was := i.err
	i.err, i.at = err, time.Now()
	restored := i.restored
	i.mu.Unlock()
	if was != nil && err == nil && restored != nil {
		restored()
	}
	return err
}

// Err is the last verdict wrapped in ErrIsolation, or nil when in force.
func (i *Isolation) Err() error {
	if i == nil || i.c == nil {
		return nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return fmt.Errorf("%w (%s): %w", ErrIsolation, i.c.Method(), i.err)
	}
	return nil
}

// Health is Err, for the /healthz registry (503 degraded while not in force).
func (i *Isolation) Health(context.Context) error { return i.Err() }

// Loop refreshes the verdict every interval until ctx ends.
func (i *Isolation) Loop(ctx context.Context, interval time.Duration) {
	if i == nil || i.c == nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = i.Refresh(ctx)
		}
	}
}
