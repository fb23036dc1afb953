-- name: InsertSandboxJob :execlastid
INSERT INTO sandbox_jobs (competition_id, kind, scorer_digest, scorer_path, holdout_digest, holdout_path, holdout_rows,
                          sample_sha256, requested_by)
VALUES (sqlc.arg(competition_id), sqlc.arg(kind), sqlc.arg(scorer_digest), sqlc.arg(scorer_path),
        sqlc.arg(holdout_digest), sqlc.arg(holdout_path), sqlc.arg(holdout_rows), sqlc.arg(sample_sha256),
        sqlc.narg(requested_by));

-- name: GetSandboxJob :one
SELECT * FROM sandbox_jobs WHERE id = sqlc.arg(id);

-- name: LatestSandboxJob :one
-- The newest job for this module and holdout that is queued, running or
-- done (a failed one is retried by a new job).
SELECT * FROM sandbox_jobs
WHERE competition_id = sqlc.arg(competition_id) AND kind = sqlc.arg(kind)
  AND scorer_digest = sqlc.arg(scorer_digest) AND holdout_digest = sqlc.arg(holdout_digest)
  AND sample_sha256 = sqlc.arg(sample_sha256) AND status <> 'failed'
ORDER BY id DESC LIMIT 1;

-- name: NextClaimableSandboxJob :one
SELECT id FROM sandbox_jobs
WHERE status = 'queued' OR (status = 'running' AND lease_until < sqlc.arg(now))
ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;

-- name: LeaseSandboxJob :execrows
UPDATE sandbox_jobs
SET status = 'running', lease_owner = sqlc.arg(lease_owner), lease_token = sqlc.arg(lease_token),
    lease_until = sqlc.arg(lease_until), attempts = attempts + 1, started_at = COALESCE(started_at, CURRENT_TIMESTAMP(6))
WHERE id = sqlc.arg(id);

-- name: RenewSandboxJob :execrows
UPDATE sandbox_jobs SET lease_until = sqlc.arg(lease_until)
WHERE id = sqlc.arg(id) AND status = 'running' AND lease_token = sqlc.arg(lease_token);

-- name: FinishSandboxJob :execrows
UPDATE sandbox_jobs
SET status = sqlc.arg(status), result_json = sqlc.narg(result_json), error = sqlc.arg(error),
    lease_until = NULL, finished_at = CURRENT_TIMESTAMP(6)
WHERE id = sqlc.arg(id) AND status = 'running' AND lease_token = sqlc.arg(lease_token);

-- name: ReleaseSandboxJob :execrows
UPDATE sandbox_jobs SET status = 'queued', lease_until = NULL
WHERE id = sqlc.arg(id) AND status = 'running' AND lease_token = sqlc.arg(lease_token);
