package sessions_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// TestBenchSessions measures, on the real engine with the stand-in image:
// create -> running latency, stop -> stopped latency (the snapshot of a
// 4 MiB workspace included), and allocation throughput under contention.
// It runs only with MEDFORGE_SESSIONS_BENCH=1 (ops/bench/bench-sessions.sh).
func TestBenchSessions(t *testing.T) {
	if os.Getenv("MEDFORGE_SESSIONS_BENCH") != "1" {
		t.Skip("benchmark: set MEDFORGE_SESSIONS_BENCH=1 (make bench)")
	}
	rounds := 12
	e := newEnv(t, envOpts{gpus: "0,1,2,3", cfg: func(c *sessions.Config) { c.PollInterval = 50 * time.Millisecond }})
	ctx := ctxT(t, 10*time.Minute)
	uid := e.user(testdb.UserOpts{MaxConcurrentSessions: 1})
	var up, down []time.Duration
	for i := 0; i < rounds; i++ {
		t0 := time.Now()
		s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: uid, Exposure: sessions.External})
		require.NoError(t, err)
		waitFast(t, e, s.ID, sessions.StatusRunning)
		up = append(up, time.Since(t0))
		ws := filepath.Join(e.ws.Root(), itoa(uid), itoa(s.ID))
		for j := 0; j < 4; j++ {
			require.NoError(t, os.WriteFile(filepath.Join(ws, fmt.Sprintf("data%d.bin", j)), make([]byte, 1<<20), 0o644))
		}
		t1 := time.Now()
		_, err = e.svc.Stop(ctx, s.ID, uid, sessions.StopUser)
		require.NoError(t, err)
		waitFast(t, e, s.ID, sessions.StatusStopped)
		down = append(down, time.Since(t1))
	}
	fmt.Printf("BENCH sessions create->running (stand-in image, %d rounds): p50 %s  p90 %s  max %s\n", rounds, pct(up, 50), pct(up, 90), pct(up, 100))
	fmt.Printf("BENCH sessions stop->stopped incl. snapshot of 4 MiB (%d rounds): p50 %s  p90 %s  max %s\n", rounds, pct(down, 50), pct(down, 90), pct(down, 100))

	// Allocation under contention: 32 workers and 200 users race for 8
	// GPUs for 5 seconds; every granted allocation is released at once so
	// the GPUs cycle. The invariant is checked on every grant.
	a := newEnv(t, envOpts{gpus: "0,1,2,3,4,5,6,7", noStart: true})
	require.NoError(t, a.svc.SyncGPUs(ctx))
	users := make([]int64, 200)
	for i := range users {
		users[i] = a.user(testdb.UserOpts{})
	}
	var granted, refused atomic.Int64
	var holders sync.Map // gpu -> session id
	var violations atomic.Int64
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i += 32 {
				s, err := a.svc.AllocateOnly(ctx, sessions.CreateRequest{UserID: users[i%len(users)], Exposure: sessions.External})
				if errors.Is(err, sessions.ErrNoGPU) || errors.Is(err, sessions.ErrLimit) {
					refused.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("allocate: %v", err)
					return
				}
				granted.Add(1)
				if prev, loaded := holders.LoadOrStore(s.GPUID, s.ID); loaded {
					violations.Add(1)
					t.Errorf("GPU %d given to %d while %v holds it", s.GPUID, s.ID, prev)
				}
				holders.Delete(s.GPUID)
				var err2 error
				for try := 0; try < 5; try++ { // a release can be a deadlock victim too
					if _, err2 = a.st.DB().ExecContext(ctx, "UPDATE sessions SET status = 'stopped' WHERE id = ?", s.ID); err2 == nil {
						break
					}
				}
				if err2 != nil {
					t.Errorf("release: %v", err2)
					return
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("BENCH sessions allocation under contention (32 workers, 200 users, 8 GPUs, 5s): %.0f grants/s, %.0f refusals/s, %d exclusivity violations\n",
		float64(granted.Load())/5, float64(refused.Load())/5, violations.Load())
	require.Zero(t, violations.Load())
}

func waitFast(t *testing.T, e *env, id int64, want sessions.Status) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	for {
		var st string
		require.NoError(t, e.st.DB().QueryRowContext(ctx, "SELECT status FROM sessions WHERE id = ?", id).Scan(&st))
		if st == string(want) {
			return
		}
		if st == "error" || ctx.Err() != nil {
			t.Fatalf("session %d: %s, want %s", id, st, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pct(ds []time.Duration, p int) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1].Round(time.Millisecond).String()
}

// TestBenchHandoff measures the waitlist's hand-off: with one GPU held and a
// request queued, the time from the holder's stop request to the queued
// user's session running (the stop's finalization and snapshot, the
// hand-off transaction, and the new container's start), against a plain
// create -> running on a free GPU in the same run. It runs only with
// MEDFORGE_SESSIONS_BENCH=1 (ops/bench/bench-sessions.sh).
func TestBenchHandoff(t *testing.T) {
	if os.Getenv("MEDFORGE_SESSIONS_BENCH") != "1" {
		t.Skip("benchmark: set MEDFORGE_SESSIONS_BENCH=1 (make bench)")
	}
	rounds := 8
	e := newEnv(t, envOpts{gpus: "0", cfg: func(c *sessions.Config) { c.PollInterval = 50 * time.Millisecond }})
	ctx := ctxT(t, 10*time.Minute)
	a, b := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	var plain, handoff []time.Duration
	holder := a
	t0 := time.Now()
	s, err := e.svc.Create(ctx, sessions.CreateRequest{UserID: holder, Exposure: sessions.External})
	require.NoError(t, err)
	waitFast(t, e, s.ID, sessions.StatusRunning)
	plain = append(plain, time.Since(t0))
	for i := 0; i < rounds; i++ {
		next := b
		if holder == b {
			next = a
		}
		p, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: next, Exposure: sessions.External})
		require.NoError(t, err)
		require.NotNil(t, p.Queued)
		t1 := time.Now()
		_, err = e.svc.Stop(ctx, s.ID, holder, sessions.StopUser)
		require.NoError(t, err)
		var q sessions.QueueEntry
		for {
			q, err = e.svc.QueueStatus(ctx, next, sessions.External)
			require.NoError(t, err)
			if q.Status == sessions.QueueGranted {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		waitFast(t, e, q.SessionID, sessions.StatusRunning)
		handoff = append(handoff, time.Since(t1))
		s, err = e.svc.Get(ctx, q.SessionID, 0)
		require.NoError(t, err)
		holder = next
		if i%2 == 1 {
			// A plain create -> running on a free GPU, for the reference.
			_, err = e.svc.Stop(ctx, s.ID, holder, sessions.StopUser)
			require.NoError(t, err)
			waitFast(t, e, s.ID, sessions.StatusStopped)
			t2 := time.Now()
			s, err = e.svc.Create(ctx, sessions.CreateRequest{UserID: holder, Exposure: sessions.External})
			require.NoError(t, err)
			waitFast(t, e, s.ID, sessions.StatusRunning)
			plain = append(plain, time.Since(t2))
		}
	}
	fmt.Printf("BENCH queue hand-off, stop request -> next session running (%d rounds): p50 %s  p90 %s; plain create->running p50 %s; ratio %.2f\n",
		rounds, pct(handoff, 50), pct(handoff, 90), pct(plain, 50), float64(median(handoff))/float64(median(plain)))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
