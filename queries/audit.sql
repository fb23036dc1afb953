-- name: InsertAuditEvent :exec
INSERT INTO audit_events (actor_user_id, action, target_type, target_id, request_id, ip, detail)
VALUES (sqlc.narg(actor_user_id), sqlc.arg(action), sqlc.arg(target_type), sqlc.arg(target_id),
        sqlc.arg(request_id), sqlc.arg(ip), sqlc.arg(detail));

-- name: ListAuditEvents :many
SELECT * FROM audit_events WHERE id > sqlc.arg(after_id) ORDER BY id LIMIT ?;

-- name: ListAuditEventsByAction :many
SELECT * FROM audit_events WHERE action = sqlc.arg(action) ORDER BY id;
