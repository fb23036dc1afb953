-- Sandbox jobs (docs/authoring.md, "Where modules run"): scorer-upload
-- validation and certification reports, queued by the API and run by a
-- scoring worker, whose sandbox pool is the only one that loads uploaded
-- modules. The API waits a little for the result and otherwise answers 202
-- with the job, which the client polls; results are kept, so asking again
-- (the same module, holdout and sample) is answered from them.
-- +goose Up
CREATE TABLE sandbox_jobs (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    competition_id BIGINT       NOT NULL,
    kind           ENUM('validate', 'certify') NOT NULL,
    scorer_digest  CHAR(64)     NOT NULL,
    scorer_path    VARCHAR(512) NOT NULL,
    holdout_digest CHAR(64)     NOT NULL,
    holdout_path   VARCHAR(512) NOT NULL,
    holdout_rows   INT          NOT NULL,
    sample_sha256  CHAR(64)     NOT NULL,
    requested_by   BIGINT       NULL,
    status         ENUM('queued', 'running', 'done', 'failed') NOT NULL DEFAULT 'queued',
    result_json    MEDIUMTEXT   NULL,
    error          VARCHAR(1024) NOT NULL DEFAULT '',
    attempts       INT          NOT NULL DEFAULT 0,
    lease_owner    VARCHAR(128) NOT NULL DEFAULT '',
    lease_token    CHAR(32)     NOT NULL DEFAULT '',
    lease_until    DATETIME(6)  NULL,
    created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at     DATETIME(6)  NULL,
    finished_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY sandbox_jobs_claim (status, lease_until, id),
    KEY sandbox_jobs_key (competition_id, kind, scorer_digest, holdout_digest, sample_sha256, id),
    CONSTRAINT sandbox_jobs_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE sandbox_jobs;
