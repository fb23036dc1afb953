-- +goose Up
-- GPUs this host lends to sessions, synced at start from the GPU provider
-- (NVML, or a declared list on hosts without NVIDIA: provider says which).
-- id is the device index. A GPU that fails the health gate is disabled with
-- a reason; only an admin enables it again.
CREATE TABLE gpu_devices (
    id              INT          NOT NULL,
    uuid            VARCHAR(96)  NOT NULL DEFAULT '',
    name            VARCHAR(128) NOT NULL DEFAULT '',
    memory_bytes    BIGINT       NOT NULL DEFAULT 0,
    provider        VARCHAR(16)  NOT NULL,
    present         BOOLEAN      NOT NULL DEFAULT TRUE,
    enabled         BOOLEAN      NOT NULL DEFAULT TRUE,
    disabled_reason VARCHAR(512) NOT NULL DEFAULT '',
    updated_at      DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One GPU dev session. Active statuses are starting, running and stopping;
-- stopped and error are terminal. active_gpu_id holds gpu_id only while the
-- session is active, and its unique index makes two active sessions on one
-- GPU impossible whatever the application does (NULLs do not collide).
CREATE TABLE sessions (
    id                BIGINT        NOT NULL AUTO_INCREMENT,
    slug              VARCHAR(32)   NOT NULL,
    user_id           BIGINT        NOT NULL,
    exposure          ENUM('external', 'internal') NOT NULL,
    pack              VARCHAR(64)   NOT NULL,
    image             VARCHAR(512)  NOT NULL,
    gpu_id            INT           NOT NULL,
    status            ENUM('starting', 'running', 'stopping', 'stopped', 'error') NOT NULL DEFAULT 'starting',
    active_gpu_id     INT AS (IF(status IN ('starting', 'running', 'stopping'), gpu_id, NULL)) STORED,
    container_id      VARCHAR(128)  NOT NULL DEFAULT '',
    workspace         VARCHAR(512)  NOT NULL DEFAULT '',
    snapshot          VARCHAR(512)  NOT NULL DEFAULT '',
    stop_reason       VARCHAR(32)   NOT NULL DEFAULT '',
    error_reason      VARCHAR(1024) NOT NULL DEFAULT '',
    created_at        DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at        DATETIME(6)   NULL,
    stop_requested_at DATETIME(6)   NULL,
    ended_at          DATETIME(6)   NULL,
    last_activity_at  DATETIME(6)   NULL,
    PRIMARY KEY (id),
    UNIQUE KEY sessions_slug (slug),
    UNIQUE KEY sessions_active_gpu (active_gpu_id),
    KEY sessions_user_status (user_id, status),
    KEY sessions_status (status),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT sessions_gpu_fk FOREIGN KEY (gpu_id) REFERENCES gpu_devices (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE sessions;
DROP TABLE gpu_devices;
