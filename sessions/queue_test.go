package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/store/testdb"
)

// queued requests an external session for uid and requires it to be
// queued.
func (e *env) queued(ctx context.Context, uid int64) sessions.QueueEntry {
	e.t.Helper()
	return e.queuedOn(ctx, uid, sessions.External)
}

// queuedOn requests a session on exposure x for uid and requires it to be
// queued.
func (e *env) queuedOn(ctx context.Context, uid int64, x sessions.Exposure) sessions.QueueEntry {
	e.t.Helper()
	p, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: x})
	require.NoError(e.t, err)
	require.NotNil(e.t, p.Queued, "user %d should be queued, got a session", uid)
	assert.Equal(e.t, sessions.QueueQueued, p.Queued.Status)
	return *p.Queued
}

// waitGranted polls until uid's external request is granted and its
// session runs.
func (e *env) waitGranted(svc *sessions.Service, uid int64) sessions.Session {
	e.t.Helper()
	return e.waitGrantedOn(svc, uid, sessions.External)
}

// waitGrantedOn polls until uid's request on exposure x is granted and its
// session runs.
func (e *env) waitGrantedOn(svc *sessions.Service, uid int64, x sessions.Exposure) sessions.Session {
	e.t.Helper()
	ctx := ctxT(e.t, time.Minute)
	for {
		q, err := svc.QueueStatus(ctx, uid, x)
		require.NoError(e.t, err)
		if q.Status == sessions.QueueGranted {
			return e.waitStatus(q.SessionID, sessions.StatusRunning, time.Minute)
		}
		require.Equal(e.t, sessions.QueueQueued, q.Status, "reason: %s", q.Reason)
		select {
		case <-ctx.Done():
			e.t.Fatalf("user %d never granted", uid)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// history gives uid a stopped session that held GPU 3 for the given time
// ending an hour ago (the fair-share key counts the last 24 h).
func (e *env) history(uid int64, held time.Duration) {
	e.t.Helper()
	_, err := e.st.DB().Exec(`INSERT INTO sessions (slug, user_id, exposure, pack, image, gpu_id, status, created_at, started_at, ended_at)
		VALUES (?, ?, 'external', 'default', 'x', 3, 'stopped', NOW(6) - INTERVAL ? SECOND, NOW(6) - INTERVAL ? SECOND, NOW(6) - INTERVAL 1 HOUR)`,
		"hist"+randHex(4), uid, int64((held+time.Hour)/time.Second), int64((held+time.Hour)/time.Second))
	require.NoError(e.t, err)
}

// With 4 declared GPUs and 6 users, the 5th and 6th are queued at
// positions 1 and 2 (202 in the API), and each gets a GPU as soon as one is
// freed, in order; then fair share: a user with fewer GPU-hours in the last
// 24 h goes ahead of an earlier arrival with more. A queued user cannot
// queue twice, and can cancel.
func TestWaitlistFairShare(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) {
		c.IdleTimeout = time.Hour
		c.MaxLifetime = 4 * time.Hour
	}})
	ctx := ctxT(t, 4*time.Minute)
	var users [8]int64
	for i := range users {
		users[i] = e.user(testdb.UserOpts{})
	}
	var running [4]sessions.Session
	for i := range running {
		running[i] = e.running(ctx, users[i])
	}
	q5 := e.queued(ctx, users[4])
	q6 := e.queued(ctx, users[5])
	assert.Equal(t, 1, q5.Position)
	assert.Equal(t, 2, q6.Position)
	assert.Equal(t, 2, q6.QueueLength)
	require.NotNil(t, q5.EstimatedStartAt, "estimated from the running sessions' limits: %s", q5.EstimateUnknown)
	require.NotNil(t, q6.EstimatedStartAt)
	assert.WithinDuration(t, time.Now().Add(time.Hour), *q5.EstimatedStartAt, 2*time.Minute, "the earliest idle deadline")
	assert.False(t, q6.EstimatedStartAt.Before(*q5.EstimatedStartAt))

	_, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: users[4], Exposure: sessions.External})
	assert.ErrorIs(t, err, sessions.ErrAlreadyQueued)
	_, err = e.svc.Create(ctx, sessions.CreateRequest{UserID: users[7], Exposure: sessions.External})
	assert.ErrorIs(t, err, sessions.ErrNoGPU, "Create never queues")

	e.stopped(ctx, running[0])
	s5 := e.waitGranted(e.svc, users[4])
	assert.Equal(t, running[0].GPUID, s5.GPUID, "the freed GPU went to the head of the queue")
	q6, err = e.svc.QueueStatus(ctx, users[5], sessions.External)
	require.NoError(t, err)
	assert.Equal(t, 1, q6.Position, "the next one moved up")
	e.stopped(ctx, running[1])
	s6 := e.waitGranted(e.svc, users[5])
	assert.Equal(t, running[1].GPUID, s6.GPUID)

	// Fair share: user 7 used a GPU for 3 h today and arrives first; user 8
	// has used none and goes ahead.
	e.history(users[6], 3*time.Hour)
	q7 := e.queued(ctx, users[6])
	q8 := e.queued(ctx, users[7])
	assert.Equal(t, 1, q7.Position)
	q7, err = e.svc.QueueStatus(ctx, users[6], sessions.External)
	require.NoError(t, err)
	assert.Equal(t, 2, q7.Position, "overtaken by the user with fewer GPU-hours")
	assert.InDelta(t, 3.0, q7.GPUHours24h, 0.05)
	assert.Equal(t, 1, q8.Position)
	all, err := e.svc.Queue(ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, users[7], all[0].UserID)
	hours, err := e.svc.GPUHours(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, hours)
	assert.Equal(t, users[6], hours[0].UserID, "admins see who used most")

	e.stopped(ctx, running[2])
	e.waitGranted(e.svc, users[7])
	left, err := e.svc.CancelQueued(ctx, users[6], sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueCancelled, left.Status)
	_, err = e.svc.CancelQueued(ctx, users[6], sessions.External)
	assert.ErrorIs(t, err, sessions.ErrNotQueued)
	_, err = e.svc.CancelQueued(ctx, users[7], sessions.External)
	assert.ErrorIs(t, err, sessions.ErrAlreadyGranted)
	e.stopped(ctx, running[3])
	time.Sleep(500 * time.Millisecond)
	all, err = e.svc.Queue(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)
	q7, err = e.svc.QueueStatus(ctx, users[6], sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueCancelled, q7.Status, "a cancelled request is never granted")
}

