//go:build stack

package stacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type submission struct {
	ID           int64    `json:"id"`
	Status       string   `json:"status"`
	PrimaryScore *float64 `json:"primary_score"`
	Error        string   `json:"error"`
}

type session struct {
	ID            int64  `json:"id"`
	Slug          string `json:"slug"`
	Status        string `json:"status"`
	Snapshot      string `json:"snapshot"`
	ContainerName string `json:"container_name"`
}

var competitionSlugs = []string{"titanic-survival", "cifar-100-classification", "rsna-pneumonia-detection", "stack-import"}

// TestStack is one walk through the stack; each step needs the previous
// ones, so the first failure ends it.
func TestStack(t *testing.T) {
	s := newStack(t)
	if os.Getenv("MEDFORGE_STACK_TEST") != "1" {
		t.Skip("the stack test runs under make test-stack (MEDFORGE_STACK_TEST=1)")
	}
	if _, err := s.sh(5*time.Minute, "", "down", "--volumes"); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MEDFORGE_STACK_KEEP") != "1" {
		t.Cleanup(func() { _, _ = s.sh(5*time.Minute, "", "down", "--volumes") })
	}
	pw := map[string]string{"comp1@example.org": "correct horse battery 1", "comp2@example.org": "correct horse battery 2"}
	var (
		c1, c2, admin *client
		boards        map[string]json.RawMessage
		sess          session
	)
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow()
		}
	}

	step("up from images built here", func(t *testing.T) {
		start := time.Now()
		out := s.must(30*time.Minute, "up")
		s.figure("stack-up to healthy, empty stack, images prebuilt: %s (%s)", time.Since(start).Round(time.Second), strings.TrimSpace(out))
		c := s.client(t)
		code, body := c.do("GET", "/healthz", nil)
		if code != 200 || !strings.Contains(string(body), `"ok"`) {
			t.Fatalf("/healthz %d %s", code, body)
		}
		// The API and the worker started together on an empty database:
		// exactly one of them applied the migrations.
		logs := s.must(time.Minute, "compose", "logs", "--no-color", "medforge-api", "medforge-api-worker")
		if n := strings.Count(logs, `"migrations applied"`); n != 1 {
			t.Fatalf("migrations applied %d times by the API and the worker together, want 1:\n%s", n, tail(logs, 30))
		}
	})

	step("least privilege", func(t *testing.T) {
		inspect := func(svc, format string) string {
			id := strings.TrimSpace(s.must(time.Minute, "compose", "ps", "-q", svc))
			out, err := docker(t, "inspect", "-f", format, id)
			if err != nil {
				t.Fatalf("inspect %s: %v %s", svc, err, out)
			}
			return out
		}
		if got := inspect("medforge-api-worker", "{{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.CapAdd}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}}"); got != "65532:65532 [ALL] [] true [no-new-privileges:true]" {
			t.Errorf("worker runs as %q", got)
		}
		if got := inspect("medforge-api-worker", "{{range .Mounts}}{{.Source}} {{end}}"); strings.Contains(got, "docker.sock") {
			t.Errorf("the worker mounts the Docker socket: %s", got)
		}
		if _, err := s.sh(time.Minute, "", "compose", "exec", "-T", "medforge-api-worker", "bash", "-c", "test -e /var/run/docker.sock"); err == nil {
			t.Error("the worker can see a Docker socket")
		}
		if got := inspect("medforge-api", "{{.HostConfig.CapDrop}} {{.HostConfig.CapAdd}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}}"); got != "[ALL] [CHOWN DAC_OVERRIDE FOWNER SETUID SETGID] true [no-new-privileges:true]" {
			t.Errorf("API privileges %q", got)
		}
		if got := inspect("medforge-caddy", "{{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.CapAdd}}"); got != "caddy [ALL] []" {
			t.Errorf("Caddy privileges %q", got)
		}
		// The API runs no scoring worker (its /healthz lists none).
		c := s.client(t)
		_, body := c.do("GET", "/healthz", nil)
		if strings.Contains(string(body), "scoring_worker") {
			t.Errorf("the API runs an embedded scoring worker: %s", body)
		}
		// Data ownership: stored files belong to the worker's user.
		out, err := docker(t, "run", "--rm", "--network", "none", "-v", filepath.Join(s.dir, "data")+":/d:ro", "--entrypoint", "bash",
			s.envValue("MEDFORGE_IMAGE"), "-c", "find /d/holdouts /d/stores /d/public-eval -not -user 65532 | head -5")
		if err != nil || out != "" {
			t.Errorf("data not owned by 65532 (%v): %s", err, out)
		}
	})

	step("admin tasks inside the stack", func(t *testing.T) {
		for email, p := range pw {
			if _, err := s.sh(time.Minute, p+"\n", "admin", "user", "create", "--email", email, "--password-stdin"); err != nil {
				t.Fatal(err)
			}
		}
		s.must(time.Minute, "admin", "user", "set", "--email", "comp1@example.org", "--internal=true", "--max-sessions", "2")
		// A competition bundle, written where the API mounts imports.
		bdir := filepath.Join(s.dir, "data", "import", "stack-import")
		if out, err := runCmd(os.Getenv("MEDFORGE_BIN"), "synth", "--competition", "titanic-survival", "--n", "120", "--out", bdir); err != nil {
			t.Fatalf("synth: %v %s", err, out)
		}
		for _, d := range []string{"public", "training"} {
			if err := os.MkdirAll(filepath.Join(bdir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustRename(t, filepath.Join(bdir, "sample_submission.csv"), filepath.Join(bdir, "public", "sample_submission.csv"))
		mustRename(t, filepath.Join(bdir, "train.csv"), filepath.Join(bdir, "training", "train.csv"))
		_ = os.Remove(filepath.Join(bdir, "test.csv"))
		manifest := `{"slug":"stack-import","title":"Stack import","description":"imported inside the stack","exposure":"EXTERNAL",
"metric":"accuracy","direction":"maximize","daily_cap":20,"id_column":"PassengerId","columns":[{"name":"Survived","type":"int","min":0,"max":1}]}`
		if err := os.WriteFile(filepath.Join(bdir, "competition.json"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		s.must(2*time.Minute, "admin", "competition", "import", "/import/stack-import")
		admin = s.client(t)
		apw, err := os.ReadFile(filepath.Join(s.dir, "admin-password"))
		if err != nil {
			t.Fatal(err)
		}
		admin.login("admin@medforge.localhost", strings.TrimSpace(string(apw)))
		var comp struct{ Slug string }
		admin.data("GET", "/api/v2/competitions/stack-import", nil, 200, &comp)
		if comp.Slug != "stack-import" {
			t.Fatalf("imported competition: %+v", comp)
		}
		s.must(2*time.Minute, "admin", "competition", "rescore", "-reason", "stack test", "titanic-survival")
	})

	step("competitor journey: sample, submit, scored by the worker service, leaderboard", func(t *testing.T) {
		c1, c2 = s.client(t), s.client(t)
		c1.login("comp1@example.org", pw["comp1@example.org"])
		c2.login("comp2@example.org", pw["comp2@example.org"])
		var ds struct {
			Files []struct{ Name, URL string }
		}
		c1.data("GET", "/api/v2/datasets/titanic-survival", nil, 200, &ds)
		var sample []byte
		for _, f := range ds.Files {
			if f.Name == "sample_submission.csv" {
				code, b := c1.do("GET", f.URL, nil)
				if code != 200 {
					t.Fatalf("download %s: %d", f.URL, code)
				}
				sample = b
			}
		}
		if len(sample) == 0 {
			t.Fatalf("no sample_submission.csv in %+v", ds)
		}
		// With the worker service stopped nothing scores: the API's
		// embedded worker is off.
		s.must(2*time.Minute, "compose", "stop", "medforge-api-worker")
		// Scorer-upload validation runs in the worker service too, never
		// in the API: with the worker stopped an admin's upload is a queued
		// sandbox job (202); once the worker is back it runs it, and the
		// same upload then answers 201 with the report.
		wasm, err := os.ReadFile(filepath.Join(s.root, "bin", "image", "scorers", "accuracy.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		scorerForm := func() *form {
			return fileFormFields(t, "accuracy.wasm", wasm, map[string]string{"name": "accuracy", "version": "stack"})
		}
		var pend struct {
			Pending bool
			Job     struct {
				ID           int64
				Kind, Status string
			}
		}
		admin.data("POST", "/api/v2/competitions/stack-import/scorers?wait=2", scorerForm(), 202, &pend)
		if !pend.Pending || pend.Job.Kind != "validate" || pend.Job.Status != "queued" {
			t.Fatalf("scorer upload with the worker stopped: %+v", pend)
		}
		submit := func(c *client, slug string, file []byte) submission {
			var res struct{ Submission submission }
			c.data("POST", "/api/v2/competitions/"+slug+"/submissions", fileForm(t, "sample.csv", file), 201, &res)
			return res.Submission
		}
		first := submit(c1, "titanic-survival", sample)
		time.Sleep(3 * time.Second)
		var got submission
		c1.data("GET", fmt.Sprintf("/api/v2/submissions/%d", first.ID), nil, 200, &got)
		if got.Status == "scored" {
			t.Fatal("a submission was scored while the worker service was stopped")
		}
		s.must(2*time.Minute, "compose", "start", "medforge-api-worker")
		var job struct{ Status, Error string }
		eventually(t, 2*time.Minute, "the validate job", func() bool {
			admin.data("GET", fmt.Sprintf("/api/v2/author/competitions/stack-import/jobs/%d", pend.Job.ID), nil, 200, &job)
			return job.Status == "done" || job.Status == "failed"
		})
		if job.Status != "done" {
			t.Fatalf("validate job: %+v", job)
		}
		var up struct {
			Report struct{ OK bool } `json:"validation_report"`
		}
		admin.data("POST", "/api/v2/competitions/stack-import/scorers", scorerForm(), 201, &up)
		if !up.Report.OK {
			t.Fatalf("scorer upload after the worker ran it: %+v", up)
		}
		wait := func(c *client, id int64) submission {
			var sub submission
			eventually(t, 2*time.Minute, "scored", func() bool {
				c.data("GET", fmt.Sprintf("/api/v2/submissions/%d?wait=10s", id), nil, 200, &sub)
				return sub.Status == "scored" || sub.Status == "failed"
			})
			if sub.Status != "scored" || sub.PrimaryScore == nil {
				t.Fatalf("submission %d: %+v", id, sub)
			}
			return sub
		}
		wait(c1, first.ID)
		// More rows for every board, so the restore has something to match.
		for _, slug := range competitionSlugs {
			var d struct {
				Files []struct{ Name, URL string }
			}
			c2.data("GET", "/api/v2/datasets/"+slug, nil, 200, &d)
			for _, f := range d.Files {
				if f.Name == "sample_submission.csv" {
					_, b := c2.do("GET", f.URL, nil)
					wait(c2, submit(c2, slug, b).ID)
				}
			}
		}
		boards = leaderboards(t, c1)
		if !bytes.Contains(boards["titanic-survival"], []byte("comp1")) && !bytes.Contains(boards["titanic-survival"], []byte(`"rank"`)) {
			t.Fatalf("leaderboard without entries: %s", boards["titanic-survival"])
		}
	})

	step("session through Caddy: pinned pack, 401/403/200", func(t *testing.T) {
		c1.data("POST", "/api/v2/external/sessions", map[string]string{}, 201, &sess)
		sess = waitSession(t, c1, sess.ID, "running")
		pack := s.envValue("MEDFORGE_PACK_IMAGE")
		img, err := docker(t, "inspect", "-f", "{{.Image}}", sess.ContainerName)
		if err != nil || img != pack {
			t.Fatalf("session container runs %q (%v), want the pinned pack %s", img, err, pack)
		}
		host := "https://s-" + sess.Slug + ".external.medforge.localhost" + strings.TrimPrefix(c1.base, "https://medforge.localhost")
		anon := s.client(t)
		if code, body := anon.do("GET", host+"/", nil); code != 401 {
			t.Errorf("no credentials: %d %s", code, body)
		}
		// Browsers: the session host sends them through the handshake with
		// the platform host, where their host-only identity cookie is.
		if code, body := c2.browse(host + "/"); code != 403 {
			t.Errorf("another user: %d %s", code, body)
		}
		if code, body := c1.browse(host + "/"); code != 200 {
			t.Errorf("owner: %d %s", code, body)
		}
		// The owner's credential then serves scripts too.
		if code, body := c1.do("GET", host+"/", nil); code != 200 {
			t.Errorf("owner's script request: %d %s", code, body)
		}
	})

	step("east-west: sessions cannot reach each other's :8080, checked by the API", func(t *testing.T) {
		ip, err := docker(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", sess.ContainerName)
		if err != nil || ip == "" {
			t.Fatalf("session address: %v %s", err, ip)
		}
		// A container on the same session network, as another session.
		out, err := docker(t, "run", "--rm", "--network", s.envValue("MEDFORGE_EXTERNAL_NETWORK"), "--cap-drop", "ALL",
			s.envValue("MEDFORGE_IMAGE"), "netprobe", "dial", "-timeout", "2s", ip+":8080")
		if err == nil {
			t.Fatalf("another container on the session network reached %s:8080: %s", ip, out)
		}
		// Without the firewall the API's probe notices: /healthz degraded and
		// creates refused with a reason; with it back, service returns.
		fw := func(action string) {
			ext, in, br := s.envValue("MEDFORGE_EXTERNAL_NET"), s.envValue("MEDFORGE_INTERNAL_NET"), s.envValue("MEDFORGE_BRIDGE_PREFIX")
			cmd := fmt.Sprintf("MEDFORGE_FW_PREFIX=MFTEST MEDFORGE_FW_NETWORKS='%s-ext0:%s.0/24:%s.2:%s.3 %s-int0:%s.0/24:%s.2:%s.3' %s %s",
				br, ext, ext, ext, br, in, in, in, filepath.Join(s.root, "ops", "network", "firewall-setup.sh"), action)
			if out, err := runCmd("bash", "-c", cmd); err != nil {
				t.Fatalf("firewall %s: %v %s", action, err, out)
			}
		}
		fw("remove")
		applied := false
		defer func() {
			if !applied {
				fw("apply")
			}
		}()
		eventually(t, time.Minute, "/healthz degraded without the firewall", func() bool {
			code, body := c2.do("GET", "/healthz", nil)
			return code == 503 && strings.Contains(string(body), "session_isolation")
		})
		code, body := c2.do("POST", "/api/v2/external/sessions", map[string]string{})
		if code != 503 || !strings.Contains(string(body), "session_isolation") || !strings.Contains(string(body), "firewall-setup.sh") {
			t.Fatalf("create without isolation: %d %s", code, body)
		}
		fw("apply")
		applied = true
		eventually(t, time.Minute, "/healthz ok with the firewall", func() bool {
			code, _ := c2.do("GET", "/healthz", nil)
			return code == 200
		})
	})

	step("stop with a snapshot survives an API restart mid-stop", func(t *testing.T) {
		c1.data("POST", fmt.Sprintf("/api/v2/external/sessions/%d/stop", sess.ID), nil, 202, nil)
		s.must(3*time.Minute, "compose", "restart", "-t", "2", "medforge-api")
		eventually(t, 2*time.Minute, "API back", func() bool {
			code, _ := c1.do("GET", "/healthz", nil)
			return code == 200
		})
		sess = waitSession(t, c1, sess.ID, "stopped")
		if sess.Snapshot == "" {
			t.Fatalf("stopped without a snapshot: %+v", sess)
		}
		snaps, _ := filepath.Glob(filepath.Join(s.dir, "data", "workspaces", "*", strconv.FormatInt(sess.ID, 10)+"@*"))
		if len(snaps) != 1 {
			t.Fatalf("snapshots of session %d: %v, want exactly one", sess.ID, snaps)
		}
	})

	step("stack-down then stack-up keeps everything", func(t *testing.T) {
		checkRestarts(t, s)
		s.must(5*time.Minute, "down")
		start := time.Now()
		s.must(30*time.Minute, "up")
		s.figure("stack-up to healthy after stack-down, data kept: %s", time.Since(start).Round(time.Second))
		c := s.client(t)
		c.login("comp1@example.org", pw["comp1@example.org"])
		if got := leaderboards(t, c); !sameBoards(got, boards) {
			t.Fatalf("leaderboards changed across down/up:\n%s\nwas\n%s", got, boards)
		}
		var list []session
		c.data("GET", "/api/v2/sessions", nil, 200, &list)
		if len(list) == 0 || list[0].Snapshot != sess.Snapshot {
			t.Fatalf("sessions after down/up: %+v", list)
		}
		c1 = c
	})

	step("backup, wipe, restore: same leaderboards, every artifact verifies", func(t *testing.T) {
		checkRestarts(t, s)
		bdir := filepath.Join(s.root, ".run", "stacktest-backup")
		_ = os.RemoveAll(bdir)
		t.Cleanup(func() { _ = os.RemoveAll(bdir) })
		start := time.Now()
		s.must(10*time.Minute, "backup", bdir)
		s.figure("backup (small stack): %s", time.Since(start).Round(time.Millisecond))
		s.must(5*time.Minute, "verify", bdir)
		// A tampered copy is refused before anything is touched.
		bad := bdir + "-tampered"
		t.Cleanup(func() { _ = os.RemoveAll(bad) })
		if out, err := runCmd("cp", "-a", bdir, bad); err != nil {
			t.Fatal(err, out)
		}
		sql, _ := os.ReadFile(filepath.Join(bad, "db.sql"))
		_ = os.WriteFile(filepath.Join(bad, "db.sql"), bytes.Replace(sql, []byte("INSERT"), []byte("insert"), 1), 0o600)
		if _, err := s.sh(2*time.Minute, "", "verify", bad); err == nil {
			t.Fatal("verify accepted a tampered dump")
		}
		s.must(5*time.Minute, "down", "--volumes")
		s.must(30*time.Minute, "up")
		start = time.Now()
		s.must(10*time.Minute, "restore", bdir)
		s.figure("restore into a wiped stack: %s", time.Since(start).Round(time.Millisecond))
		c := s.client(t)
		c.login("comp1@example.org", pw["comp1@example.org"])
		if got := leaderboards(t, c); !sameBoards(got, boards) {
			t.Fatalf("leaderboards differ after restore:\n%s\nwas\n%s", got, boards)
		}
		// The restored stack still scores.
		var d struct {
			Files []struct{ Name, URL string }
		}
		c.data("GET", "/api/v2/datasets/stack-import", nil, 200, &d)
		for _, f := range d.Files {
			if f.Name == "sample_submission.csv" {
				_, b := c.do("GET", f.URL, nil)
				var res struct{ Submission submission }
				c.data("POST", "/api/v2/competitions/stack-import/submissions", fileForm(t, "again.csv", b), 201, &res)
				sub := res.Submission
				eventually(t, 2*time.Minute, "scored after restore", func() bool {
					c.data("GET", fmt.Sprintf("/api/v2/submissions/%d?wait=10s", sub.ID), nil, 200, &sub)
					return sub.Status == "scored"
				})
			}
		}
		checkRestarts(t, s)
	})

	step("upgrade: a newer image migrates once with the API and the worker starting together", func(t *testing.T) {
		checkRestarts(t, s)
		// The newer image: this one with a binary that carries two more,
		// test-only migrations (sql/upgradetest, the upgradetest build
		// tag), the first slow, the second one that fails if applied twice.
		dir := filepath.Join(s.root, ".run", "stacktest-upgrade")
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		build := exec.Command("go", "build", "-trimpath", "-tags", "osusergo,netgo,upgradetest",
			"-ldflags", "-s -w -linkmode external -extldflags=-static", "-o", filepath.Join(dir, "medforge"), "./cmd/medforge")
		build.Dir, build.Env = s.root, append(os.Environ(), "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build the newer binary: %v\n%s", err, out)
		}
		const newer = "medforge/medforge:stacktest-upgrade"
		_, _ = docker(t, "rmi", "-f", newer)
		df := "FROM " + s.envValue("MEDFORGE_IMAGE") + "\nUSER 0:0\nCOPY medforge /usr/local/bin/medforge\nUSER 65532:65532\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := docker(t, "build", "-q", "-t", newer, dir); err != nil {
			t.Fatalf("build the newer image: %v\n%s", err, out)
		}
		images, err := os.ReadFile(filepath.Join(s.dir, "images.env"))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(images)), "\n") {
			if strings.HasPrefix(l, "MEDFORGE_IMAGE=") {
				l = "MEDFORGE_IMAGE=" + newer
			}
			lines = append(lines, l)
		}
		newEnv := filepath.Join(dir, "images.env")
		if err := os.WriteFile(newEnv, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := s.client(t)
		c.login("comp1@example.org", pw["comp1@example.org"])
		before := leaderboards(t, c)
		// The admin's upgrade: stack.sh up with the new image references
		// (docker-compose up -d recreates the API and the worker at once).
		up := *s
		up.t = t
		up.env = append(append([]string(nil), s.env...), "MEDFORGE_STACK_IMAGES="+newEnv)
		start := time.Now()
		up.must(30*time.Minute, "up")
		s.figure("upgrade to a newer image (API and worker recreated together, 2 migrations) to healthy: %s", time.Since(start).Round(time.Second))
		logs := s.must(time.Minute, "compose", "logs", "--no-color", "medforge-api", "medforge-api-worker")
		if n := strings.Count(logs, `"migrations applied"`); n != 1 {
			t.Fatalf("the newer image's migrations were applied %d times by the API and the worker together, want 1:\n%s", n, tail(logs, 30))
		}
		runs := strings.TrimSpace(s.must(time.Minute, "compose", "exec", "-T", "medforge-db", "mariadb", "-N", "medforge", "-e",
			"SELECT CONCAT(SUM(step = 'create'), ',', SUM(step = 'alter')) FROM upgrade_probe"))
		if runs != "1,1" {
			t.Fatalf("test migrations ran (create,alter) = %q times, want 1,1", runs)
		}
		for _, svc := range []string{"medforge-api", "medforge-api-worker"} {
			id := strings.TrimSpace(s.must(time.Minute, "compose", "ps", "-q", svc))
			if got, _ := docker(t, "inspect", "-f", "{{.Config.Image}}", id); got != newer {
				t.Fatalf("%s runs %q after the upgrade", svc, got)
			}
		}
		if got := leaderboards(t, c); !sameBoards(got, before) {
			t.Fatalf("leaderboards changed across the upgrade:\n%s\nwas\n%s", got, before)
		}
		checkRestarts(t, s)
	})
}

func leaderboards(t *testing.T, c *client) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, slug := range competitionSlugs {
		var raw json.RawMessage
		c.data("GET", "/api/v2/competitions/"+slug+"/leaderboard", nil, 200, &raw)
		out[slug] = raw
	}
	return out
}

// sameBoards compares the boards' data byte for byte (the envelope's meta
// carries a request id and is left out).
func sameBoards(a, b map[string]json.RawMessage) bool {
	for k := range b {
		if !bytes.Equal(a[k], b[k]) {
			return false
		}
	}
	return len(a) == len(b)
}

func waitSession(t *testing.T, c *client, id int64, status string) session {
	t.Helper()
	var got session
	eventually(t, 3*time.Minute, "session "+status, func() bool {
		var list []session
		c.data("GET", "/api/v2/sessions", nil, 200, &list)
		for _, x := range list {
			if x.ID == id {
				got = x
			}
		}
		if got.Status == "error" {
			t.Fatalf("session %d failed: %+v", id, got)
		}
		return got.Status == status
	})
	return got
}

// checkRestarts: no service was restarted by its restart policy.
func checkRestarts(t *testing.T, s *stack) {
	t.Helper()
	ids := strings.Fields(s.must(time.Minute, "compose", "ps", "-q"))
	if len(ids) != 4 {
		t.Fatalf("want 4 service containers, got %v", ids)
	}
	for _, id := range ids {
		out, err := docker(t, "inspect", "-f", "{{.Name}} {{.RestartCount}} {{.State.Status}}", id)
		if err != nil || !strings.HasSuffix(out, " 0 running") {
			t.Errorf("service %s (%v)", out, err)
		}
	}
}

func mustRename(t *testing.T, a, b string) {
	t.Helper()
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
}
