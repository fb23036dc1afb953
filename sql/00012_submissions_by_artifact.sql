-- +goose Up
-- Submissions by content digest: a failed upload removes its stored file
-- only when no row references the digest, and the locking read that
-- decides it must lock just that digest's range (and its gap, so a
-- concurrent insert of the same digest waits), not the whole table.
ALTER TABLE submissions ADD KEY submissions_by_artifact (artifact_sha256);

-- +goose Down
ALTER TABLE submissions DROP KEY submissions_by_artifact;
