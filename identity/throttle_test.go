package identity

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Real goroutines racing on one key never get more than max reservations.
func TestLimiterConcurrentReserve(t *testing.T) {
	t.Parallel()
	const max, n = 5, 200
	l := NewLimiter(max, time.Minute, nil)
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, _, allowed := l.Reserve("k"); allowed {
				ok.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() != max {
		t.Fatalf("%d reservations granted, want %d", ok.Load(), max)
	}
}

func TestLimiterWindowAndCancel(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	l := NewLimiter(2, time.Minute, clock)
	r1, _, ok1 := l.Reserve("a")
	_, _, ok2 := l.Reserve("a")
	_, wait, ok3 := l.Reserve("a")
	if !ok1 || !ok2 || ok3 || wait != time.Minute {
		t.Fatalf("reserve: %v %v %v wait %v", ok1, ok2, ok3, wait)
	}
	if _, _, ok := l.Reserve("b"); !ok {
		t.Fatal("keys are not independent")
	}
	r1.Cancel()
	if _, _, ok := l.Reserve("a"); !ok {
		t.Fatal("cancel did not free an attempt")
	}
	now = now.Add(30 * time.Second)
	if _, wait, ok := l.Reserve("a"); ok || wait != 30*time.Second {
		t.Fatalf("retry-after %v", wait)
	}
	now = now.Add(31 * time.Second)
	if _, _, ok := l.Reserve("a"); !ok {
		t.Fatal("window did not slide")
	}
	now = now.Add(10 * time.Minute)
	l.Reserve("c")
	l.mu.Lock()
	n := len(l.hits)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("sweep left %d keys, want 1", n)
	}
	Reservation{}.Cancel() // no panic
}

// A fill that read the database before an invalidation must not land.
func TestCacheEpochBlocksStaleFill(t *testing.T) {
	t.Parallel()
	c := newAuthCache()
	e := &cacheEntry{principal: Principal{User: User{ID: 7}}}
	epoch := c.currentEpoch()
	c.invalidate("h") // a logout races the lookup
	c.put("h", e, epoch)
	if _, ok := c.get("h"); ok {
		t.Fatal("stale fill was cached")
	}
	epoch = c.currentEpoch()
	c.put("h", e, epoch)
	c.put("h2", e, epoch)
	if c.len() != 2 {
		t.Fatalf("len %d", c.len())
	}
	c.invalidateUser(7)
	if c.len() != 0 {
		t.Fatal("invalidateUser left entries")
	}
}

func TestThrottleKeyIPv6By64(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"192.0.2.1", "192.0.2.2", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
		{"not-an-ip", "not-an-ip", true},
	} {
		if got := ThrottleKey(tc.a) == ThrottleKey(tc.b); got != tc.same {
			t.Errorf("ThrottleKey(%s) == ThrottleKey(%s) is %v, want %v (%s, %s)", tc.a, tc.b, got, tc.same, ThrottleKey(tc.a), ThrottleKey(tc.b))
		}
	}
}
