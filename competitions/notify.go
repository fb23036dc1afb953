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

// waiters wakes the goroutines waiting for one submission.
type waiters struct {
	mu sync.Mutex
	m  map[int64]chan struct{}
}

func newWaiters() *waiters { return &waiters{m: map[int64]chan struct{}{}} }

// Wait returns a channel closed by the next Done(id).
func (w *waiters) Wait(id int64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := w.m[id]
	if ch == nil {
		ch = make(chan struct{})
		w.m[id] = ch
	}
	return ch
}

// Done wakes the waiters of id.
func (w *waiters) Done(id int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch := w.m[id]; ch != nil {
		close(ch)
		delete(w.m, id)
	}
}
