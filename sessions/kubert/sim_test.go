package kubert_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/store/testdb"
)

// TestSimulation1000 is the scale-out figure of make bench
// (ops/bench/bench-kube.sh), a simulation: 1,000 sessions on 250 KWOK nodes
// of 4 GPUs each, plus 50 more users than GPUs. It reports the time until all
// 1,000 run and the 50 are queued on the waitlist, the API server's CPU
// time and peak memory over the run, MedForge's own CPU, and the MariaDB
// statements per session. It checks the invariants: 1,000 distinct GPUs, at
// most 4 Pods per node, each Pod on its GPU's node.
func TestSimulation1000(t *testing.T) {
	if os.Getenv("MEDFORGE_KUBE_BENCH") == "" {
		t.Skip("the 1,000-session simulation runs under make bench (MEDFORGE_KUBE_BENCH=1)")
	}
	const nodes, perNode, extra = 250, 4, 50
	total := nodes * perNode
	e := newEnv(t, envOpts{nodes: nodes, gpus: perNode, noStart: true})
	e.cfg.PollInterval = 2 * time.Second
	e.cfg.StartTimeout = 5 * time.Minute
	e.svc = e.newService()
	ctx := ctxT(t, 15*time.Minute)
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	users := make([]int64, total+extra)
	for i := range users {
		users[i] = e.user(testdb.UserOpts{})
	}
	var running atomic.Int64
	done := make(chan struct{})
	e.svc.OnChange(func(c sessions.Change) {
		if c.Status == sessions.StatusRunning && running.Add(1) == int64(total) {
			close(done)
		}
	})
	db := questionsDB(t)
	q0 := questions(t, db)
	api := e.c.Pid("kube-apiserver")
	cpu0 := procCPU(t, api)
	var self0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)

	start := time.Now()
	var refused, other atomic.Int64
	var wg sync.WaitGroup
	work := make(chan int64)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				pl, err := e.svc.Request(ctx, sessions.CreateRequest{UserID: u, Exposure: sessions.External})
				switch {
				case err == nil && pl.Queued != nil:
					refused.Add(1)
				case errors.Is(err, sessions.ErrNoGPU):
					t.Errorf("refused instead of queued")
				case err != nil:
					other.Add(1)
					t.Errorf("create: %v", err)
				}
			}
		}()
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	answered := time.Since(start)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%d of %d sessions running when the time ran out", running.Load(), total)
	}
	allRunning := time.Since(start)
	cpu1 := procCPU(t, api)
	var self1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	q1 := questions(t, db)

	if refused.Load() != extra || other.Load() != 0 {
		t.Errorf("queued %d (want %d), other errors %d", refused.Load(), extra, other.Load())
	}
	// Invariants on what the cluster holds.
	pods, err := e.drv.List(ctx, map[string]string{sessions.LabelInstance: e.instance})
	if err != nil {
		t.Fatal(err)
	}
	perNodeCount := map[string]int{}
	gpus := map[string]bool{}
	for _, p := range pods {
		if gpus[p.Labels[sessions.LabelGPU]] {
			t.Errorf("GPU %s held twice", p.Labels[sessions.LabelGPU])
		}
		gpus[p.Labels[sessions.LabelGPU]] = true
		id, _ := strconv.Atoi(p.Labels[sessions.LabelGPU])
		perNodeCount[e.drv.NodeOf(id)]++
	}
	if len(pods) != total || len(gpus) != total {
		t.Errorf("%d pods on %d GPUs, want %d", len(pods), len(gpus), total)
	}
	for n, c := range perNodeCount {
		if c > perNode {
			t.Errorf("node %s holds %d sessions", n, c)
		}
	}
	rss := procHWM(t, api)
	selfCPU := tv(self1.Utime) + tv(self1.Stime) - tv(self0.Utime) - tv(self0.Stime)
	fmt.Printf("BENCH kube-sim: %d sessions on %d KWOK nodes x %d GPUs (+%d users over capacity), simulation\n", total, nodes, perNode, extra)
	fmt.Printf("BENCH kube-sim: all %d creates answered in %s (%d queued on the waitlist, as they must be)\n", total+extra, answered.Round(time.Millisecond), refused.Load())
	fmt.Printf("BENCH kube-sim: all %d running after %s (%.1f sessions/s)\n", total, allRunning.Round(time.Millisecond), float64(total)/allRunning.Seconds())
	fmt.Printf("BENCH kube-sim: kube-apiserver CPU %.1fs over the run (%.1f ms per session), peak RSS %d MiB\n", cpu1-cpu0, (cpu1-cpu0)*1000/float64(total), rss>>20)
	fmt.Printf("BENCH kube-sim: MedForge (test process: service + driver + harness) CPU %.1fs\n", selfCPU)
	fmt.Printf("BENCH kube-sim: MariaDB statements %d, %.1f per session (includes recovery passes during the run)\n", q1-q0, float64(q1-q0)/float64(total+extra))
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func questionsDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// questions is the server's statement counter (Questions: statements sent
// by clients).
func questions(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var name string
	var v int64
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// procCPU is a process's user+system CPU seconds.
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procHWM is a process's peak resident set, in bytes.
func procHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