// One queue per exposure, on real MariaDB and Docker with 4 GPUs held:
// a user waits in both queues at once (one request in each, a second on
// either is refused), positions count per exposure, fair share orders each
// queue, and a freed GPU goes to the head that arrived first. So a heavy
// INTERNAL user who came first is served before lighter EXTERNAL users who
// came after (under one global fair-share order they would overtake her
// for as long as light users keep coming); a head at its session limit is
// passed over, and its other request is granted when its session ends.
func TestWaitlistOneQueuePerExposure(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *sessions.Config) {
		c.IdleTimeout = time.Hour
		c.MaxLifetime = 4 * time.Hour
	}})
	ctx := ctxT(t, 4*time.Minute)
	var holders [4]sessions.Session
	for i := range holders {
		holders[i] = e.running(ctx, e.user(testdb.UserOpts{}))
	}
	heavy := e.user(testdb.UserOpts{CanUseInternal: true})
	e.history(heavy, 3*time.Hour)
	light1, light2 := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	both := e.user(testdb.UserOpts{CanUseInternal: true})
	e.history(both, 4*time.Hour) // behind heavy in the INTERNAL queue

	qh := e.queuedOn(ctx, heavy, sessions.Internal)
	q1 := e.queuedOn(ctx, light1, sessions.External)
	q2 := e.queuedOn(ctx, light2, sessions.External)
	qbe := e.queuedOn(ctx, both, sessions.External)
	qbi := e.queuedOn(ctx, both, sessions.Internal)
	for _, c := range []struct {
		name      string
		got       sessions.QueueEntry
		pos, qlen int
	}{
		{"heavy internal", qh, 1, 1},
		{"light1 external", q1, 1, 1},
		{"light2 external", q2, 2, 2},
		{"both external", qbe, 3, 3},
		{"both internal", qbi, 2, 2},
	} {
		assert.Equal(t, c.pos, c.got.Position, "%s: position in its exposure's queue at arrival", c.name)
		assert.Equal(t, c.qlen, c.got.QueueLength, c.name)
	}
	for _, x := range []sessions.Exposure{sessions.External, sessions.Internal} {
		_, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: both, Exposure: x})
		assert.ErrorIs(t, err, sessions.ErrAlreadyQueued, "one queued request per user and exposure (%s)", x)
	}

	all, err := e.svc.Queue(ctx)
	require.NoError(t, err)
	type place struct {
		user int64
		x    sessions.Exposure
		pos  int
	}
	var order []place
	for _, q := range all {
		order = append(order, place{q.UserID, q.Exposure, q.Position})
	}
	assert.Equal(t, []place{
		{heavy, sessions.Internal, 1}, {light1, sessions.External, 1}, {light2, sessions.External, 2},
		{both, sessions.External, 3}, {both, sessions.Internal, 2},
	}, order, "hand-off order: the older of the two heads each time")
	for i := 1; i < len(all); i++ {
		require.NotNil(t, all[i].EstimatedStartAt)
		assert.False(t, all[i].EstimatedStartAt.Before(*all[i-1].EstimatedStartAt), "estimates follow the hand-off order")
	}

	e.stopped(ctx, holders[0])
	sh := e.waitGrantedOn(e.svc, heavy, sessions.Internal)
	assert.Equal(t, holders[0].GPUID, sh.GPUID, "the older head (INTERNAL) gets the GPU despite 3 GPU-hours")
	assert.Equal(t, sessions.Internal, sh.Exposure)
	q1, err = e.svc.QueueStatus(ctx, light1, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueQueued, q1.Status)

	e.stopped(ctx, holders[1])
	e.waitGrantedOn(e.svc, light1, sessions.External)
	e.stopped(ctx, holders[2])
	e.waitGrantedOn(e.svc, light2, sessions.External)
	qbi, err = e.svc.QueueStatus(ctx, both, sessions.Internal)
	require.NoError(t, err)
	assert.Equal(t, 1, qbi.Position, "the INTERNAL queue's head now")

	// both's EXTERNAL request arrived before its INTERNAL one and wins;
	// then both is at the limit of 1 and the INTERNAL request waits on.
	e.stopped(ctx, holders[3])
	sbe := e.waitGrantedOn(e.svc, both, sessions.External)
	e.stopped(ctx, sh)
	late := e.user(testdb.UserOpts{})
	e.queuedOn(ctx, late, sessions.External) // someone waits: a newcomer never takes the free GPU directly
	sl := e.waitGrantedOn(e.svc, late, sessions.External)
	assert.Equal(t, sh.GPUID, sl.GPUID, "the head at its limit is passed over, not the GPU left idle")
	qbi, err = e.svc.QueueStatus(ctx, both, sessions.Internal)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueQueued, qbi.Status, "waits while its user is at the limit")
	e.stopped(ctx, sbe)
	sbi := e.waitGrantedOn(e.svc, both, sessions.Internal)
	assert.Equal(t, sbe.GPUID, sbi.GPUID, "granted in the transaction that ended its user's other session")
	all, err = e.svc.Queue(ctx)
	require.NoError(t, err)
	assert.Empty(t, all)
}

