-- +goose Up
-- Public/private leaderboards (issue 13).
--
-- A competition in scoring mode public_private splits its holdout's units by
-- a keyed hash of the unit id with split_secret (generated once, never
-- shown) and public_fraction; every submission is scored on both parts.
-- primary_score (and ci_*) stays the score every participant sees: the
-- whole holdout in single_realtime_hidden mode, the public part in
-- public_private mode. The private part's score lives in private_* and is
-- shown to owners and admins only until private_revealed_at is set.
ALTER TABLE competitions
    MODIFY scoring_mode ENUM('single_realtime_hidden', 'public_private') NOT NULL DEFAULT 'single_realtime_hidden',
    ADD COLUMN public_fraction     DOUBLE         NOT NULL DEFAULT 0.3,
    ADD COLUMN split_secret        VARBINARY(32)  NOT NULL DEFAULT '',
    ADD COLUMN display_digits      TINYINT        NOT NULL DEFAULT 5,
    ADD COLUMN final_limit         INT            NOT NULL DEFAULT 2,
    ADD COLUMN selection_deadline  DATETIME(6)    NULL,
    ADD COLUMN private_revealed_at DATETIME(6)    NULL,
    ADD CONSTRAINT competitions_public_fraction CHECK (public_fraction > 0 AND public_fraction < 1),
    ADD CONSTRAINT competitions_display_digits CHECK (display_digits BETWEEN 1 AND 17),
    ADD CONSTRAINT competitions_final_limit CHECK (final_limit BETWEEN 1 AND 100);

-- is_final: the participant marked it for the private board (final_at when).
ALTER TABLE submissions
    ADD COLUMN private_score   DOUBLE      NULL,
    ADD COLUMN private_ci_low  DOUBLE      NULL,
    ADD COLUMN private_ci_high DOUBLE      NULL,
    ADD COLUMN is_final        BOOLEAN     NOT NULL DEFAULT FALSE,
    ADD COLUMN final_at        DATETIME(6) NULL;

-- Provenance of a split score: which split (a fingerprint of the secret
-- and fraction, not the secret), how the parts were scored (one_run: one
-- sandbox run whose per-unit contributions were averaged per part;
-- per_part: one run per part), and the part sizes. unit_scores holds the
-- per-unit contributions in holdout order (competitions/signif encoding);
-- it never leaves the server and feeds the paired comparisons.
ALTER TABLE submission_scores
    ADD COLUMN private_score     DOUBLE       NULL,
    ADD COLUMN private_ci_low    DOUBLE       NULL,
    ADD COLUMN private_ci_high   DOUBLE       NULL,
    ADD COLUMN split_method      ENUM('none', 'one_run', 'per_part') NOT NULL DEFAULT 'none',
    ADD COLUMN split_fingerprint CHAR(16)     NOT NULL DEFAULT '',
    ADD COLUMN public_units      INT          NULL,
    ADD COLUMN private_units     INT          NULL,
    ADD COLUMN unit_scores       MEDIUMBLOB   NULL;

-- The private board's entry of each user: the best private score among
-- their final submissions (or, without a choice, their best public ones).
ALTER TABLE leaderboard_entries
    ADD COLUMN private_submission_id BIGINT      NULL,
    ADD COLUMN private_score         DOUBLE      NULL,
    ADD COLUMN private_ci_low        DOUBLE      NULL,
    ADD COLUMN private_ci_high       DOUBLE      NULL,
    ADD COLUMN private_at            DATETIME(6) NULL;

-- +goose Down
ALTER TABLE leaderboard_entries
    DROP COLUMN private_submission_id, DROP COLUMN private_score, DROP COLUMN private_ci_low,
    DROP COLUMN private_ci_high, DROP COLUMN private_at;
ALTER TABLE submission_scores
    DROP COLUMN private_score, DROP COLUMN private_ci_low, DROP COLUMN private_ci_high, DROP COLUMN split_method,
    DROP COLUMN split_fingerprint, DROP COLUMN public_units, DROP COLUMN private_units, DROP COLUMN unit_scores;
ALTER TABLE submissions
    DROP COLUMN private_score, DROP COLUMN private_ci_low, DROP COLUMN private_ci_high, DROP COLUMN is_final,
    DROP COLUMN final_at;
ALTER TABLE competitions
    DROP CONSTRAINT competitions_public_fraction, DROP CONSTRAINT competitions_display_digits,
    DROP CONSTRAINT competitions_final_limit,
    DROP COLUMN public_fraction, DROP COLUMN split_secret, DROP COLUMN display_digits, DROP COLUMN final_limit,
    DROP COLUMN selection_deadline, DROP COLUMN private_revealed_at,
    MODIFY scoring_mode ENUM('single_realtime_hidden') NOT NULL DEFAULT 'single_realtime_hidden';
