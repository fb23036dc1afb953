-- name: SetCompetitionPublished :exec
UPDATE competitions
SET published = sqlc.arg(published), published_at = IF(sqlc.arg(published), CURRENT_TIMESTAMP(6), NULL)
WHERE id = sqlc.arg(id);

-- name: SetDatasetPublished :exec
UPDATE datasets SET published = sqlc.arg(published) WHERE id = sqlc.arg(id);

-- name: ListCompetitionsByOwner :many
SELECT * FROM competitions WHERE owner_user_id = sqlc.arg(owner_user_id) ORDER BY slug;

-- name: UpdateCompetitionAuthored :exec
-- An author's edit: everything but the exposure, the owner and the artifacts.
UPDATE competitions
SET title = sqlc.arg(title), description = sqlc.arg(description), metric = sqlc.arg(metric),
    higher_is_better = sqlc.arg(higher_is_better), daily_cap = sqlc.arg(daily_cap), spec_json = sqlc.arg(spec_json)
WHERE id = sqlc.arg(id);

-- name: InsertCertificationReport :execlastid
INSERT INTO certification_reports (competition_id, scorer_digest, holdout_digest, sample_sha256, ok, report_json)
VALUES (sqlc.arg(competition_id), sqlc.arg(scorer_digest), sqlc.arg(holdout_digest), sqlc.arg(sample_sha256),
        sqlc.arg(ok), sqlc.arg(report_json));

-- name: GetCertificationReport :one
SELECT * FROM certification_reports
WHERE competition_id = sqlc.arg(competition_id) AND scorer_digest = sqlc.arg(scorer_digest)
  AND holdout_digest = sqlc.arg(holdout_digest) AND sample_sha256 = sqlc.arg(sample_sha256)
ORDER BY id DESC LIMIT 1;

-- name: ListCompetitionSubmissions :many
-- The owner's view: every submission of the competition, newest first.
SELECT s.*, u.display_name AS user_display_name
FROM submissions s JOIN users u ON u.id = s.user_id
WHERE s.competition_id = sqlc.arg(competition_id) AND s.id < sqlc.arg(before_id)
ORDER BY s.id DESC LIMIT ?;

-- name: SetRescoreJobRanks :exec
UPDATE rescore_jobs SET ranks_before = sqlc.arg(ranks_before) WHERE id = sqlc.arg(id);
