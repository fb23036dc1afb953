-- +goose Up
CREATE TABLE users (
    id                      BIGINT       NOT NULL AUTO_INCREMENT,
    email                   VARCHAR(254) NOT NULL,
    password_hash           VARCHAR(255) NOT NULL,
    role                    ENUM('user', 'admin') NOT NULL DEFAULT 'user',
    can_use_internal        BOOLEAN      NOT NULL DEFAULT FALSE,
    max_concurrent_sessions INT          NOT NULL DEFAULT 1,
    display_name            VARCHAR(128) NOT NULL DEFAULT '',
    created_at              DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at              DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY users_email (email),
    KEY users_updated_at (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE users;
