-- name: CreateCompetition :execlastid
INSERT INTO competitions (slug, title, description, exposure, owner_user_id, metric, higher_is_better,
                          daily_cap, spec_json, dataset_id)
VALUES (sqlc.arg(slug), sqlc.arg(title), sqlc.arg(description), sqlc.arg(exposure), sqlc.narg(owner_user_id),
        sqlc.arg(metric), sqlc.arg(higher_is_better), sqlc.arg(daily_cap), sqlc.arg(spec_json), sqlc.arg(dataset_id));

-- name: UpdateCompetition :exec
UPDATE competitions
SET title = sqlc.arg(title), description = sqlc.arg(description), exposure = sqlc.arg(exposure),
    metric = sqlc.arg(metric), higher_is_better = sqlc.arg(higher_is_better), daily_cap = sqlc.arg(daily_cap),
    spec_json = sqlc.arg(spec_json)
WHERE id = sqlc.arg(id);

-- name: GetCompetition :one
SELECT * FROM competitions WHERE id = sqlc.arg(id);

-- name: GetCompetitionBySlug :one
SELECT * FROM competitions WHERE slug = sqlc.arg(slug);

-- name: LockCompetition :one
-- Serializes imports, scorer switches and rescore requests of one competition.
SELECT * FROM competitions WHERE id = sqlc.arg(id) FOR UPDATE;

-- name: ListCompetitions :many
SELECT * FROM competitions ORDER BY slug;

-- name: SetCompetitionScorer :exec
UPDATE competitions SET current_scorer_id = sqlc.arg(scorer_id) WHERE id = sqlc.arg(id);

-- name: SetCompetitionHoldout :exec
UPDATE competitions SET current_holdout_id = sqlc.arg(holdout_id) WHERE id = sqlc.arg(id);

-- name: BumpLeaderboardVersion :exec
UPDATE competitions SET leaderboard_version = leaderboard_version + 1 WHERE id = sqlc.arg(id);

-- name: GetLeaderboardVersion :one
SELECT leaderboard_version FROM competitions WHERE id = sqlc.arg(id);

-- name: InsertHoldoutVersion :execlastid
INSERT INTO holdout_versions (competition_id, version, digest, path, row_count)
VALUES (sqlc.arg(competition_id), sqlc.arg(version), sqlc.arg(digest), sqlc.arg(path), sqlc.arg(row_count));

-- name: GetHoldoutVersion :one
SELECT * FROM holdout_versions WHERE id = sqlc.arg(id);

-- name: GetHoldoutByDigest :one
SELECT * FROM holdout_versions WHERE competition_id = sqlc.arg(competition_id) AND digest = sqlc.arg(digest);

-- name: NextHoldoutVersion :one
SELECT CAST(COALESCE(MAX(version), 0) + 1 AS SIGNED) AS next_version
FROM holdout_versions WHERE competition_id = sqlc.arg(competition_id);

-- name: CreateRescoreJob :execlastid
INSERT INTO rescore_jobs (competition_id, requested_by, reason, total)
VALUES (sqlc.arg(competition_id), sqlc.narg(requested_by), sqlc.arg(reason), sqlc.arg(total));

-- name: GetRescoreJob :one
SELECT * FROM rescore_jobs WHERE id = sqlc.arg(id);

-- name: ListRescoreJobs :many
SELECT * FROM rescore_jobs WHERE competition_id = sqlc.arg(competition_id) ORDER BY id DESC LIMIT 20;

-- name: SetRescoreJobTotal :exec
UPDATE rescore_jobs SET total = sqlc.arg(total), finished_at = IF(sqlc.arg(total) = 0, CURRENT_TIMESTAMP(6), NULL)
WHERE id = sqlc.arg(id);

-- name: AdvanceRescoreJob :exec
-- Counts one finished submission; the job finishes with its last one.
UPDATE rescore_jobs
SET done = done + sqlc.arg(done), failed = failed + sqlc.arg(failed),
    finished_at = IF(done + failed >= total AND finished_at IS NULL, CURRENT_TIMESTAMP(6), finished_at)
WHERE id = sqlc.arg(id);

-- name: SetCompetitionScoring :exec
-- Scoring mode and split, display precision and final selection. The split
-- secret is set once (when empty) and never changed.
UPDATE competitions
SET scoring_mode = sqlc.arg(scoring_mode), public_fraction = sqlc.arg(public_fraction),
    split_secret = IF(split_secret = '', sqlc.arg(split_secret), split_secret),
    display_digits = sqlc.arg(display_digits), final_limit = sqlc.arg(final_limit),
    selection_deadline = sqlc.narg(selection_deadline)
WHERE id = sqlc.arg(id);

-- name: RevealPrivateBoard :execrows
-- The reveal is one-way: a revealed board stays revealed.
UPDATE competitions SET private_revealed_at = sqlc.arg(revealed_at), leaderboard_version = leaderboard_version + 1
WHERE id = sqlc.arg(id) AND private_revealed_at IS NULL;

-- name: CountCompetitionSubmissions :one
SELECT COUNT(*) FROM submissions WHERE competition_id = sqlc.arg(competition_id);
