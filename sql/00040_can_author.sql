-- +goose Up
-- can_author: an admin-granted entitlement to create and publish EXTERNAL
-- competitions through /api/v2/author (issue 12).
ALTER TABLE users ADD COLUMN can_author BOOLEAN NOT NULL DEFAULT FALSE AFTER can_use_internal;

-- +goose Down
ALTER TABLE users DROP COLUMN can_author;
