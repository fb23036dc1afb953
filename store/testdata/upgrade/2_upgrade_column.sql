-- Test-only: store/upgrade_test.go numbers it after the newest embedded
-- migration. A change that fails when applied twice (the column exists),
-- on a table that holds data.
-- +goose Up
ALTER TABLE users ADD COLUMN upgrade_note VARCHAR(32) NULL;
INSERT INTO upgrade_probe (step, conn_id) VALUES ('alter', CONNECTION_ID());

-- +goose Down
ALTER TABLE users DROP COLUMN upgrade_note;
