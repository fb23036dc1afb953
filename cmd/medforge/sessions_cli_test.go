package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/client"
	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/store/testdb"
)

// sessionsCLI is one user's medforge CLI against a served stack with the
// session runtime on.
type sessionsCLI struct {
	*cli
	uid int64
}

// sessionsUser is base with the token of user uid.
func sessionsUser(t *testing.T, base *cli, token string, uid int64) *sessionsCLI {
	return &sessionsCLI{cli: &cli{t: t, bin: base.bin, env: append(append([]string(nil), base.env...), "MEDFORGE_TOKEN="+token)}, uid: uid}
}

// list runs `sessions list --json`.
func (c *sessionsCLI) list() []client.Session {
	c.t.Helper()
	var out []client.Session
	if err := json.Unmarshal([]byte(c.ok("", "sessions", "list", "--json")), &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// waitSession polls `sessions list --json` until session id has status want.
func (c *sessionsCLI) waitSession(id int64, want string) client.Session {
	c.t.Helper()
	var last client.Session
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, s := range c.list() {
			if s.ID == id {
				last = s
				if s.Status == want {
					return s
				}
			}
		}
	}
	c.t.Fatalf("session %d: status %q (%s), want %q", id, last.Status, last.ErrorReason, want)
	return last
}

// expect runs the CLI and requires exit code code and want in the output.
func (c *sessionsCLI) expect(code int, want string, args ...string) string {
	c.t.Helper()
	out, got := c.run("", args...)
	if got != code || !strings.Contains(out, want) {
		c.t.Fatalf("medforge %s: exit %d (want %d), output lacks %q:\n%s", strings.Join(args, " "), got, code, want, out)
	}
	return out
}

// TestSessionsCLI runs every `medforge sessions` command against bin/medforge
// serving the session runtime on the real Docker engine with one declared
// GPU, for two users: create (running, then queued with its position),
// list, queue, cancel, stop, snapshots, a restore from a snapshot that
// carries a workspace file into the new session, a queued request granted
// when the other user stops, download, delete (refused while in use and for
// another user's snapshot), and usage errors, each with its documented exit
// code and output.
func TestSessionsCLI(t *testing.T) {
	t.Parallel()
	st, dsn := testdb.FreshNamed(t, false)
	base := newCLI(t, dsn)
	base.ok("", "migrate", "up")
	instance := "sessions-cli-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { stacktest.RemoveInstance(instance) })
	runDir := t.TempDir()
	base.env = append(base.env, "MEDFORGE_RUN_DIR="+runDir,
		"MEDFORGE_SESSIONS=on", "MEDFORGE_GPUS=0", "MEDFORGE_SESSION_INSTANCE="+instance,
		"MEDFORGE_SESSION_CPUS=1", "MEDFORGE_SESSION_MEMORY=256m", "MEDFORGE_SESSION_STOP_GRACE=1s",
		"MEDFORGE_SESSION_POLL_INTERVAL=500ms", "MEDFORGE_SESSION_IDLE_TIMEOUT=1h", "MEDFORGE_SESSION_MAX_LIFETIME=4h")
	url := stacktest.Serve(t, base.bin, base.env, 4*time.Minute).URL
	base.env = append(base.env, "MEDFORGE_API_URL="+url, "XDG_CONFIG_HOME="+t.TempDir(), "MEDFORGE_CONFIG=")
	ua, ub := testdb.User(t, st, testdb.UserOpts{CanUseInternal: true}), testdb.User(t, st, testdb.UserOpts{})
	a := sessionsUser(t, base, testdb.APIToken(t, st, ua.User), ua.ID)
	b := sessionsUser(t, base, testdb.APIToken(t, st, ub.User), ub.ID)

	a.expect(exitOK, "No sessions yet", "sessions", "list")
	a.expect(exitOK, "No snapshots yet", "sessions", "snapshots")
	a.expect(exitOK, "You are not on the external waitlist.", "sessions", "queue")

	// A gets the only GPU; B is queued at position 1 of 1.
	out := a.expect(exitOK, "is starting on GPU 0.", "sessions", "create")
	first := a.list()
	if len(first) != 1 || !strings.Contains(out, "Session "+strconv.FormatInt(first[0].ID, 10)+" ("+first[0].Slug+")") {
		t.Fatalf("create printed %q; list %+v", out, first)
	}
	s1 := a.waitSession(first[0].ID, "running")
	b.expect(exitOK, "Queued for a GPU: position 1 of 1 on the external waitlist; estimated start ", "sessions", "create")
	var q client.QueueEntry
	if err := json.Unmarshal([]byte(b.ok("", "sessions", "queue", "--json")), &q); err != nil {
		t.Fatal(err)
	}
	if q.Status != "queued" || q.Position != 1 || q.QueueLength != 1 || q.EstimatedStartAt == nil {
		t.Fatalf("queue --json: %+v", q)
	}
	b.expect(exitFailure, "already have a queued session request", "sessions", "create")
	b.expect(exitAuth, "internal", "sessions", "create", "--internal") // no INTERNAL entitlement
	b.expect(exitOK, "Left the external waitlist.", "sessions", "cancel")
	b.expect(exitNotFound, "no queued session request here", "sessions", "cancel")
	b.expect(exitOK, "Your request was cancelled: cancelled by the user", "sessions", "queue")

	out = a.expect(exitOK, "ID  SLUG", "sessions", "list")
	if !strings.Contains(out, s1.Slug) || !strings.Contains(out, "running") || !strings.Contains(out, "external") {
		t.Fatalf("sessions list:\n%s", out)
	}
	b.expect(exitNotFound, "no such session", "sessions", "stop", strconv.FormatInt(s1.ID, 10))               // not B's
	a.expect(exitNotFound, "no such session", "sessions", "stop", "--internal", strconv.FormatInt(s1.ID, 10)) // the other exposure

	// A file in A's workspace survives stop and restore.
	ws := filepath.Join(runDir, "workspaces", strconv.FormatInt(a.uid, 10), strconv.FormatInt(s1.ID, 10))
	if err := os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("kept across the restore\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.expect(exitOK, "is stopping", "sessions", "stop", strconv.FormatInt(s1.ID, 10))
	stopped := a.waitSession(s1.ID, "stopped")
	a.expect(exitOK, "has already ended (stopped)", "sessions", "stop", strconv.FormatInt(s1.ID, 10))
	if stopped.Snapshot == "" {
		t.Fatalf("stopped without a snapshot: %+v", stopped)
	}
	out = a.expect(exitOK, "ID  NAME", "sessions", "snapshots")
	if !strings.Contains(out, stopped.Snapshot) || !strings.Contains(out, s1.Slug) {
		t.Fatalf("snapshots:\n%s", out)
	}
	var snaps []client.Snapshot
	if err := json.Unmarshal([]byte(a.ok("", "sessions", "snapshots", "--json")), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots --json (%v): %+v", err, snaps)
	}
	snap := snaps[0]
	snapID := strconv.FormatInt(snap.ID, 10)
	b.expect(exitOK, "No snapshots yet", "sessions", "snapshots")

	var p client.Placement
	if err := json.Unmarshal([]byte(a.ok("", "sessions", "create", "--json", "--from-snapshot", snap.Name)), &p); err != nil || p.Session == nil {
		t.Fatalf("create --from-snapshot (%v): %+v", err, p)
	}
	if p.Session.FromSnapshotID != snap.ID {
		t.Fatalf("restored session's from_snapshot_id %d, want %d", p.Session.FromSnapshotID, snap.ID)
	}
	s2 := a.waitSession(p.Session.ID, "running")
	got, err := os.ReadFile(filepath.Join(runDir, "workspaces", strconv.FormatInt(a.uid, 10), strconv.FormatInt(s2.ID, 10), "notes.txt"))
	if err != nil || string(got) != "kept across the restore\n" {
		t.Fatalf("restored workspace file: %q, %v", got, err)
	}
	b.expect(exitNotFound, "no such snapshot", "sessions", "create", "--from-snapshot", snap.Name)       // not B's snapshot
	a.expect(exitFailure, "depends on this snapshot; it is kept", "sessions", "delete-snapshot", snapID) // in use by s2
	if err := json.Unmarshal([]byte(a.ok("", "sessions", "snapshots", "--json")), &snaps); err != nil || !snaps[0].InUse {
		t.Fatalf("snapshot in use not shown (%v): %+v", err, snaps)
	}

	// B queues behind the restored session and gets the GPU when A stops.
	b.expect(exitOK, "position 1 of 1", "sessions", "create")
	a.expect(exitOK, "is stopping", "sessions", "stop", strconv.FormatInt(s2.ID, 10))
	var granted client.QueueEntry
	for deadline := time.Now().Add(2 * time.Minute); granted.Status != "granted"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("B's request never granted: %+v", granted)
		}
		if err := json.Unmarshal([]byte(b.ok("", "sessions", "queue", "--json")), &granted); err != nil {
			t.Fatal(err)
		}
		if granted.Status == "cancelled" {
			t.Fatalf("B's request cancelled: %s", granted.Reason)
		}
	}
	b.expect(exitOK, "Your request got a GPU: session "+strconv.FormatInt(granted.SessionID, 10)+".", "sessions", "queue")
	sb := b.waitSession(granted.SessionID, "running")
	if sb.GPUID != 0 {
		t.Fatalf("B's session on GPU %d", sb.GPUID)
	}
	b.expect(exitFailure, "already got a GPU; stop the session instead", "sessions", "cancel")

	// Download, then delete (B cannot touch A's snapshot).
	tarball := filepath.Join(t.TempDir(), "snap.tar.gz")
	a.expect(exitOK, "Wrote "+tarball, "sessions", "download", "-o", tarball, snapID)
	if gz, err := os.ReadFile(tarball); err != nil || len(gz) < 2 || gz[0] != 0x1f || gz[1] != 0x8b {
		t.Fatalf("download is not gzip (%v): % x", err, gz[:min(len(gz), 8)])
	}
	b.expect(exitNotFound, "no such snapshot", "sessions", "delete-snapshot", snapID)
	b.expect(exitNotFound, "no such snapshot", "sessions", "download", "-o", filepath.Join(t.TempDir(), "x.tar.gz"), snapID)
	a.waitSession(s2.ID, "stopped")
	a.expect(exitOK, "Deleted snapshot "+snapID+" ("+snap.Name+").", "sessions", "delete-snapshot", snapID)
	a.expect(exitNotFound, "no such snapshot", "sessions", "delete-snapshot", snapID)
	if err := json.Unmarshal([]byte(a.ok("", "sessions", "snapshots", "--json")), &snaps); err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == snap.ID {
			t.Fatalf("deleted snapshot still listed: %+v", s)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"sessions"}, "usage:"},
		{"unknown subcommand", []string{"sessions", "frobnicate"}, "unknown sessions command"},
		{"stop without an ID", []string{"sessions", "stop"}, "want one session ID"},
		{"bad snapshot ID", []string{"sessions", "delete-snapshot", "abc"}, `snapshot ID "abc" is not a positive number`},
		{"bad flag", []string{"sessions", "list", "--frobnicate"}, "frobnicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			(&sessionsCLI{cli: &cli{t: t, bin: a.bin, env: a.env}}).expect(exitUsage, tc.want, tc.args...)
		})
	}
}
