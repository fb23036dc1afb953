-- name: EnsureDailyCount :exec
-- Creates the (competition, user, day) counter row at zero when missing, so
-- the counting UPDATE below always finds a row to lock.
INSERT IGNORE INTO submission_daily_counts (competition_id, user_id, day, accepted)
VALUES (sqlc.arg(competition_id), sqlc.arg(user_id), sqlc.arg(day), 0);

-- name: BumpDailyCount :execrows
-- Counts one more accepted submission unless the cap is reached (0 rows);
-- the row lock it takes serializes the user's concurrent uploads until commit.
UPDATE submission_daily_counts SET accepted = accepted + 1
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND day = sqlc.arg(day)
  AND accepted < sqlc.arg(daily_cap);

-- name: GetDailyCount :one
SELECT accepted FROM submission_daily_counts
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND day = sqlc.arg(day);

-- name: InsertSubmission :execlastid
INSERT INTO submissions (competition_id, user_id, filename, artifact_sha256, artifact_path, size_bytes, row_count,
                         internal_error, created_at)
VALUES (sqlc.arg(competition_id), sqlc.arg(user_id), sqlc.arg(filename), sqlc.arg(artifact_sha256),
        sqlc.arg(artifact_path), sqlc.arg(size_bytes), sqlc.arg(row_count), '', sqlc.arg(created_at));

-- name: LockSubmissionsByArtifact :one
-- Counts the rows that reference a stored file, locking the digest's index
-- range and gap until commit: a concurrent insert of the same digest waits,
-- and an uncommitted one makes this wait (see Service.dropUnreferencedBlob).
SELECT COUNT(*) FROM submissions WHERE artifact_sha256 = sqlc.arg(artifact_sha256) FOR UPDATE;

-- name: GetSubmission :one
SELECT * FROM submissions WHERE id = sqlc.arg(id);

-- name: LockSubmission :one
SELECT * FROM submissions WHERE id = sqlc.arg(id) FOR UPDATE;

-- name: ListUserSubmissions :many
SELECT * FROM submissions
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id)
ORDER BY id DESC LIMIT 200;

-- name: NextClaimableSubmission :one
-- The oldest claimable work of one kind (pending 3: an admin's score now,
-- 1: new submissions, 2: rescoring), skipping rows another claimer holds
-- locked.
SELECT id FROM submissions
WHERE pending = sqlc.arg(pending) AND (lease_until IS NULL OR lease_until < sqlc.arg(now))
ORDER BY id LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: LeaseSubmission :execrows
UPDATE submissions
SET lease_owner = sqlc.arg(lease_owner), lease_token = sqlc.arg(lease_token), lease_until = sqlc.arg(lease_until),
    attempts = attempts + 1, status = IF(pending = 1, 'scoring', status)
WHERE id = sqlc.arg(id) AND pending > 0;

-- name: ExtendSubmissionLease :execrows
UPDATE submissions SET lease_until = sqlc.arg(lease_until)
WHERE id = sqlc.arg(id) AND lease_token = sqlc.arg(lease_token) AND pending > 0;

-- name: ReleaseSubmissionLease :exec
UPDATE submissions SET lease_until = NULL, lease_owner = '', lease_token = ''
WHERE id = sqlc.arg(id) AND lease_token = sqlc.arg(lease_token);

-- name: FinishSubmissionScored :exec
UPDATE submissions
SET status = 'scored', pending = 0, rescore_job_id = NULL, lease_owner = '', lease_token = '', lease_until = NULL,
    public_error = '', internal_error = '', primary_score = sqlc.arg(primary_score), ci_low = sqlc.narg(ci_low),
    ci_high = sqlc.narg(ci_high), private_score = sqlc.narg(private_score), private_ci_low = sqlc.narg(private_ci_low),
    private_ci_high = sqlc.narg(private_ci_high), scored_at = sqlc.arg(scored_at)
WHERE id = sqlc.arg(id);

