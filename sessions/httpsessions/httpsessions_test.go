package httpsessions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/httpapi"
	"github.com/medforge/medforge/httpapi/apitest"
	"github.com/medforge/medforge/internal/stacktest"
	"github.com/medforge/medforge/sessions"
	"github.com/medforge/medforge/sessions/dockerrt"
	"github.com/medforge/medforge/sessions/gpu"
	"github.com/medforge/medforge/sessions/httpsessions"
	"github.com/medforge/medforge/sessions/standin"
	"github.com/medforge/medforge/sessions/workspace"
	"github.com/medforge/medforge/store/testdb"
)

// The HTTP contract end to end on the real engine: create (201), current,
// per-user limit (409), INTERNAL entitlement (403), stop (202, twice),
// history with the snapshot name, admin GPU list/disable/enable, and the
// recovery check on /healthz.
func TestSessionEndpoints(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	require.NoError(t, err)
	defer cli.Close()
	image, err := standin.Build(ctx, cli, "")
	require.NoError(t, err)

	st := testdb.Fresh(t)
	root := t.TempDir()
	ws, err := workspace.NewDirectory(filepath.Join(root, "workspaces"))
	require.NoError(t, err)
	rt, err := dockerrt.New(dockerrt.Options{ForbiddenDir: filepath.Join(root, "holdouts")})
	require.NoError(t, err)
	defer rt.Close()
	gp, err := gpu.ParseDeclared("0,1")
	require.NoError(t, err)
	instance := "http-test-" + time.Now().Format("150405.000")
	t.Cleanup(func() {
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", sessions.LabelInstance+"="+instance))})
		for _, c := range list {
			_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})
	svc, err := sessions.New(sessions.Config{
		Instance: instance, Packs: map[string]string{"default": image}, TestHoldoutsDir: filepath.Join(root, "holdouts"),
		PollInterval: 200 * time.Millisecond, StopGrace: time.Second,
	}, st, gp, ws, rt, nil)
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(svc.Close)
	env := apitest.New(t, apitest.Options{Store: st, Mount: func(s *httpapi.Server) { require.NoError(t, httpsessions.Mount(s, svc)) }})

	user := testdb.User(t, st, testdb.UserOpts{})
	admin := testdb.User(t, st, testdb.UserOpts{Admin: true})
	tok := apitest.Bearer(testdb.APIToken(t, st, user.User))
	adm := apitest.Bearer(testdb.APIToken(t, st, admin.User))

	var none any
	env.Do(t, "GET", "/api/v2/external/sessions/current", nil, tok).Data(t, http.StatusOK, &none)
	assert.Nil(t, none)
	env.Do(t, "GET", "/api/v2/external/sessions/current", nil).Problem(t, http.StatusUnauthorized, "")

	var created sessions.Session
	env.Do(t, "POST", "/api/v2/external/sessions", nil, tok).Data(t, http.StatusCreated, &created)
	assert.Equal(t, sessions.StatusStarting, created.Status)
	assert.NotEmpty(t, created.Slug)
	assert.NotZero(t, created.ID)

	env.Do(t, "POST", "/api/v2/external/sessions", nil, tok).Problem(t, http.StatusConflict, "session_limit")
	env.Do(t, "POST", "/api/v2/internal/sessions", nil, tok).Problem(t, http.StatusForbidden, "")
	env.Do(t, "POST", "/api/v2/external/sessions", `{"pack":"nope"}`, apitest.Bearer(testdb.APIToken(t, st, testdb.User(t, st, testdb.UserOpts{}).User))).
		Problem(t, http.StatusUnprocessableEntity, "validation_failed")

	require.Eventually(t, func() bool {
		var cur sessions.Session
		env.Do(t, "GET", "/api/v2/external/sessions/current", nil, tok).Data(t, http.StatusOK, &cur)
		return cur.Status == sessions.StatusRunning
	}, time.Minute, 100*time.Millisecond)

	var gpus []sessions.GPUState
	env.Do(t, "GET", "/api/v2/admin/gpus", nil, adm).Data(t, http.StatusOK, &gpus)
	require.Len(t, gpus, 2)
	require.NotNil(t, gpus[0].Holder)
	assert.Equal(t, created.ID, gpus[0].Holder.SessionID)
	assert.Equal(t, "declared", gpus[0].Provider)
	env.Do(t, "GET", "/api/v2/admin/gpus", nil, tok).Problem(t, http.StatusForbidden, "")
	var g sessions.GPUState
	env.Do(t, "POST", "/api/v2/admin/gpus/1/disable", `{"reason":"fan noise"}`, adm).Data(t, http.StatusOK, &g)
	assert.False(t, g.Enabled)
	assert.Equal(t, "fan noise", g.DisabledReason)
	other := apitest.Bearer(testdb.APIToken(t, st, testdb.User(t, st, testdb.UserOpts{}).User))
	// No GPU free: 202 queued with a position, visible and cancellable.
	var q sessions.QueueEntry
	env.Do(t, "POST", "/api/v2/external/sessions", nil, other).Data(t, http.StatusAccepted, &q)
	assert.Equal(t, sessions.QueueQueued, q.Status)
	assert.Equal(t, 1, q.Position)
	assert.Nil(t, q.EstimatedStartAt)
	assert.Contains(t, q.EstimateUnknown, "no idle timeout or maximum lifetime", "the estimate says when it is unknown")
	env.Do(t, "POST", "/api/v2/external/sessions", nil, other).Problem(t, http.StatusConflict, "already_queued")
	var mine sessions.QueueEntry
	env.Do(t, "GET", "/api/v2/external/sessions/queue", nil, other).Data(t, http.StatusOK, &mine)
	assert.Equal(t, q.ID, mine.ID)
	var aq httpsessions.AdminQueue
	env.Do(t, "GET", "/api/v2/admin/sessions/queue", nil, adm).Data(t, http.StatusOK, &aq)
	require.Len(t, aq.Queue, 1)
	env.Do(t, "GET", "/api/v2/admin/sessions/queue", nil, tok).Problem(t, http.StatusForbidden, "")
	env.Do(t, "DELETE", "/api/v2/external/sessions/queue", nil, other).Data(t, http.StatusOK, &mine)
	assert.Equal(t, sessions.QueueCancelled, mine.Status)
	env.Do(t, "DELETE", "/api/v2/external/sessions/queue", nil, other).Problem(t, http.StatusNotFound, "not_queued")
	env.Do(t, "POST", "/api/v2/admin/gpus/1/enable", nil, adm).Data(t, http.StatusOK, &g)
	assert.True(t, g.Enabled)
	env.Do(t, "POST", "/api/v2/admin/gpus/9/enable", nil, adm).Problem(t, http.StatusNotFound, "gpu_not_found")

	stopPath := "/api/v2/external/sessions/" + itoa(created.ID) + "/stop"
	env.Do(t, "POST", stopPath, nil, other).Problem(t, http.StatusNotFound, "session_not_found")
	env.Do(t, "POST", "/api/v2/internal/sessions/"+itoa(created.ID)+"/stop", nil, tok).Problem(t, http.StatusForbidden, "")
	var stopping sessions.Session
	env.Do(t, "POST", stopPath, nil, tok).Data(t, http.StatusAccepted, &stopping)
	assert.Contains(t, []sessions.Status{sessions.StatusStopping, sessions.StatusStopped}, stopping.Status)
	require.Eventually(t, func() bool {
		var s sessions.Session
		env.Do(t, "POST", stopPath, nil, tok).Data(t, http.StatusAccepted, &s) // idempotent
		return s.Status == sessions.StatusStopped
	}, time.Minute, 100*time.Millisecond)

	var audited []string
	rows, err := st.DB().QueryContext(ctx, "SELECT action FROM audit_events WHERE target_type IN ('session', 'gpu') ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var a string
		require.NoError(t, rows.Scan(&a))
		audited = append(audited, a)
	}
	require.NoError(t, rows.Close())
	assert.Equal(t, []string{"session.create", "gpu.disable", "gpu.enable", "session.stop"}, audited, "one audit event per action, none for repeated stops")

	var past []sessions.Session
	env.Do(t, "GET", "/api/v2/sessions", nil, tok).Data(t, http.StatusOK, &past)
	require.Len(t, past, 1)
	assert.Contains(t, past[0].Snapshot, "@stop-")

	// Snapshots: listed for the owner only; another user's restore,
	// download and delete are 404; the download is a gzip stream.
	var snaps []sessions.Snapshot
	env.Do(t, "GET", "/api/v2/external/snapshots", nil, tok).Data(t, http.StatusOK, &snaps)
	require.Len(t, snaps, 1)
	assert.Equal(t, past[0].Snapshot, snaps[0].Name)
	env.Do(t, "GET", "/api/v2/external/snapshots", nil, other).Data(t, http.StatusOK, &snaps)
	assert.Empty(t, snaps)
	env.Do(t, "GET", "/api/v2/external/snapshots", nil, tok).Data(t, http.StatusOK, &snaps)
	snapPath := "/api/v2/external/snapshots/" + itoa(snaps[0].ID)
	body := `{"from_snapshot":` + strconv.Quote(snaps[0].Name) + `}`
	env.Do(t, "POST", "/api/v2/external/sessions", body, other).Problem(t, http.StatusNotFound, "snapshot_not_found")
	env.Do(t, "GET", snapPath+"/download", nil, other).Problem(t, http.StatusNotFound, "snapshot_not_found")
	env.Do(t, "DELETE", snapPath, nil, other).Problem(t, http.StatusNotFound, "snapshot_not_found")
	env.Do(t, "GET", "/api/v2/external/snapshots/abc/download", nil, tok).Problem(t, http.StatusNotFound, "snapshot_not_found")
	dl := env.Do(t, "GET", snapPath+"/download", nil, tok)
	require.Equal(t, http.StatusOK, dl.Status, string(dl.Body))
	assert.Equal(t, "application/gzip", dl.Header.Get("Content-Type"))
	assert.Contains(t, dl.Header.Get("Content-Disposition"), ".tar.gz")
	require.GreaterOrEqual(t, len(dl.Body), 2)
	assert.Equal(t, []byte{0x1f, 0x8b}, dl.Body[:2], "gzip magic")
	var restored sessions.Session
	env.Do(t, "POST", "/api/v2/external/sessions", body, tok).Data(t, http.StatusCreated, &restored)
	assert.Equal(t, snaps[0].ID, restored.FromSnapshotID)
	env.Do(t, "DELETE", snapPath, nil, tok).Problem(t, http.StatusConflict, "snapshot_in_use")

	doc := env.Do(t, "GET", "/api/v2/openapi.json", nil)
	require.Equal(t, http.StatusOK, doc.Status)
	for _, p := range []string{"/api/v2/external/sessions/current", "/api/v2/internal/sessions", "/api/v2/external/sessions/{id}/stop",
		"/api/v2/sessions", "/api/v2/admin/gpus", "/api/v2/admin/gpus/{id}/disable", "/api/v2/external/snapshots",
		"/api/v2/external/snapshots/{id}/download", "/api/v2/external/sessions/queue", "/api/v2/admin/sessions/queue"} {
		assert.Contains(t, string(doc.Body), `"`+p+`"`, "OpenAPI documents %s", p)
	}

	metrics := env.Do(t, "GET", "/metrics", nil)
	assert.Contains(t, string(metrics.Body), `medforge_sessions_created_total{exposure="external"} 2`, "the first session and the restored one")
	assert.Contains(t, string(metrics.Body), `medforge_session_queue_joined_total 1`)
	assert.Contains(t, string(metrics.Body), `medforge_sessions_refused_total{reason="limit"} 1`)
	assert.Contains(t, string(metrics.Body), `medforge_sessions_stopped_total{reason="user"} 1`)

	resp := env.Do(t, "GET", "/healthz", nil)
	assert.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	var health map[string]any
	require.NoError(t, json.Unmarshal(resp.Body, &health))
	assert.Contains(t, string(resp.Body), httpsessions.HealthName)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// /healthz follows the Docker engine: the runtime talks to it through a
// socket the test can cut; /healthz is 503 degraded, naming session
// recovery, while the engine does not answer, and 200 again once it does,
// without a restart.
func TestHealthzFollowsDocker(t *testing.T) {
	st := testdb.Fresh(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	p := &stacktest.SockProxy{Path: sock, Target: "/var/run/docker.sock"}
	require.NoError(t, p.Up())
	t.Cleanup(p.Down)
	rt, err := dockerrt.New(dockerrt.Options{Host: "unix://" + sock, CallTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer rt.Close()
	ws, err := workspace.NewDirectory(t.TempDir())
	require.NoError(t, err)
	gp, _ := gpu.ParseDeclared("none")
	svc, err := sessions.New(sessions.Config{Instance: "healthz-" + strconv.Itoa(os.Getpid()), Packs: map[string]string{"default": "x"},
		PollInterval: 100 * time.Millisecond, BackoffMax: time.Second}, st, gp, ws, rt, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, svc.Start(ctx))
	t.Cleanup(svc.Close)
	env := apitest.New(t, apitest.Options{Store: st, Mount: func(s *httpapi.Server) { require.NoError(t, httpsessions.Mount(s, svc)) }})
	assert.Equal(t, http.StatusOK, env.Do(t, "GET", "/healthz", nil).Status)

	p.Down()
	resp := env.Do(t, "GET", "/healthz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.Status)
	assert.Contains(t, string(resp.Body), "degraded")
	assert.Contains(t, string(resp.Body), httpsessions.HealthName)

	require.NoError(t, p.Up())
	require.Eventually(t, func() bool { return env.Do(t, "GET", "/healthz", nil).Status == http.StatusOK },
		30*time.Second, 100*time.Millisecond, "healthy again once Docker answers")
}
