-- +goose Up
-- Self-service authoring (issue 12): a competition and its dataset start as
-- an invisible draft (published = FALSE) that only its owner and admins
-- see; publishing flips both in one transaction. Existing rows stay
-- published.
ALTER TABLE competitions
    ADD COLUMN published    BOOLEAN     NOT NULL DEFAULT TRUE,
    ADD COLUMN published_at DATETIME(6) NULL,
    ADD KEY competitions_owner_slug (owner_user_id, slug);
ALTER TABLE datasets ADD COLUMN published BOOLEAN NOT NULL DEFAULT TRUE;

-- The certification report of one (scorer, holdout, sample submission)
-- triple of a competition: publishing needs an ok report for the current
-- triple. report_json never holds holdout values, only scores and verdicts.
CREATE TABLE certification_reports (
    id             BIGINT      NOT NULL AUTO_INCREMENT,
    competition_id BIGINT      NOT NULL,
    scorer_digest  CHAR(64)    NOT NULL,
    holdout_digest CHAR(64)    NOT NULL,
    sample_sha256  CHAR(64)    NOT NULL,
    ok             BOOLEAN     NOT NULL,
    report_json    MEDIUMTEXT  NOT NULL,
    created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY certification_reports_triple (competition_id, scorer_digest, holdout_digest, sample_sha256, id),
    CONSTRAINT certification_reports_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The leaderboard ranks when a rescoring job was queued (JSON {user_id:
-- rank}), so its author can see whose rank moved once it finishes.
ALTER TABLE rescore_jobs ADD COLUMN ranks_before MEDIUMTEXT NULL;

-- +goose Down
ALTER TABLE rescore_jobs DROP COLUMN ranks_before;
DROP TABLE certification_reports;
ALTER TABLE datasets DROP COLUMN published;
ALTER TABLE competitions DROP KEY competitions_owner_slug, DROP COLUMN published_at, DROP COLUMN published;
