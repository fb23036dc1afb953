-- +goose Up
-- Stop snapshots as first-class records (issue 14): a user lists, restores,
-- forks, downloads and deletes them, and retention prunes them. One row per
-- stopped session that took a snapshot; name is the provider's full name
-- (<workspace>@stop-<unixms>), the same string as sessions.snapshot.
-- status goes available -> deleting (claimed by a delete or a prune, the
-- provider's destroy in flight) -> deleted; a refused destroy (a ZFS clone
-- still depends on it) returns it to available.
CREATE TABLE session_snapshots (
    id            BIGINT        NOT NULL AUTO_INCREMENT,
    session_id    BIGINT        NOT NULL,
    user_id       BIGINT        NOT NULL,
    exposure      ENUM('external', 'internal') NOT NULL,
    name          VARCHAR(512)  NOT NULL,
    size_bytes    BIGINT        NOT NULL DEFAULT 0,
    status        ENUM('available', 'deleting', 'deleted') NOT NULL DEFAULT 'available',
    delete_reason VARCHAR(64)   NOT NULL DEFAULT '',
    created_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    deleted_at    DATETIME(6)   NULL,
    PRIMARY KEY (id),
    UNIQUE KEY session_snapshots_session (session_id),
    UNIQUE KEY session_snapshots_name (name),
    KEY session_snapshots_user (user_id, status, created_at),
    CONSTRAINT session_snapshots_session_fk FOREIGN KEY (session_id) REFERENCES sessions (id),
    CONSTRAINT session_snapshots_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Snapshots of sessions stopped before this migration.
INSERT INTO session_snapshots (session_id, user_id, exposure, name, created_at)
SELECT id, user_id, exposure, snapshot, COALESCE(ended_at, created_at)
FROM sessions WHERE status = 'stopped' AND snapshot <> '';

-- from_snapshot_id: the snapshot the workspace was made from (restore or
-- fork). workspace_clone: the workspace is a ZFS clone of it, so the
-- snapshot must outlive the workspace (it is "in use" for good).
-- last_gpu_busy_at: the last recovery pass that saw the session's GPU above
-- the utilisation threshold; idle culling counts it like routed traffic.
-- extended_at / extension_s: the one extension a user may take of the
-- idle and lifetime limits.
ALTER TABLE sessions
    ADD COLUMN from_snapshot_id BIGINT      NULL,
    ADD COLUMN workspace_clone  BOOLEAN     NOT NULL DEFAULT FALSE,
    ADD COLUMN last_gpu_busy_at DATETIME(6) NULL,
    ADD COLUMN extended_at      DATETIME(6) NULL,
    ADD COLUMN extension_s      INT         NOT NULL DEFAULT 0,
    ADD KEY sessions_from_snapshot (from_snapshot_id, status),
    ADD CONSTRAINT sessions_from_snapshot_fk FOREIGN KEY (from_snapshot_id) REFERENCES session_snapshots (id);

-- The GPU waitlist: one queue per exposure. queued_user_id makes "at most
-- one queued request per user" a database invariant. A request leaves the
-- queue granted (session_id is the session it got, created in the same
-- transaction that freed the GPU) or cancelled (by the user, or because it
-- could no longer be granted: reason says why).
CREATE TABLE session_queue (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    user_id          BIGINT       NOT NULL,
    exposure         ENUM('external', 'internal') NOT NULL,
    pack             VARCHAR(64)  NOT NULL,
    image            VARCHAR(512) NOT NULL,
    from_snapshot_id BIGINT       NULL,
    status           ENUM('queued', 'granted', 'cancelled') NOT NULL DEFAULT 'queued',
    queued_user_id   BIGINT AS (IF(status = 'queued', user_id, NULL)) STORED,
    session_id       BIGINT       NULL,
    reason           VARCHAR(256) NOT NULL DEFAULT '',
    created_at       DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    decided_at       DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY session_queue_one_per_user (queued_user_id),
    KEY session_queue_status (status, exposure, created_at),
    CONSTRAINT session_queue_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT session_queue_snapshot_fk FOREIGN KEY (from_snapshot_id) REFERENCES session_snapshots (id),
    CONSTRAINT session_queue_session_fk FOREIGN KEY (session_id) REFERENCES sessions (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row whose lock serializes every GPU allocation decision: a create,
-- and every transaction that frees a GPU (which hands it to the head of the
-- queue before committing). Without it a create could queue behind a GPU
-- freed by a transaction that saw no one waiting.
CREATE TABLE session_scheduler (
    id TINYINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;
INSERT INTO session_scheduler (id) VALUES (1);

-- +goose Down
DROP TABLE session_scheduler;
DROP TABLE session_queue;
ALTER TABLE sessions
    DROP FOREIGN KEY sessions_from_snapshot_fk,
    DROP KEY sessions_from_snapshot,
    DROP COLUMN from_snapshot_id,
    DROP COLUMN workspace_clone,
    DROP COLUMN last_gpu_busy_at,
    DROP COLUMN extended_at,
    DROP COLUMN extension_s;
DROP TABLE session_snapshots;
