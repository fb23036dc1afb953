-- name: CreateAuthSession :execlastid
INSERT INTO auth_sessions (user_id, token_hash, expires_at, user_agent, ip)
VALUES (sqlc.arg(user_id), sqlc.arg(token_hash), sqlc.arg(expires_at), sqlc.arg(user_agent), sqlc.arg(ip));

-- name: GetAuthSessionByHash :one
SELECT s.id AS session_id, s.expires_at, s.last_seen_at, sqlc.embed(u)
FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = sqlc.arg(token_hash);

-- name: TouchAuthSession :exec
UPDATE auth_sessions SET last_seen_at = sqlc.arg(last_seen_at) WHERE id = sqlc.arg(id);

-- name: DeleteAuthSessionByHash :execrows
DELETE FROM auth_sessions WHERE token_hash = sqlc.arg(token_hash);

-- name: DeleteAuthSessionsForUser :execrows
DELETE FROM auth_sessions WHERE user_id = sqlc.arg(user_id);

-- name: DeleteExpiredAuthSessions :execrows
DELETE FROM auth_sessions WHERE expires_at < sqlc.arg(now);

-- name: ListAuthSessionsForUser :many
SELECT * FROM auth_sessions WHERE user_id = sqlc.arg(user_id) ORDER BY id;

-- name: GetAuthSessionByID :one
SELECT s.id AS session_id, s.expires_at, s.last_seen_at, sqlc.embed(u)
FROM auth_sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = sqlc.arg(id);
