-- Test-only, never released: store/upgrade_test.go and the stack test's
-- binary built with the upgradetest tag number it after the newest real
-- migration (migrations.WithExtra).
-- A change that fails when applied twice (the column exists), on a table
-- that holds data.
-- +goose Up
ALTER TABLE users ADD COLUMN upgrade_note VARCHAR(32) NULL;
INSERT INTO upgrade_probe (step, conn_id) VALUES ('alter', CONNECTION_ID());

-- +goose Down
ALTER TABLE users DROP COLUMN upgrade_note;