// The API is SIGKILLed (a real process) while finalizing a stop, with two
// requests waiting: the restarted API keeps their order, finishes the stop
// and hands the freed GPU to the head of the queue.
func TestWaitlistSurvivesSIGKILL(t *testing.T) {
	e := newEnv(t, envOpts{gpus: "0", cfg: func(c *sessions.Config) { c.PollInterval = time.Hour }})
	ctx := ctxT(t, 3*time.Minute)
	a, b, c := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	s := e.running(ctx, a)
	e.queued(ctx, b)
	e.queued(ctx, c)
	e.svc.Close()
	_, err := e.svc.Stop(ctx, s.ID, a, sessions.StopUser)
	require.NoError(t, err)

	marker := filepath.Join(t.TempDir(), "frozen")
	spec, _ := json.Marshal(childSpec{DSN: e.dsn, Instance: e.instance, Workspaces: e.ws.Root(),
		Holdouts: e.cfg.TestHoldoutsDir, Step: "removed", Marker: marker, Config: e.cfg})
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	out, _ := os.CreateTemp(t.TempDir(), "child")
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if ctx.Err() != nil {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("child never reached the step: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	one, err := gpu.ParseDeclared("0")
	require.NoError(t, err)
	restarted := e.newService(one)
	qb, err := restarted.QueueStatus(ctx, b, sessions.External)
	require.NoError(t, err)
	qc, err := restarted.QueueStatus(ctx, c, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueQueued, qb.Status, "the kill lost no place")
	assert.Equal(t, 1, qb.Position)
	assert.Equal(t, 2, qc.Position)
	require.NoError(t, restarted.Start(ctx))
	got := e.waitGranted(restarted, b)
	assert.Equal(t, s.GPUID, got.GPUID)
	qc, err = restarted.QueueStatus(ctx, c, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, 1, qc.Position)
	old, err := restarted.Get(ctx, s.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, sessions.StatusStopped, old.Status)
}

// 50 concurrent create, stop and cancel calls by 12 users for 4 GPUs: no
// GPU is ever held by two active sessions, no request is granted twice,
// no user holds two sessions, and once everything is stopped and cancelled
// the queue is empty and every GPU free.
func TestWaitlistConcurrentNeverDoubleAssigns(t *testing.T) {
	e := newEnv(t, envOpts{})
	users := make([]int64, 12)
	for i := range users {
		users[i] = e.user(testdb.UserOpts{})
	}
	raceWaitlist(t, e, users, []sessions.Exposure{sessions.External}, 50)
}

// The same race over both exposures' queues: 60 concurrent create, stop
// and cancel calls by 12 users (all entitled to INTERNAL, half of them
// allowed two sessions, so one user can wait in both queues and hold a
// session on each exposure) for 4 GPUs. No GPU is held twice, no user
// exceeds their limit or has two queued requests on one exposure, no
// request is granted twice, and draining the queues by stops alone grants
// what waits.
func TestWaitlistConcurrentBothExposures(t *testing.T) {
	e := newEnv(t, envOpts{})
	users := make([]int64, 12)
	for i := range users {
		users[i] = e.user(testdb.UserOpts{CanUseInternal: true, MaxConcurrentSessions: 1 + i%2})
	}
	granted := raceWaitlist(t, e, users, []sessions.Exposure{sessions.External, sessions.Internal}, 60)
	assert.Positive(t, granted, "requests waiting after the race are granted as sessions stop")
}

// raceWaitlist runs calls concurrent create, cancel and stop calls by
// users on exposures (chosen by call index) while a watcher checks the
// invariants every 20 ms; then drains: stops sessions until the queues are
// empty (cancelling only if that takes over a minute) and every GPU is free.
// It returns how many requests were granted from the queue.
func raceWaitlist(t *testing.T, e *env, users []int64, exposures []sessions.Exposure, calls int) int {
	t.Helper()
	ctx := ctxT(t, 4*time.Minute)
	stopWatch := make(chan struct{})
	var violations []string
	var vmu sync.Mutex
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, q := range []string{
				`SELECT CONCAT('gpu ', gpu_id, ' held ', COUNT(*), ' times') FROM sessions WHERE status IN ('starting','running','stopping') GROUP BY gpu_id HAVING COUNT(*) > 1`,
				`SELECT CONCAT('user ', s.user_id, ' holds ', COUNT(*), ' over a limit of ', u.max_concurrent_sessions) FROM sessions s JOIN users u ON u.id = s.user_id
				 WHERE s.status IN ('starting','running','stopping') GROUP BY s.user_id, u.max_concurrent_sessions HAVING COUNT(*) > u.max_concurrent_sessions`,
				`SELECT CONCAT('user ', user_id, ' queued ', COUNT(*), ' times on ', exposure) FROM session_queue WHERE status = 'queued' GROUP BY user_id, exposure HAVING COUNT(*) > 1`,
				`SELECT CONCAT('session ', session_id, ' granted ', COUNT(*), ' times') FROM session_queue WHERE status = 'granted' GROUP BY session_id HAVING COUNT(*) > 1`,
			} {
				rows, err := e.st.DB().Query(q)
				if err != nil {
					continue
				}
				for rows.Next() {
					var v string
					_ = rows.Scan(&v)
					vmu.Lock()
					violations = append(violations, v)
					vmu.Unlock()
				}
				rows.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	var errs sync.Map
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uid := users[i%len(users)]
			x := exposures[(i/len(users))%len(exposures)]
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			var err error
			switch i % 5 {
			case 0, 1, 2:
				_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: uid, Exposure: x})
			case 3:
				_, err = e.svc.CancelQueued(ctx, uid, x)
			case 4:
				if cur, cerr := e.svc.Current(ctx, uid, x); cerr == nil {
					_, err = e.svc.Stop(ctx, cur.ID, uid, sessions.StopUser)
				}
			}
			switch {
			case err == nil:
			case errorsIsAny(err, sessions.ErrAlreadyQueued, sessions.ErrLimit, sessions.ErrNotQueued, sessions.ErrAlreadyGranted):
			default:
				errs.Store(i, err)
			}
		}()
	}
	wg.Wait()
	errs.Range(func(k, v any) bool {
		t.Errorf("call %v: unexpected error %v", k, v)
		return true
	})
	// Drain: stop every session (each stop hands its GPU to the queue)
	// until nothing is active or queued; after a minute, cancel too.
	start := time.Now()
	for {
		cancel := time.Since(start) > time.Minute
		for _, uid := range users {
			for _, x := range exposures {
				if cancel {
					_, _ = e.svc.CancelQueued(ctx, uid, x)
				}
				if cur, err := e.svc.Current(ctx, uid, x); err == nil && cur.Status != sessions.StatusStarting {
					_, _ = e.svc.Stop(ctx, cur.ID, uid, sessions.StopUser)
				}
			}
		}
		var active, queued int
		require.NoError(t, e.st.DB().QueryRow(`SELECT COUNT(*) FROM sessions WHERE status IN ('starting','running','stopping')`).Scan(&active))
		require.NoError(t, e.st.DB().QueryRow(`SELECT COUNT(*) FROM session_queue WHERE status = 'queued'`).Scan(&queued))
		if active == 0 && queued == 0 {
			break
		}
		require.Less(t, time.Since(start), 2*time.Minute, "still %d active and %d queued", active, queued)
		time.Sleep(200 * time.Millisecond)
	}
	close(stopWatch)
	<-watchDone
	assert.Empty(t, violations)
	var granted, grantedSessions int
	require.NoError(t, e.st.DB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT session_id) FROM session_queue WHERE status = 'granted'`).Scan(&granted, &grantedSessions))
	assert.Equal(t, granted, grantedSessions, "each grant has its own session")
	t.Logf("%d requests were granted from the queue", granted)
	return granted
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// A promotion from the waitlist starts a session as surely as a create
// does, so it is held to the same east-west verdict: while isolation is not
// in force a freed GPU stays free, the queued request stays queued with a
// reason (and no estimate), and nobody new gets in; once a check passes
// again the request is granted at once and its session runs.
func TestWaitlistHeldWhileIsolationNotInForce(t *testing.T) {
	e := newEnv(t, envOpts{noStart: true, gpus: "0", cfg: func(c *sessions.Config) {
		c.IdleTimeout = time.Hour
		c.PollInterval = time.Hour // only kicks run passes: nothing hands out the GPU by chance
	}})
	chk := &switchableChecker{}
	iso := sessions.NewIsolation(chk)
	e.svc.SetIsolation(iso, 0)
	ctx := ctxT(t, 3*time.Minute)
	require.NoError(t, e.svc.Start(ctx))

	first, waiting := e.user(testdb.UserOpts{}), e.user(testdb.UserOpts{})
	s1 := e.running(ctx, first)
	e.queued(ctx, waiting)

	chk.broken.Store(true)
	require.Error(t, iso.Refresh(ctx))
	e.stopped(ctx, s1)
	// The stop's transaction and further passes both skip the hand-off.
	require.NoError(t, e.svc.Reconciler().Pass(ctx))
	q, err := e.svc.QueueStatus(ctx, waiting, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueQueued, q.Status, "no promotion while isolation is not in force")
	assert.Equal(t, 1, q.Position)
	assert.Contains(t, q.Reason, sessions.HoldReason)
	assert.Contains(t, q.Reason, "reached another session", "the reason names what the check found")
	assert.Nil(t, q.EstimatedStartAt)
	assert.Equal(t, sessions.HoldReason, q.EstimateUnknown)
	gpus, err := e.svc.GPUs(ctx)
	require.NoError(t, err)
	require.Len(t, gpus, 1)
	assert.Nil(t, gpus[0].Holder, "the freed GPU stays free")
	assert.Empty(t, e.containers(ctx), "no session container was started")
	_, err = e.svc.Request(ctx, sessions.CreateRequest{UserID: e.user(testdb.UserOpts{}), Exposure: sessions.External})
	assert.ErrorIs(t, err, sessions.ErrIsolation, "nobody joins meanwhile either")

	// The verdict's return kicks a pass (PollInterval is an hour).
	chk.broken.Store(false)
	require.NoError(t, iso.Refresh(ctx))
	s2 := e.waitGranted(e.svc, waiting)
	assert.Equal(t, s1.GPUID, s2.GPUID)
	q, err = e.svc.QueueStatus(ctx, waiting, sessions.External)
	require.NoError(t, err)
	assert.Equal(t, sessions.QueueGranted, q.Status)
	assert.Empty(t, q.Reason)
}
