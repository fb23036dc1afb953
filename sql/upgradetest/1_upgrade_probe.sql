-- Test-only, never released: store/upgrade_test.go and the stack test's
-- binary built with the upgradetest tag number it after the newest real
-- migration (migrations.WithExtra).
-- The first migration of a "newer image": it records which connection ran
-- it and takes a second, so two processes upgrading together overlap while
-- it runs.
-- +goose Up
CREATE TABLE upgrade_probe (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    step VARCHAR(32) NOT NULL,
    conn_id BIGINT NOT NULL
);
INSERT INTO upgrade_probe (step, conn_id) SELECT 'create', CONNECTION_ID() FROM (SELECT SLEEP(1) AS s) AS pause;

-- +goose Down
DROP TABLE upgrade_probe;
