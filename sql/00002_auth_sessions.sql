-- +goose Up
-- A browser login. Only the SHA-256 of the cookie token is stored: a copy of
-- this table cannot be replayed as a cookie.
CREATE TABLE auth_sessions (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    user_id      BIGINT       NOT NULL,
    token_hash   BINARY(32)   NOT NULL,
    created_at   DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at   DATETIME(6)  NOT NULL,
    last_seen_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    user_agent   VARCHAR(512) NOT NULL DEFAULT '',
    ip           VARCHAR(64)  NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY auth_sessions_token_hash (token_hash),
    KEY auth_sessions_user (user_id),
    KEY auth_sessions_expires (expires_at),
    CONSTRAINT auth_sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE auth_sessions;
