-- name: CreateAPIToken :execlastid
INSERT INTO api_tokens (user_id, name, token_hash, expires_at)
VALUES (sqlc.arg(user_id), sqlc.arg(name), sqlc.arg(token_hash), sqlc.narg(expires_at));

-- name: GetAPITokenByHash :one
SELECT t.id AS token_id, t.expires_at, t.last_used_at, sqlc.embed(u)
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = sqlc.arg(token_hash);

-- name: GetAPIToken :one
SELECT id, user_id, name, created_at, expires_at, last_used_at
FROM api_tokens WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: ListAPITokens :many
SELECT id, user_id, name, created_at, expires_at, last_used_at
FROM api_tokens WHERE user_id = sqlc.arg(user_id) ORDER BY id;

-- name: TouchAPIToken :exec
UPDATE api_tokens SET last_used_at = sqlc.arg(last_used_at) WHERE id = sqlc.arg(id);

-- name: DeleteAPIToken :execrows
DELETE FROM api_tokens WHERE id = sqlc.arg(id) AND user_id = sqlc.arg(user_id);

-- name: DeleteAPITokensForUser :execrows
-- A password reset revokes every personal API token of the account.
DELETE FROM api_tokens WHERE user_id = sqlc.arg(user_id);
