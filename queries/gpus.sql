-- name: MarkGPUAbsent :execrows
-- A GPU the provider no longer reports (an incremental sync touches only
-- the rows that change, so allocations running alongside never find the
-- other rows locked).
UPDATE gpu_devices SET present = FALSE WHERE id = sqlc.arg(id) AND present;

-- name: ListGPUs :many
-- Every GPU row, a plain consistent read (no locks).
SELECT * FROM gpu_devices ORDER BY id;

-- name: UpsertGPU :exec
-- A GPU keeps its enabled flag and reason across syncs, unless the device
-- at that index is a different one (another UUID): new hardware starts
-- enabled. uuid is assigned last because MariaDB evaluates the assignments
-- in order.
INSERT INTO gpu_devices (id, uuid, name, memory_bytes, provider, present)
VALUES (sqlc.arg(id), sqlc.arg(uuid), sqlc.arg(name), sqlc.arg(memory_bytes), sqlc.arg(provider), TRUE)
ON DUPLICATE KEY UPDATE
    enabled = IF(uuid <> VALUES(uuid), TRUE, enabled),
    disabled_reason = IF(uuid <> VALUES(uuid), '', disabled_reason),
    name = VALUES(name), memory_bytes = VALUES(memory_bytes), provider = VALUES(provider), present = TRUE,
    uuid = VALUES(uuid);

-- name: GetGPU :one
SELECT * FROM gpu_devices WHERE id = sqlc.arg(id);

-- name: ListGPUsWithHolder :many
-- Every GPU with the active session holding it, if any.
SELECT g.id, g.uuid, g.name, g.memory_bytes, g.provider, g.present, g.enabled, g.disabled_reason,
       g.held_until, g.held_reason,
       s.id AS session_id, s.slug AS session_slug, s.user_id AS holder_user_id, s.status AS session_status
FROM gpu_devices g
LEFT JOIN sessions s ON s.active_gpu_id = g.id
ORDER BY g.id;

-- name: SetGPUEnabled :execrows
UPDATE gpu_devices SET enabled = sqlc.arg(enabled), disabled_reason = sqlc.arg(disabled_reason)
WHERE id = sqlc.arg(id);

-- name: HoldGPU :execrows
-- Holds a GPU back from allocation for hold_us microseconds from now (the
-- scheduler could not place a session's Pod on its node).
UPDATE gpu_devices SET held_until = CURRENT_TIMESTAMP(6) + INTERVAL sqlc.arg(hold_us) MICROSECOND,
    held_reason = sqlc.arg(held_reason)
WHERE id = sqlc.arg(id);
