-- name: LockScheduler :one
-- Serializes GPU allocation decisions (see session_scheduler). Take it
-- first in a transaction, before any user, GPU, session or queue lock.
SELECT id FROM session_scheduler WHERE id = 1 FOR UPDATE;

-- name: InsertQueueEntry :execlastid
INSERT INTO session_queue (user_id, exposure, pack, image, from_snapshot_id)
VALUES (sqlc.arg(user_id), sqlc.arg(exposure), sqlc.arg(pack), sqlc.arg(image), sqlc.narg(from_snapshot_id));

-- name: RequeueEntry :execlastid
-- Queues a request again (a session whose Pod could not be placed), with
-- its original arrival time so it keeps its place among equal shares.
INSERT INTO session_queue (user_id, exposure, pack, image, from_snapshot_id, created_at)
VALUES (sqlc.arg(user_id), sqlc.arg(exposure), sqlc.arg(pack), sqlc.arg(image), sqlc.narg(from_snapshot_id), sqlc.arg(created_at));

-- name: GetQueueEntry :one
SELECT * FROM session_queue WHERE id = sqlc.arg(id);

-- name: GetQueuedEntryByUser :one
-- The user's queued request on an exposure (at most one: a unique key).
SELECT * FROM session_queue WHERE queued_user_id = sqlc.arg(user_id) AND exposure = sqlc.arg(exposure);

-- name: LatestQueueEntryByUser :one
-- The user's newest request on an exposure, whatever its status.
SELECT * FROM session_queue
WHERE user_id = sqlc.arg(user_id) AND exposure = sqlc.arg(exposure)
ORDER BY id DESC
LIMIT 1;

-- name: CountQueued :one
SELECT COUNT(*) FROM session_queue WHERE status = 'queued';

-- name: ListQueuedFair :many
-- Every queued request of both exposures, each exposure's queue in
-- fair-share order (the hand-off merges the two; sessions/queue.go): fewer GPU-seconds held in the
-- last 24 h first (a session holds its GPU from creation to its end), then
-- earlier arrival.
SELECT q.id, q.user_id, q.exposure, q.pack, q.image, q.from_snapshot_id, q.created_at,
       CAST(COALESCE((SELECT SUM(TIMESTAMPDIFF(MICROSECOND,
                                 GREATEST(s.created_at, CURRENT_TIMESTAMP(6) - INTERVAL 1 DAY),
                                 COALESCE(s.ended_at, CURRENT_TIMESTAMP(6))))
                      FROM sessions s
                      WHERE s.user_id = q.user_id
                        AND (s.ended_at IS NULL OR s.ended_at > CURRENT_TIMESTAMP(6) - INTERVAL 1 DAY)), 0)
            AS SIGNED) AS gpu_us
FROM session_queue q
WHERE q.status = 'queued'
ORDER BY gpu_us, q.created_at, q.id;

-- name: GrantQueueEntry :execrows
UPDATE session_queue SET status = 'granted', session_id = sqlc.arg(session_id), decided_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'queued';

-- name: CancelQueueEntry :execrows
UPDATE session_queue SET status = 'cancelled', reason = sqlc.arg(reason), decided_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'queued';

-- name: GPUSecondsByUser :many
-- GPU time held per user in the last 24 h (admins' view of fair share).
SELECT s.user_id, u.email,
       CAST(SUM(TIMESTAMPDIFF(MICROSECOND,
                GREATEST(s.created_at, CURRENT_TIMESTAMP(6) - INTERVAL 1 DAY),
                COALESCE(s.ended_at, CURRENT_TIMESTAMP(6)))) AS SIGNED) AS gpu_us
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.ended_at IS NULL OR s.ended_at > CURRENT_TIMESTAMP(6) - INTERVAL 1 DAY
GROUP BY s.user_id, u.email
ORDER BY gpu_us DESC, s.user_id;
