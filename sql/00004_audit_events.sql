-- +goose Up
-- Append-only record of security-relevant actions. actor_user_id is NULL for
-- host-side commands (medforge user ...) and anonymous requests.
CREATE TABLE audit_events (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    actor_user_id BIGINT       NULL,
    action        VARCHAR(64)  NOT NULL,
    target_type   VARCHAR(64)  NOT NULL DEFAULT '',
    target_id     VARCHAR(128) NOT NULL DEFAULT '',
    request_id    VARCHAR(64)  NOT NULL DEFAULT '',
    ip            VARCHAR(64)  NOT NULL DEFAULT '',
    detail        VARCHAR(1024) NOT NULL DEFAULT '',
    created_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY audit_events_actor (actor_user_id, created_at),
    KEY audit_events_action (action, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE audit_events;
