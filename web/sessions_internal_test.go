package web

import (
	"bytes"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/medforge/medforge/identity"
	"github.com/medforge/medforge/sessions"
)

// The sessions page renders the waitlist card (position, estimate or why
// there is none, leave button), a running session's deadlines, warning and
// extend button, and the snapshot table (start from it, download for
// EXTERNAL only, delete unless in use, when retention prunes it).
func TestSessionsPageRendersQueueAndSnapshots(t *testing.T) {
	ui := &UI{pages: map[string]*template.Template{}}
	if err := ui.parse(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	idle, prune := now.Add(5*time.Minute), now.Add(72*time.Hour)
	run := sessions.Session{ID: 7, Slug: "abcdefghij", Exposure: sessions.External, Status: sessions.StatusRunning, CreatedAt: now,
		Deadlines: sessions.Deadlines{Idle: &idle}, Warning: "idle: this session will be stopped soon", CanExtend: true}
	d := sessionsData{
		Available: true, Internal: true, Pending: true,
		Current: []sessionView{{Session: run, IDE: "http://s-abcdefghij.external.medforge.localhost/"}},
		Queued: []sessions.QueueEntry{{ID: 3, Exposure: sessions.Internal, Status: sessions.QueueQueued, Position: 2, QueueLength: 3,
			EstimateUnknown: "the sessions holding the GPUs have no idle timeout or maximum lifetime"}},
		Snapshots: []sessions.Snapshot{
			{ID: 11, Name: "/w/1/5@stop-1", SessionSlug: "zzzzzzzzzz", Exposure: sessions.External, SizeBytes: 2048, CreatedAt: now, PruneAt: &prune, PruneReason: "max_age"},
			{ID: 12, Name: "/w/1/6@stop-2", SessionSlug: "yyyyyyyyyy", Exposure: sessions.Internal, CreatedAt: now, InUse: true, KeptBecause: "in use"},
		},
	}
	var buf bytes.Buffer
	v := &view{Title: "GPU sessions", Nav: "sessions", User: &identity.User{DisplayName: "Ada"}, Data: d}
	if err := ui.pages["sessions"].ExecuteTemplate(&buf, "layout", v); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{
		`id="queued-internal" data-position="2"`, "number <span class=\"queue-position\">2</span></strong> of 3", "No estimate: the sessions holding",
		`data-api="/api/v2/internal/sessions/queue" data-method="DELETE"`,
		`id="warning-abcdefghij"`, `/api/v2/external/sessions/7/extend`, "Stopped when idle after 2026-12-01 10:05 UTC",
		`name="from_snapshot" value="/w/1/5@stop-1"`, `href="/api/v2/external/snapshots/11/download"`, "2026-12-04 10:00 UTC (max_age)",
		`data-api="/api/v2/external/snapshots/11" data-method="DELETE"`, "kept (in use)",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, never := range []string{`/api/v2/internal/snapshots/12/download`, `data-api="/api/v2/internal/snapshots/12"`} {
		if strings.Contains(html, never) {
			t.Errorf("the page must not offer %s (internal download / deleting a snapshot in use)", never)
		}
	}
}

// Admins see the waitlist in hand-off order and GPU-hours per user.
func TestAdminGPUsPageRendersQueue(t *testing.T) {
	ui := &UI{pages: map[string]*template.Template{}}
	if err := ui.parse(); err != nil {
		t.Fatal(err)
	}
	d := gpusData{Available: true}
	d.Queue.Queue = []sessions.QueueEntry{{ID: 41, UserID: 5, Exposure: sessions.External, Position: 1, QueueLength: 1, GPUHours24h: 0.5}}
	d.Queue.GPUHours = []sessions.UserGPUHours{{UserID: 5, Email: "ada@example.org", GPUHours: 3.25}}
	var buf bytes.Buffer
	v := &view{Title: "GPUs", Nav: "admin", User: &identity.User{DisplayName: "Root", Role: identity.RoleAdmin}, Data: d}
	if err := ui.pages["admin_gpus"].ExecuteTemplate(&buf, "layout", v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="gpu-queue"`, "<td>41</td><td>5</td>", "1 of 1", "0.50", "ada@example.org", "3.25"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the admin GPUs page lacks %s", want)
		}
	}
}
