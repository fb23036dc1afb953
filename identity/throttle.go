package identity

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter allows at most Max attempts per key within a sliding Window. An
// attempt is counted when it is reserved, before the (slow) password check,
// so N concurrent attempts can never pass a limit below N. It is in-memory
// and per process: MedForge serves the API from one process.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	hits      map[string][]time.Time
	lastSweep time.Time
}

// NewLimiter returns a Limiter of max attempts per window. now may be nil.
func NewLimiter(max int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, window: window, now: now, hits: map[string][]time.Time{}}
}

// Reservation is one counted attempt; Cancel un-counts it.
type Reservation struct {
	l   *Limiter
	key string
	at  time.Time
}

// Reserve counts one attempt for key. When key has already used its
// attempts, nothing is counted, ok is false and retryAfter says when the
// oldest attempt leaves the window.
func (l *Limiter) Reserve(key string) (r Reservation, retryAfter time.Duration, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	hits := pruned(l.hits[key], now.Add(-l.window))
	if len(hits) >= l.max {
		l.hits[key] = hits
		wait := hits[0].Add(l.window).Sub(now)
		if wait < time.Second {
			wait = time.Second
		}
		return Reservation{}, wait, false
	}
	l.hits[key] = append(hits, now)
	return Reservation{l: l, key: key, at: now}, 0, true
}

// Cancel removes the attempt r counted (for example, because it succeeded).
// Cancel on a zero Reservation does nothing.
func (r Reservation) Cancel() {
	if r.l == nil {
		return
	}
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	hits := r.l.hits[r.key]
	for i, t := range hits {
		if t.Equal(r.at) {
			r.l.hits[r.key] = append(hits[:i:i], hits[i+1:]...)
			break
		}
	}
	if len(r.l.hits[r.key]) == 0 {
		delete(r.l.hits, r.key)
	}
}

func pruned(hits []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(hits) && !hits[i].After(cutoff) {
		i++
	}
	return hits[i:]
}

// sweepLocked drops keys with no attempt left in the window, once per window,
// so memory stays proportional to recent attackers.
func (l *Limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	cutoff := now.Add(-l.window)
	for k, hits := range l.hits {
		if len(pruned(hits, cutoff)) == 0 {
			delete(l.hits, k)
		}
	}
}

// ThrottleKey is the per-client key of the IP throttles: an IPv4 address
// as is, an IPv6 address by its /64 prefix (one customer's allocation, in
// which an attacker can pick a fresh address for every attempt). Anything
// that does not parse is keyed verbatim.
func ThrottleKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap()
	if a.Is4() {
		return "ip:" + a.String()
	}
	p, _ := a.Prefix(64)
	return "ip6:" + p.String()
}
