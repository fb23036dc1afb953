package sessions

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures int
		max      time.Duration
		want     time.Duration
	}{
		{name: "first failure", failures: 1, max: time.Minute, want: time.Second},
		{name: "doubles", failures: 4, max: time.Minute, want: 8 * time.Second},
		{name: "capped", failures: 10, max: time.Minute, want: time.Minute},
		{name: "cap below a second", failures: 3, max: 500 * time.Millisecond, want: 500 * time.Millisecond},
		{name: "huge count does not overflow", failures: 1 << 20, max: 30 * time.Second, want: 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.failures, tc.max); got != tc.want {
				t.Fatalf("backoff(%d, %s) = %s, want %s", tc.failures, tc.max, got, tc.want)
			}
		})
	}
}

func TestSplitSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, ws, snap string
		ok                 bool
	}{
		{name: "zfs", in: "tank/medforge/workspaces/1/2@stop-1", ws: "tank/medforge/workspaces/1/2", snap: "stop-1", ok: true},
		{name: "dir", in: "/data/ws/1/2@stop-9", ws: "/data/ws/1/2", snap: "stop-9", ok: true},
		{name: "no at", in: "/data/ws/1/2"},
		{name: "empty snap", in: "/data/ws@"},
		{name: "empty ws", in: "@stop-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, snap, ok := SplitSnapshot(tc.in)
			if ok != tc.ok || (ok && (ws != tc.ws || snap != tc.snap)) {
				t.Fatalf("SplitSnapshot(%q) = %q, %q, %v", tc.in, ws, snap, ok)
			}
		})
	}
}
