-- name: InsertSnapshot :exec
-- Records a stop snapshot once; a finalizer that repeats after a crash
-- finds the row there already.
INSERT INTO session_snapshots (session_id, user_id, exposure, name, size_bytes)
VALUES (sqlc.arg(session_id), sqlc.arg(user_id), sqlc.arg(exposure), sqlc.arg(name), sqlc.arg(size_bytes))
ON DUPLICATE KEY UPDATE id = id;

-- name: ListSnapshots :many
-- Snapshots that are not deleted, newest first, with their session's slug
-- and whether something depends on them: an active session or a queued
-- request made from them, or a workspace that is a ZFS clone of them.
-- user_id 0 lists every user's (retention); exposure '' both exposures.
SELECT ss.id, ss.session_id, ss.user_id, ss.exposure, ss.name, ss.size_bytes, ss.status, ss.created_at,
       s.slug AS session_slug,
       CAST((EXISTS (SELECT 1 FROM sessions r WHERE r.from_snapshot_id = ss.id
                       AND (r.status IN ('starting', 'running', 'stopping') OR r.workspace_clone))
             OR EXISTS (SELECT 1 FROM session_queue q WHERE q.from_snapshot_id = ss.id AND q.status = 'queued'))
            AS SIGNED) AS in_use
FROM session_snapshots ss
JOIN sessions s ON s.id = ss.session_id
WHERE ss.status = 'available'
  AND (sqlc.arg(user_id) = 0 OR ss.user_id = sqlc.arg(user_id))
  AND (sqlc.arg(exposure) = '' OR ss.exposure = sqlc.arg(exposure))
ORDER BY ss.user_id, ss.created_at DESC, ss.id DESC;

-- name: GetSnapshot :one
SELECT * FROM session_snapshots WHERE id = sqlc.arg(id);

-- name: LockSnapshotByName :one
-- A user's available snapshot by name, locked for the rest of the
-- transaction so a concurrent delete cannot claim it meanwhile.
SELECT * FROM session_snapshots
WHERE name = sqlc.arg(name) AND user_id = sqlc.arg(user_id) AND status = 'available'
FOR UPDATE;

-- name: SnapshotInUse :one
SELECT CAST((EXISTS (SELECT 1 FROM sessions r WHERE r.from_snapshot_id = sqlc.arg(id)
                       AND (r.status IN ('starting', 'running', 'stopping') OR r.workspace_clone))
             OR EXISTS (SELECT 1 FROM session_queue q WHERE q.from_snapshot_id = sqlc.arg(id) AND q.status = 'queued'))
            AS SIGNED) AS in_use;

-- name: ClaimSnapshotDelete :execrows
-- Claims an available snapshot for deletion (by its owner or retention);
-- the provider's destroy runs after the commit.
UPDATE session_snapshots SET status = 'deleting', delete_reason = sqlc.arg(delete_reason)
WHERE id = sqlc.arg(id) AND status = 'available';

-- name: FinishSnapshotDelete :execrows
UPDATE session_snapshots SET status = 'deleted', deleted_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'deleting';

-- name: ReleaseSnapshotDelete :execrows
-- The provider refused the destroy (something depends on the snapshot):
-- it is available again.
UPDATE session_snapshots SET status = 'available', delete_reason = ''
WHERE id = sqlc.arg(id) AND status = 'deleting';

-- name: ListDeletingSnapshots :many
-- Deletes claimed by a process that died before the destroy finished.
SELECT * FROM session_snapshots WHERE status = 'deleting' ORDER BY id;
