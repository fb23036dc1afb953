package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medforge/medforge/engine/synth"
	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/scorers/scorertest"
	"github.com/medforge/medforge/store/testdb"
)

// writeTitanicBundle lays out a titanic-format bundle for competition import.
func writeTitanicBundle(t *testing.T, dir, slug string, f *synth.Files) {
	t.Helper()
	for _, d := range []string{"public", "training"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	manifest := fmt.Sprintf(`{"slug": %q, "title": "Kill test", "description": "synthetic", "metric": "accuracy",
  "direction": "maximize", "daily_cap": 1000, "id_column": "PassengerId",
  "columns": [{"name": "Survived", "type": "int", "min": 0, "max": 1}]}`, slug)
	files := map[string][]byte{"competition.json": []byte(manifest), "holdout.csv": f.Holdout,
		"public/sample_submission.csv": f.SampleSubmission, "training/train.csv": f.Train}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startProc starts the binary in its own process group (so SIGKILL takes
// its sandbox workers too).
func startProc(t *testing.T, c *cli, extra []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append([]string{}, c.env...), extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", args[0], out.String())
		}
	})
	return cmd
}

// TestKilledWorkerProcessIsRecovered runs serve without its embedded
// worker, a `medforge worker` that is SIGKILLed while it holds leases, and a
// second worker that must finish every submission exactly once.
func TestKilledWorkerProcessIsRecovered(t *testing.T) {
	st, dsn := testdb.FreshNamed(t, true)
	c := newCLI(t, dsn)
	scorers := t.TempDir()
	wasm, err := os.ReadFile(scorertest.Build(t, "accuracy"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(scorers, "accuracy.wasm"), wasm, 0o644)
	c.env = append(c.env, "MEDFORGE_SCORERS_DIR="+scorers, "MEDFORGE_SCORING_WORKERS=1", "MEDFORGE_WORKER_LEASE=1s",
		"MEDFORGE_WORKER_POLL=50ms")
	f, _ := synth.Generate("titanic-survival", 3, 418)
	bdir := t.TempDir()
	writeTitanicBundle(t, bdir, "kill-test", f)
	if out, code := c.run("", "competition", "import", bdir); code != 0 {
		t.Fatalf("import: %d %s", code, out)
	}
	out, code := c.run("", "competition", "import", bdir)
	if code != 0 || !strings.Contains(out, `"created": false`) || !strings.Contains(out, `"holdout_changed": false`) {
		t.Fatalf("re-import is not idempotent: %d %s", code, out)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	// 40 uploads in a row by one user: past the default upload rate.
	srv := startProc(t, c, []string{"MEDFORGE_LISTEN=" + addr, "MEDFORGE_EMBEDDED_WORKER=false", "MEDFORGE_UPLOADS_PER_USER=0"}, "serve")
	base := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 300 {
			t.Fatal("serve did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Without its embedded worker the API runs no module, so it starts no
	// sandbox pool: no sandbox worker process beside it (in Compose, beside
	// the Docker socket).
	if kids := childProcesses(t, srv.Process.Pid); len(kids) != 0 {
		t.Fatalf("serve without its embedded worker has child processes %v (a sandbox pool)", kids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u := testdb.User(t, st, testdb.UserOpts{})
	ids, err := identity.NewService(st, identity.Options{Params: identity.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := ids.CreateToken(ctx, u.ID, "kill", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "s.csv")
		fw.Write(f.Submission(uint64(i), synth.SubmissionOptions{Noise: 0.3}))
		mw.Close()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v2/competitions/kill-test/submissions", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("submit %d: %d %s", i, resp.StatusCode, b)
		}
	}
	count := func(q string, args ...any) int {
		var v int
		if err := st.DB().QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Worker A scores a few, then dies holding a lease.
	a := startProc(t, c, nil, "worker")
	deadline := time.Now().Add(2 * time.Minute)
	for count("SELECT COUNT(*) FROM submissions WHERE status = 'scored'") < 3 ||
		count("SELECT COUNT(*) FROM submissions WHERE lease_until > UTC_TIMESTAMP(6)") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("worker A never got going")
		}
		time.Sleep(2 * time.Millisecond)
	}
	syscall.Kill(-a.Process.Pid, syscall.SIGKILL)
	a.Wait()
	orphaned := count("SELECT COUNT(*) FROM submissions WHERE status = 'scoring'")
	if orphaned == 0 || count("SELECT COUNT(*) FROM submissions WHERE pending > 0") == 0 {
		t.Logf("worker A left %d submissions mid-scoring", orphaned)
	}
	startProc(t, c, nil, "worker")
	for count("SELECT COUNT(*) FROM submissions WHERE status = 'scored' AND pending = 0") < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d scored after the kill", count("SELECT COUNT(*) FROM submissions WHERE status = 'scored'"), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rows := count("SELECT COUNT(*) FROM submission_scores"); rows != n {
		t.Fatalf("%d score rows for %d submissions", rows, n)
	}
	if off := count("SELECT COUNT(*) FROM submission_scores WHERE is_official"); off != n {
		t.Fatalf("%d official scores for %d submissions", off, n)
	}
	if orphaned > 0 && count("SELECT COUNT(*) FROM submissions WHERE attempts >= 2") < 1 {
		t.Fatal("no submission was taken over from the killed worker")
	}
	// The leaderboard shows the user's best.
	resp, err := http.Get(base + "/api/v2/competitions/kill-test/leaderboard")
	if err != nil {
		t.Fatal(err)
	}
	var lb struct {
		Data struct {
			Entries []struct {
				SubmissionCount int `json:"submission_count"`
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&lb)
	resp.Body.Close()
	if len(lb.Data.Entries) != 1 || lb.Data.Entries[0].SubmissionCount != n {
		t.Fatalf("leaderboard %+v", lb)
	}
}

// The competitions commands take their settings from config: a bad one
// stops them with exit 2 and a message naming it, before any database work.
func TestCompetitionsSettingsAreValidated(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "unused")
	pub := t.TempDir()
	c.env = append(c.env, "MEDFORGE_PUBLIC_EVAL_DATA_ROOT="+pub, "MEDFORGE_TEST_HOLDOUTS_DIR="+filepath.Join(pub, "hidden"),
		"MEDFORGE_SCORING_WORKERS=none")
	for _, cmd := range []string{"worker", "serve", "seed"} {
		out, code := c.run("", cmd)
		if code != 2 || !strings.Contains(out, "MEDFORGE_TEST_HOLDOUTS_DIR: must not be inside MEDFORGE_PUBLIC_EVAL_DATA_ROOT") ||
			!strings.Contains(out, "MEDFORGE_SCORING_WORKERS") {
			t.Fatalf("%s: exit %d: %s", cmd, code, out)
		}
	}
}

// seed without built scorer modules says what to do.
func TestSeedWithoutScorersSaysWhatToDo(t *testing.T) {
	t.Parallel()
	_, dsn := testdb.FreshNamed(t, false)
	c := newCLI(t, dsn)
	empty := t.TempDir()
	c.env = append(c.env, "MEDFORGE_SCORERS_DIR="+empty)
	out, code := c.run("", "seed", "--admin-password-file", filepath.Join(t.TempDir(), "pw"))
	want := "the built-in scorer modules are not built: accuracy.wasm, map-iou.wasm, top1.wasm, roc-auc.wasm missing in " + empty +
		". Run `make scorers` (it builds them into bin/scorers, next to bin/medforge), or set MEDFORGE_SCORERS_DIR to the folder that holds them"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q in:\n%s", code, want, out)
	}
}

// childProcesses lists the pids whose parent is pid (every thread's
// children, from /proc).
func childProcesses(t *testing.T, pid int) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no /proc task list for %d: %v", pid, err)
	}
	var kids []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}
