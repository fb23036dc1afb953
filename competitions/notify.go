package competitions

import "sync"

// notifier wakes every waiting worker goroutine of this process at once: a
// wait returns a channel that is closed by the next Notify.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// Wait returns a channel closed by the next Notify.
func (n *notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// Notify wakes every current waiter.
func (n *notifier) Notify() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// waiters wakes the goroutines waiting for one submission. An entry lives
// only while someone waits on it: the last waiter to leave removes it, so
// submissions finished by another process (whose Done never runs here) leave
// nothing behind.
type waiters struct {
	mu sync.Mutex
	m  map[int64]*waitEntry
}

type waitEntry struct {
	ch chan struct{}
	n  int // goroutines holding ch
}

func newWaiters() *waiters { return &waiters{m: map[int64]*waitEntry{}} }

// Wait returns a channel closed by the next Done(id), and a release func
// the caller must call once it stops waiting.
func (w *waiters) Wait(id int64) (<-chan struct{}, func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.m[id]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if cur := w.m[id]; cur == e {
			if e.n--; e.n == 0 {
				delete(w.m, id)
			}
		}
	}
}

// Done wakes the waiters of id.
func (w *waiters) Done(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[id]; e != nil {
		close(e.ch)
		delete(w.m, id)
	}
}

// len is the number of submissions with waiters (for tests).
func (w *waiters) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}
