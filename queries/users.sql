-- name: CreateUser :execlastid
INSERT INTO users (email, password_hash, role, can_use_internal, can_author, max_concurrent_sessions, display_name)
VALUES (sqlc.arg(email), sqlc.arg(password_hash), sqlc.arg(role), sqlc.arg(can_use_internal), sqlc.arg(can_author),
        sqlc.arg(max_concurrent_sessions), sqlc.arg(display_name));

-- name: GetUser :one
SELECT * FROM users WHERE id = sqlc.arg(id);

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = sqlc.arg(email);

-- name: LockUser :one
-- Takes the row lock on a user for the rest of the transaction (per-user
-- invariants such as the session concurrency limit serialize on it).
SELECT * FROM users WHERE id = sqlc.arg(id) FOR UPDATE;

-- name: ListUsers :many
SELECT * FROM users WHERE id > sqlc.arg(after_id) ORDER BY id LIMIT ?;

-- name: CountAdmins :one
SELECT COUNT(*) FROM users WHERE role = 'admin';

-- name: UpdateUserAccess :execrows
UPDATE users
SET role = sqlc.arg(role), can_use_internal = sqlc.arg(can_use_internal), can_author = sqlc.arg(can_author),
    max_concurrent_sessions = sqlc.arg(max_concurrent_sessions)
WHERE id = sqlc.arg(id);

-- name: UpdateUserPassword :execrows
UPDATE users SET password_hash = sqlc.arg(password_hash) WHERE id = sqlc.arg(id);

-- name: UpdateUserDisplayName :execrows
UPDATE users SET display_name = sqlc.arg(display_name) WHERE id = sqlc.arg(id);

-- name: ListUsersUpdatedSince :many
-- Feeds the in-memory auth cache invalidation: users whose role or
-- entitlements may have changed in another process (medforge user set).
SELECT id, updated_at FROM users WHERE updated_at >= sqlc.arg(since) ORDER BY updated_at;