-- name: FinishSubmissionFailed :exec
-- A failed rescoring of a scored submission keeps its official score and
-- status; only a submission never scored becomes failed.
UPDATE submissions
SET status = IF(status = 'scored', 'scored', 'failed'), pending = 0, rescore_job_id = NULL, lease_owner = '',
    lease_token = '', lease_until = NULL,
    public_error = IF(status = 'scored', public_error, sqlc.arg(public_error)), internal_error = sqlc.arg(internal_error)
WHERE id = sqlc.arg(id);

-- name: RequeueSubmission :execrows
UPDATE submissions SET pending = 2, rescore_job_id = sqlc.narg(rescore_job_id)
WHERE id = sqlc.arg(id) AND pending = 0;

-- name: ScoreSubmissionNow :execrows
-- An admin's score now: an idle or rescore-queued submission moves to the
-- front of the queue (pending 3), keeping its rescore job.
UPDATE submissions SET pending = 3
WHERE id = sqlc.arg(id) AND pending IN (0, 2);

-- name: MarkCompetitionForRescore :execrows
UPDATE submissions SET pending = 2, rescore_job_id = sqlc.arg(rescore_job_id)
WHERE competition_id = sqlc.arg(competition_id) AND pending = 0;

-- name: SubmissionQueueStats :one
SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM submissions WHERE pending > 0;

-- name: InsertSubmissionScore :execlastid
-- A new official score is inserted as official (after ClearOfficialSubmissionScore):
-- inserting a unique key takes no shared gap locks, updating one does.
INSERT INTO submission_scores (submission_id, primary_score, secondary_json, ci_low, ci_high, scorer_digest,
                               holdout_digest, engine_version, duration_ms, is_official, private_score,
                               private_ci_low, private_ci_high, split_method, split_fingerprint, public_units,
                               private_units, unit_scores)
VALUES (sqlc.arg(submission_id), sqlc.arg(primary_score), sqlc.arg(secondary_json), sqlc.narg(ci_low),
        sqlc.narg(ci_high), sqlc.arg(scorer_digest), sqlc.arg(holdout_digest), sqlc.arg(engine_version),
        sqlc.arg(duration_ms), sqlc.arg(is_official), sqlc.narg(private_score), sqlc.narg(private_ci_low),
        sqlc.narg(private_ci_high), sqlc.arg(split_method), sqlc.arg(split_fingerprint), sqlc.narg(public_units),
        sqlc.narg(private_units), sqlc.arg(unit_scores));

-- name: GetSubmissionScoreByDigests :one
SELECT * FROM submission_scores
WHERE submission_id = sqlc.arg(submission_id) AND scorer_digest = sqlc.arg(scorer_digest)
  AND holdout_digest = sqlc.arg(holdout_digest);

-- name: ClearOfficialSubmissionScore :exec
UPDATE submission_scores SET is_official = FALSE WHERE submission_id = sqlc.arg(submission_id) AND is_official;

-- name: SetOfficialSubmissionScore :exec
UPDATE submission_scores SET is_official = TRUE WHERE id = sqlc.arg(id);

-- name: GetOfficialSubmissionScore :one
SELECT * FROM submission_scores WHERE submission_id = sqlc.arg(submission_id) AND is_official;

-- name: ListSubmissionScores :many
SELECT * FROM submission_scores WHERE submission_id = sqlc.arg(submission_id) ORDER BY id;

-- name: CountOfficialSubmissionScores :one
SELECT COUNT(*) FROM submission_scores WHERE submission_id = sqlc.arg(submission_id) AND is_official;

-- name: HasLeaderboardEntry :one
-- A plain consistent read (no locks): whether the user's leaderboard entry
-- exists. Intake asks before EnsureLeaderboardEntry, whose INSERT IGNORE
-- share-locks the competition row (foreign-key check) and then the existing
-- entry, the reverse of a finishing worker's order (entry, ..., competition),
-- and so deadlocks against it when run for an entry that already exists.
SELECT EXISTS(SELECT 1 FROM leaderboard_entries
              WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id)) AS present;

