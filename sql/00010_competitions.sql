-- +goose Up
-- Competitions, their public datasets, hidden holdout versions, content-
-- addressed scorer modules, submissions and append-only scores.
--
-- Paths stored here are relative to one of the three disjoint data roots
-- (TRAINING_DATA_ROOT, PUBLIC_EVAL_DATA_ROOT, TEST_HOLDOUTS_DIR) or to the
-- submission and scorer stores; which root is implied by the column.

CREATE TABLE datasets (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    slug        VARCHAR(64)   NOT NULL,
    title       VARCHAR(200)  NOT NULL,
    description TEXT          NOT NULL,
    exposure    ENUM('EXTERNAL', 'INTERNAL') NOT NULL DEFAULT 'EXTERNAL',
    created_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY datasets_slug (slug)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Public files only: training files under TRAINING_DATA_ROOT, public eval
-- files and the sample submission under PUBLIC_EVAL_DATA_ROOT. Holdouts are
-- never rows of this table.
CREATE TABLE dataset_files (
    id         BIGINT       NOT NULL AUTO_INCREMENT,
    dataset_id BIGINT       NOT NULL,
    name       VARCHAR(255) NOT NULL,
    kind       ENUM('training', 'public_eval', 'sample_submission') NOT NULL,
    size_bytes BIGINT       NOT NULL,
    sha256     CHAR(64)     NOT NULL,
    path       VARCHAR(512) NOT NULL,
    created_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY dataset_files_name (dataset_id, name),
    CONSTRAINT dataset_files_dataset FOREIGN KEY (dataset_id) REFERENCES datasets (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Content-addressed scorer modules (.wasm); path is relative to the scorer
-- store. validation_report is the JSON report of the checks run on upload.
CREATE TABLE scorer_modules (
    id                BIGINT       NOT NULL AUTO_INCREMENT,
    digest            CHAR(64)     NOT NULL,
    name              VARCHAR(64)  NOT NULL,
    version           VARCHAR(64)  NOT NULL,
    abi_version       VARCHAR(16)  NOT NULL,
    size_bytes        BIGINT       NOT NULL,
    path              VARCHAR(512) NOT NULL,
    uploaded_by       BIGINT       NULL,
    validation_report MEDIUMTEXT   NOT NULL,
    created_at        DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY scorer_modules_digest (digest),
    CONSTRAINT scorer_modules_uploader FOREIGN KEY (uploaded_by) REFERENCES users (id) ON DELETE SET NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE competitions (
    id                  BIGINT        NOT NULL AUTO_INCREMENT,
    slug                VARCHAR(64)   NOT NULL,
    title               VARCHAR(200)  NOT NULL,
    description         TEXT          NOT NULL,
    exposure            ENUM('EXTERNAL', 'INTERNAL') NOT NULL DEFAULT 'EXTERNAL',
    owner_user_id       BIGINT        NULL,
    scoring_mode        ENUM('single_realtime_hidden') NOT NULL DEFAULT 'single_realtime_hidden',
    leaderboard_rule    ENUM('best_per_user') NOT NULL DEFAULT 'best_per_user',
    evaluation_policy   ENUM('canonical_test_first') NOT NULL DEFAULT 'canonical_test_first',
    metric              VARCHAR(64)   NOT NULL,
    higher_is_better    BOOLEAN       NOT NULL,
    daily_cap           INT           NOT NULL,
    -- The engine spec (id column, columns, holdout layout) as JSON.
    spec_json           TEXT          NOT NULL,
    dataset_id          BIGINT        NOT NULL,
    current_scorer_id   BIGINT        NULL,
    current_holdout_id  BIGINT        NULL,
    -- Bumped in the same transaction as any change of an official score, so
    -- leaderboard caches in every process know when to rebuild.
    leaderboard_version BIGINT        NOT NULL DEFAULT 0,
    created_at          DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at          DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY competitions_slug (slug),
    CONSTRAINT competitions_daily_cap CHECK (daily_cap >= 1),
    CONSTRAINT competitions_dataset FOREIGN KEY (dataset_id) REFERENCES datasets (id),
    CONSTRAINT competitions_owner FOREIGN KEY (owner_user_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT competitions_scorer FOREIGN KEY (current_scorer_id) REFERENCES scorer_modules (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Hidden holdout versions; path is relative to TEST_HOLDOUTS_DIR and digest
-- is the SHA-256 of the stored file. Only the engine and the worker read it.
CREATE TABLE holdout_versions (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    competition_id BIGINT       NOT NULL,
    version        INT          NOT NULL,
    digest         CHAR(64)     NOT NULL,
    path           VARCHAR(512) NOT NULL,
    row_count      INT          NOT NULL,
    created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY holdout_versions_version (competition_id, version),
    UNIQUE KEY holdout_versions_digest (competition_id, digest),
    CONSTRAINT holdout_versions_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE competitions
    ADD CONSTRAINT competitions_holdout FOREIGN KEY (current_holdout_id) REFERENCES holdout_versions (id);

-- Accepted submissions per user per competition per UTC day. The row is
-- locked and bumped in the transaction that inserts the submission, so the
-- cap holds exactly under concurrency.
CREATE TABLE submission_daily_counts (
    competition_id BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    day            DATE   NOT NULL,
    accepted       INT    NOT NULL,
    PRIMARY KEY (competition_id, user_id, day)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE rescore_jobs (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    competition_id BIGINT       NOT NULL,
    requested_by   BIGINT       NULL,
    reason         VARCHAR(255) NOT NULL,
    total          INT          NOT NULL,
    done           INT          NOT NULL DEFAULT 0,
    failed         INT          NOT NULL DEFAULT 0,
    created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    finished_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY rescore_jobs_competition (competition_id, id),
    CONSTRAINT rescore_jobs_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- status is what participants see. pending marks work for the scoring
-- queue (a new submission, or a rescoring of a scored one, which keeps its
-- official score until the new one switches in). A worker owns pending work
-- while lease_until is in the future; lease_token names the claim, so a
-- worker whose lease expired cannot finish the work.
CREATE TABLE submissions (
    id              BIGINT        NOT NULL AUTO_INCREMENT,
    competition_id  BIGINT        NOT NULL,
    user_id         BIGINT        NOT NULL,
    filename        VARCHAR(255)  NOT NULL,
    artifact_sha256 CHAR(64)      NOT NULL,
    artifact_path   VARCHAR(512)  NOT NULL,
    size_bytes      BIGINT        NOT NULL,
    row_count       INT           NOT NULL,
    status          ENUM('queued', 'scoring', 'scored', 'failed') NOT NULL DEFAULT 'queued',
    public_error    VARCHAR(1024) NOT NULL DEFAULT '',
    internal_error  TEXT          NOT NULL,
    pending         TINYINT       NOT NULL DEFAULT 1, -- 0 none, 1 new, 2 rescoring
    rescore_job_id  BIGINT        NULL,
    attempts        INT           NOT NULL DEFAULT 0,
    lease_owner     VARCHAR(128)  NOT NULL DEFAULT '',
    lease_token     CHAR(32)      NOT NULL DEFAULT '',
    lease_until     DATETIME(6)   NULL,
    -- Denormalised from the official submission_scores row (same
    -- transaction), so the leaderboard reads one table.
    primary_score   DOUBLE        NULL,
    ci_low          DOUBLE        NULL,
    ci_high         DOUBLE        NULL,
    created_at      DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    scored_at       DATETIME(6)   NULL,
    PRIMARY KEY (id),
    KEY submissions_queue (pending, id),
    KEY submissions_by_user (competition_id, user_id, id),
    KEY submissions_board (competition_id, status, user_id, primary_score, created_at),
    CONSTRAINT submissions_competition FOREIGN KEY (competition_id) REFERENCES competitions (id) ON DELETE CASCADE,
    CONSTRAINT submissions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only. One row per (submission, scorer digest, holdout digest); at
-- most one official row per submission (official_key is unique, NULL for
-- non-official rows).
CREATE TABLE submission_scores (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    submission_id   BIGINT       NOT NULL,
    primary_score   DOUBLE       NOT NULL,
    secondary_json  TEXT         NOT NULL,
    ci_low          DOUBLE       NULL,
    ci_high         DOUBLE       NULL,
    scorer_digest   CHAR(64)     NOT NULL,
    holdout_digest  CHAR(64)     NOT NULL,
    engine_version  VARCHAR(64)  NOT NULL,
    duration_ms     INT          NOT NULL,
    is_official     BOOLEAN      NOT NULL DEFAULT FALSE,
    official_key    BIGINT       AS (IF(is_official, submission_id, NULL)) STORED,
    created_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY submission_scores_digests (submission_id, scorer_digest, holdout_digest),
    UNIQUE KEY submission_scores_official (official_key),
    CONSTRAINT submission_scores_submission FOREIGN KEY (submission_id) REFERENCES submissions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE submission_scores;
DROP TABLE submissions;
DROP TABLE rescore_jobs;
DROP TABLE submission_daily_counts;
ALTER TABLE competitions DROP FOREIGN KEY competitions_holdout;
DROP TABLE holdout_versions;
DROP TABLE competitions;
DROP TABLE scorer_modules;
DROP TABLE dataset_files;
DROP TABLE datasets;
