-- name: InsertScorerModule :execlastid
INSERT INTO scorer_modules (digest, name, version, abi_version, size_bytes, path, uploaded_by, validation_report)
VALUES (sqlc.arg(digest), sqlc.arg(name), sqlc.arg(version), sqlc.arg(abi_version), sqlc.arg(size_bytes),
        sqlc.arg(path), sqlc.narg(uploaded_by), sqlc.arg(validation_report));

-- name: GetScorerModule :one
SELECT * FROM scorer_modules WHERE id = sqlc.arg(id);

-- name: GetScorerModuleByDigest :one
SELECT * FROM scorer_modules WHERE digest = sqlc.arg(digest);

-- name: ListScorerModules :many
SELECT * FROM scorer_modules ORDER BY id DESC LIMIT 100;