-- name: EnsureLeaderboardEntry :exec
-- Creates the user's leaderboard entry (no submissions, no best: not shown)
-- when missing, in its own statement before the accepting transaction, so
-- that transaction only updates an existing row: concurrent first uploads
-- then queue on its row lock instead of deadlocking on the insert of a new
-- key. Intake runs it only when HasLeaderboardEntry says the entry is missing.
INSERT IGNORE INTO leaderboard_entries (competition_id, user_id, submissions, last_submission_at)
VALUES (sqlc.arg(competition_id), sqlc.arg(user_id), 0, sqlc.arg(created_at));

-- name: CountLeaderboardSubmission :exec
-- Counts an accepted submission on the user's leaderboard entry (created
-- beforehand by EnsureLeaderboardEntry). The first statement of the
-- accepting transaction: a plain UPDATE of an existing row takes its
-- exclusive lock at once, where an upsert's shared-then-exclusive upgrade
-- deadlocks concurrent uploads.
UPDATE leaderboard_entries SET submissions = submissions + 1,
                               last_submission_at = GREATEST(last_submission_at, sqlc.arg(created_at))
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id);

-- name: BestUserSubmissionHigh :one
SELECT id, primary_score, ci_low, ci_high, created_at FROM submissions
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND status = 'scored'
  AND primary_score IS NOT NULL
ORDER BY primary_score DESC, created_at, id LIMIT 1;

-- name: BestUserSubmissionLow :one
SELECT id, primary_score, ci_low, ci_high, created_at FROM submissions
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND status = 'scored'
  AND primary_score IS NOT NULL
ORDER BY primary_score ASC, created_at, id LIMIT 1;

-- name: SetLeaderboardBest :exec
UPDATE leaderboard_entries
SET best_submission_id = sqlc.narg(best_submission_id), best_score = sqlc.narg(best_score),
    best_ci_low = sqlc.narg(best_ci_low), best_ci_high = sqlc.narg(best_ci_high), best_at = sqlc.narg(best_at)
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id);

-- name: CompetitionLeaderboardEntries :many
SELECT e.user_id, e.submissions, e.last_submission_at, e.best_submission_id, e.best_score, e.best_ci_low,
       e.best_ci_high, e.best_at, u.display_name, e.private_submission_id, e.private_score, e.private_ci_low,
       e.private_ci_high, e.private_at
FROM leaderboard_entries e JOIN users u ON u.id = e.user_id
WHERE e.competition_id = sqlc.arg(competition_id) AND e.best_submission_id IS NOT NULL;

-- name: UserScoredSubmissions :many
-- One user's scored submissions in a competition, for recomputing their
-- public best and private entry (finals) in the switching transaction.
SELECT id, primary_score, ci_low, ci_high, private_score, private_ci_low, private_ci_high, is_final, created_at
FROM submissions
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND status = 'scored'
  AND primary_score IS NOT NULL;

-- name: SetLeaderboardPrivate :exec
UPDATE leaderboard_entries
SET private_submission_id = sqlc.narg(private_submission_id), private_score = sqlc.narg(private_score),
    private_ci_low = sqlc.narg(private_ci_low), private_ci_high = sqlc.narg(private_ci_high),
    private_at = sqlc.narg(private_at)
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id);

-- name: OfficialUnitScores :many
-- The per-unit contributions of the official scores of some submissions
-- (the board entries' best ones), for the paired comparisons.
SELECT submission_id, id, unit_scores FROM submission_scores
WHERE official_key IN (sqlc.slice(submission_ids)) AND unit_scores IS NOT NULL;

-- name: SetSubmissionFinal :execrows
UPDATE submissions SET is_final = sqlc.arg(is_final), final_at = sqlc.narg(final_at)
WHERE id = sqlc.arg(id) AND is_final <> sqlc.arg(is_final);

-- name: CountUserFinals :one
SELECT COUNT(*) FROM submissions
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) AND is_final;

-- name: LockLeaderboardEntry :one
-- Serializes the official-score switches of one user's submissions, so the
-- best recomputed after the switch sees every earlier switch.
SELECT submissions FROM leaderboard_entries
WHERE competition_id = sqlc.arg(competition_id) AND user_id = sqlc.arg(user_id) FOR UPDATE;
