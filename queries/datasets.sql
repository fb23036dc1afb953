-- name: CreateDataset :execlastid
INSERT INTO datasets (slug, title, description, exposure)
VALUES (sqlc.arg(slug), sqlc.arg(title), sqlc.arg(description), sqlc.arg(exposure));

-- name: UpdateDataset :exec
UPDATE datasets SET title = sqlc.arg(title), description = sqlc.arg(description), exposure = sqlc.arg(exposure)
WHERE id = sqlc.arg(id);

-- name: GetDataset :one
SELECT * FROM datasets WHERE id = sqlc.arg(id);

-- name: GetDatasetBySlug :one
SELECT * FROM datasets WHERE slug = sqlc.arg(slug);

-- name: ListDatasets :many
SELECT * FROM datasets ORDER BY slug;

-- name: UpsertDatasetFile :exec
INSERT INTO dataset_files (dataset_id, name, kind, size_bytes, sha256, path)
VALUES (sqlc.arg(dataset_id), sqlc.arg(name), sqlc.arg(kind), sqlc.arg(size_bytes), sqlc.arg(sha256), sqlc.arg(path))
ON DUPLICATE KEY UPDATE kind = VALUES(kind), size_bytes = VALUES(size_bytes), sha256 = VALUES(sha256), path = VALUES(path);

-- name: ListDatasetFiles :many
SELECT * FROM dataset_files WHERE dataset_id = sqlc.arg(dataset_id) ORDER BY kind, name;

-- name: GetDatasetFile :one
SELECT * FROM dataset_files WHERE dataset_id = sqlc.arg(dataset_id) AND name = sqlc.arg(name);

-- name: DeleteDatasetFile :exec
DELETE FROM dataset_files WHERE dataset_id = sqlc.arg(dataset_id) AND name = sqlc.arg(name);
