package sandbox_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medforge/medforge/engine/sandbox"
	"github.com/medforge/medforge/scorers"
	"github.com/medforge/medforge/scorers/scorertest"
)

// procStatus reads the fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// rssKiB is a process's resident set in KiB (0 once it is gone).
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// TestWorkerIsConfined checks, from /proc, what a compromised worker would
// be left with: no capabilities, no_new_privs, a seccomp filter, an
// address-space limit, and (when the tests run as root) not root.
func TestWorkerIsConfined(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("confinement is Linux-only")
	}
	t.Parallel()
	p := newPool(t, 2)
	checkHealthy(t, p, load(t, p, scorertest.Build(t, scorers.Accuracy)))
	pids := sandbox.WorkerPIDs(p)
	if len(pids) != 2 {
		t.Fatalf("%d live workers, want 2", len(pids))
	}
	for _, pid := range pids {
		st := procStatus(t, pid)
		for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
			if st[k] != "0000000000000000" {
				t.Errorf("worker %d: %s = %s, want no capabilities", pid, k, st[k])
			}
		}
		if st["NoNewPrivs"] != "1" {
			t.Errorf("worker %d: NoNewPrivs = %q", pid, st["NoNewPrivs"])
		}
		if st["Seccomp"] != "2" {
			t.Errorf("worker %d: Seccomp = %q, want 2 (filter)", pid, st["Seccomp"])
		}
		if os.Geteuid() == 0 {
			for _, k := range []string{"Uid", "Gid"} {
				for _, id := range strings.Fields(st[k]) {
					if id != "65534" {
						t.Errorf("worker %d: %s = %q, want 65534 everywhere", pid, k, st[k])
						break
					}
				}
			}
			if st["Groups"] != "" {
				t.Errorf("worker %d: supplementary groups %q", pid, st["Groups"])
			}
		}
		limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.FormatUint(4*(64<<20)+3<<30, 10)
		if !strings.Contains(string(limits), "Max address space         "+want+"           "+want) {
			t.Errorf("worker %d: address-space limit is not %s bytes:\n%s", pid, want, limits)
		}
	}
}

// wasmModule assembles a minimal scorer ABI v1 module by hand: a table
// declared with the given limits (max < 0: none) and a medforge_score whose
// body is score (it must leave an i64).
func wasmModule(tableMin uint32, tableMax int64, score []byte) []byte {
	u := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(u(append(out, id), uint64(len(body))), body...)
	}
	name := func(b []byte, s string) []byte { return append(u(b, uint64(len(s))), s...) }
	m := []byte("\x00asm\x01\x00\x00\x00")
	// types: ()->(), ()->i32, (i32)->i32, (i32,i32)->i64
	m = section(m, 1, []byte{4, 0x60, 0, 0, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e})
	m = section(m, 3, []byte{4, 0, 1, 2, 3})
	table := []byte{1, 0x70}
	if tableMax < 0 {
		table = u(append(table, 0), uint64(tableMin))
	} else {
		table = u(u(append(table, 1), uint64(tableMin)), uint64(tableMax))
	}
	m = section(m, 4, table)
	m = section(m, 5, []byte{1, 0, 2}) // memory: 2 pages, no max
	exp := []byte{5}
	exp = append(name(exp, "memory"), 2, 0)
	exp = append(name(exp, "medforge_abi_v1"), 0, 0)
	exp = append(name(exp, "medforge_abi_minor"), 0, 1)
	exp = append(name(exp, "medforge_alloc"), 0, 2)
	exp = append(name(exp, "medforge_score"), 0, 3)
	m = section(m, 7, exp)
	fn := func(code []byte) []byte {
		b := append([]byte{0}, code...) // no locals
		b = append(b, 0x0b)
		return append(u(nil, uint64(len(b))), b...)
	}
	code := []byte{4}
	code = append(code, fn(nil)...)                      // marker
	code = append(code, fn([]byte{0x41, 0})...)          // minor: i32.const 0
	code = append(code, fn([]byte{0x41, 0x80, 0x08})...) // alloc: i32.const 1024
	code = append(code, fn(score)...)                    // score
	return section(m, 10, code)
}

// growLoop is a medforge_score body that calls table.grow by 2^20 null
// elements forever.
var growLoop = []byte{
	0x03, 0x40, // loop
	0xd0, 0x70, // ref.null func
	0x41, 0x80, 0x80, 0xc0, 0x00, // i32.const 1<<20
	0xfc, 0x0f, 0x00, // table.grow 0
	0x1a,       // drop
	0x0c, 0x00, // br 0
	0x0b, // end
	0x00, // unreachable
}

// TestTableGrowBomb is the attack of a module that loops on table.grow:
// table elements live on the host, outside the guest's memory cap. The
// module's table is capped at load, so every growth past the cap fails, the
// worker's memory stays small until the time limit stops it, and the next
// scoring is correct.
func TestTableGrowBomb(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	acc := load(t, p, scorertest.Build(t, scorers.Accuracy))
	m, err := p.Load(testContext(t), wasmModule(1, -1, growLoop))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			for _, pid := range sandbox.WorkerPIDs(p) {
				if r := int64(rssKiB(pid)); r > peak.Load() {
					peak.Store(r)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	_, err = p.Score(testContext(t), m, titanic())
	close(done)
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("Score() = %v, want the time limit", err)
	}
	if mib := peak.Load() >> 10; mib > 300 || mib == 0 {
		t.Fatalf("worker RSS peaked at %d MiB, want (0, 300]", mib)
	} else {
		t.Logf("worker RSS peak %d MiB", mib)
	}
	checkHealthy(t, p, acc)
}

func TestLoadRejectsOversizedTables(t *testing.T) {
	t.Parallel()
	p := newPool(t, 1)
	acc := load(t, p, scorertest.Build(t, scorers.Accuracy))
	for _, tt := range []struct {
		name     string
		min      uint32
		max      int64
		wantLoad string // "" = accepted
	}{
		{"initial size over the cap", 1 << 28, -1, "table 0 starts with 268435456 elements, over the limit of 131072"},
		{"declared max over the cap is clamped", 1, 1 << 30, ""},
		{"small bounded table", 4, 4, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Load(testContext(t), wasmModule(tt.min, tt.max, []byte{0x42, 0}))
			var re *sandbox.RejectedError
			switch {
			case tt.wantLoad == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.wantLoad != "" && (!errors.As(err, &re) || !strings.Contains(re.Reason, tt.wantLoad)):
				t.Fatalf("Load() = %v, want a rejection containing %q", err, tt.wantLoad)
			}
			checkHealthy(t, p, acc)
		})
	}
}
