-- +goose Up
-- One row per (competition, user) who ever submitted: the submission count,
-- the last submission time and the best official submission, maintained in
-- the transactions that accept a submission and switch an official score.
-- The leaderboard reads this table instead of every submission.
CREATE TABLE leaderboard_entries (
    competition_id     BIGINT      NOT NULL,
    user_id            BIGINT      NOT NULL,
    submissions        INT         NOT NULL DEFAULT 0,
    last_submission_at DATETIME(6) NOT NULL,
    best_submission_id BIGINT      NULL,
    best_score         DOUBLE      NULL,
    best_ci_low        DOUBLE      NULL,
    best_ci_high       DOUBLE      NULL,
    best_at            DATETIME(6) NULL,
    PRIMARY KEY (competition_id, user_id),
    CONSTRAINT leaderboard_entries_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE,
    CONSTRAINT leaderboard_entries_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT INTO leaderboard_entries (competition_id, user_id, submissions, last_submission_at)
SELECT competition_id, user_id, COUNT(*), MAX(created_at) FROM submissions GROUP BY competition_id, user_id;

UPDATE leaderboard_entries e
JOIN (SELECT s.id, s.competition_id, s.user_id, s.primary_score, s.ci_low, s.ci_high, s.created_at,
             ROW_NUMBER() OVER (PARTITION BY s.competition_id, s.user_id
                                ORDER BY IF(c.higher_is_better, -s.primary_score, s.primary_score), s.created_at, s.id) AS rn
      FROM submissions s JOIN competitions c ON c.id = s.competition_id
      WHERE s.status = 'scored' AND s.primary_score IS NOT NULL) b
  ON b.competition_id = e.competition_id AND b.user_id = e.user_id AND b.rn = 1
SET e.best_submission_id = b.id, e.best_score = b.primary_score, e.best_ci_low = b.ci_low,
    e.best_ci_high = b.ci_high, e.best_at = b.created_at;

-- +goose Down
DROP TABLE leaderboard_entries;
