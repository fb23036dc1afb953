package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestNetprobe: the probe's two ends tell "reached" (nil), "unreachable"
// (exit 3) and misuse (exit 2) apart, since the isolation probe reads
// unreachable as "in force" and anything else as "cannot judge".
func TestNetprobe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNetprobe(ctx, []string{"listen", addr}) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if runNetprobe(context.Background(), []string{"dial", "-timeout", "200ms", addr}) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("netprobe listen never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("listen after cancel: %v", err)
	}

	code := func(err error) int {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if err == nil {
			return 0
		}
		return 1
	}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"closed port", []string{"dial", "-timeout", "500ms", addr}, 3},
		{"no mode", nil, 2},
		{"unknown mode", []string{"scan", addr}, 2},
		{"dial without address", []string{"dial"}, 2},
		{"listen without address", []string{"listen"}, 2},
		{"bad timeout", []string{"dial", "-timeout", "soon", addr}, 2},
	}
	for _, tc := range tests {
		if got := code(runNetprobe(context.Background(), tc.args)); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}
