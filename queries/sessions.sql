-- name: CountActiveSessionsByUser :one
SELECT COUNT(*) FROM sessions
WHERE user_id = sqlc.arg(user_id) AND status IN ('starting', 'running', 'stopping');

-- name: PickFreeGPU :one
-- Locks the lowest enabled, present GPU that no active session holds and
-- that is not held back (held_until, see RequeueStartingSession).
-- SKIP LOCKED lets concurrent allocations take different GPUs instead of
-- queueing on the same one; the unique index on active_gpu_id is the backstop.
SELECT id, uuid FROM gpu_devices g
WHERE g.enabled AND g.present
  AND (g.held_until IS NULL OR g.held_until <= CURRENT_TIMESTAMP(6))
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.active_gpu_id = g.id)
ORDER BY g.id
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: InsertSession :execlastid
INSERT INTO sessions (slug, user_id, exposure, pack, image, gpu_id, status, workspace, from_snapshot_id)
VALUES (sqlc.arg(slug), sqlc.arg(user_id), sqlc.arg(exposure), sqlc.arg(pack), sqlc.arg(image),
        sqlc.arg(gpu_id), 'starting', sqlc.arg(workspace), sqlc.narg(from_snapshot_id));

-- name: GetSession :one
SELECT * FROM sessions WHERE id = sqlc.arg(id);

-- name: GetSessionBySlug :one
SELECT * FROM sessions WHERE slug = sqlc.arg(slug);

-- name: GetCurrentSession :one
-- The user's newest active session on one exposure.
SELECT * FROM sessions
WHERE user_id = sqlc.arg(user_id) AND exposure = sqlc.arg(exposure)
  AND status IN ('starting', 'running', 'stopping')
ORDER BY id DESC
LIMIT 1;

-- name: ListSessionsByUser :many
-- A user's sessions, newest first, terminal ones included (with their
-- snapshot names).
SELECT * FROM sessions
WHERE user_id = sqlc.arg(user_id) AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;

-- name: ListActiveSessions :many
SELECT * FROM sessions
WHERE status IN ('starting', 'running', 'stopping')
ORDER BY id;

-- name: SetSessionContainer :execrows
UPDATE sessions SET container_id = sqlc.arg(container_id)
WHERE id = sqlc.arg(id) AND status = 'starting';

-- name: MarkSessionRunning :execrows
UPDATE sessions SET status = 'running', started_at = CURRENT_TIMESTAMP(6),
    last_activity_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'starting';

-- name: RequestSessionStop :execrows
-- Records the intent to stop; recovery finalizes it. A session already
-- stopping keeps its first reason.
UPDATE sessions SET status = 'stopping', stop_reason = sqlc.arg(stop_reason),
    stop_requested_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status IN ('starting', 'running');

-- name: RecordSessionSnapshot :execrows
-- Claims the stop snapshot's name before the snapshot is taken, once: a
-- finalizer that restarts finds the name here and reuses it.
UPDATE sessions SET snapshot = sqlc.arg(snapshot)
WHERE id = sqlc.arg(id) AND status = 'stopping' AND snapshot = '';

-- name: FinishSessionStop :execrows
UPDATE sessions SET status = 'stopped', ended_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'stopping';

-- name: FailSession :execrows
UPDATE sessions SET status = 'error', error_reason = sqlc.arg(error_reason),
    ended_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status IN ('starting', 'running', 'stopping');

-- name: TouchSessionActivity :execrows
-- Records a routed request (the session-proxy endpoint calls it); idle
-- culling measures from here.
UPDATE sessions SET last_activity_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'running';

-- name: SetSessionWorkspace :execrows
UPDATE sessions SET workspace = sqlc.arg(workspace)
WHERE id = sqlc.arg(id) AND status IN ('starting', 'stopping');

-- name: FailStartingSession :execrows
-- A failed start; a session whose stop was requested meanwhile is left to
-- the stop finalization.
UPDATE sessions SET status = 'error', error_reason = sqlc.arg(error_reason),
    ended_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'starting';

-- name: RequeueStartingSession :execrows
-- A starting session whose Pod the scheduler could not place goes back to
-- the waitlist: the row ends (stopped, stop_reason requeued, the reason
-- kept, no snapshot: the workspace was never used), freeing its GPU, in the
-- transaction that queues the request again. A stop requested meanwhile
-- is left to the stop finalization.
UPDATE sessions SET status = 'stopped', stop_reason = 'requeued', error_reason = sqlc.arg(reason),
    ended_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'starting';

-- name: SessionClock :one
-- The database's clock, against which session ages (start timeout, idle
-- and lifetime limits) are measured, so they never depend on the API
-- host's clock or time zone.
SELECT CAST(CURRENT_TIMESTAMP(6) AS DATETIME(6)) AS now;

-- name: MarkSessionWorkspaceClone :execrows
-- The workspace was made as a ZFS clone of from_snapshot_id, which must
-- then outlive it.
UPDATE sessions SET workspace_clone = TRUE WHERE id = sqlc.arg(id);

-- name: MarkSessionGPUBusy :execrows
-- A recovery pass saw the session's GPU above the utilisation threshold.
UPDATE sessions SET last_gpu_busy_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'running';

-- name: ExtendSession :execrows
-- The one extension of a running session's idle and lifetime limits.
UPDATE sessions SET extended_at = CURRENT_TIMESTAMP(6), extension_s = sqlc.arg(extension_s),
    last_activity_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'running' AND extended_at IS NULL;

-- name: ListUnentitledInternalSessions :many
-- Active INTERNAL sessions whose user no longer has can_use_internal.
SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.exposure = 'internal' AND s.status IN ('starting', 'running') AND u.can_use_internal = FALSE;
