package competitions

import (
	"testing"
	"time"
)

// TestWaitersLeaveNothingBehind: a submission finished by another process
// never gets Done here, so the last waiter to leave must remove the entry.
func TestWaitersLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	w := newWaiters()
	ch1, release1 := w.Wait(7)
	ch2, release2 := w.Wait(7)
	if ch1 != ch2 {
		t.Fatal("two waiters of one submission got different channels")
	}
	release1()
	if w.len() != 1 {
		t.Fatalf("entry removed while a waiter remains: %d entries", w.len())
	}
	release2()
	if w.len() != 0 {
		t.Fatalf("entry left after every waiter left: %d entries", w.len())
	}

	ch, release := w.Wait(8)
	w.Done(8)
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Done did not wake the waiter")
	}
	release() // after Done: must not touch a newer entry
	ch3, release3 := w.Wait(8)
	defer release3()
	select {
	case <-ch3:
		t.Fatal("a new wait after Done is already closed")
	default:
	}
	if w.len() != 1 {
		t.Fatalf("late release removed the newer waiter's entry: %d entries", w.len())
	}
}
