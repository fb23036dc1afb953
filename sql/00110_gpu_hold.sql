-- A GPU can be held back from allocation for a while: on Kubernetes, when
-- the scheduler could not place a session's Pod on the GPU's node (its
-- capacity is taken by Pods MedForge does not manage), the session goes
-- back to the waitlist and its GPU row is held until held_until, so the
-- hand-off does not give the same unusable GPU straight back. held_reason
-- is shown on the admin GPU page.
-- +goose Up
ALTER TABLE gpu_devices
    ADD COLUMN held_until  DATETIME(6)   NULL,
    ADD COLUMN held_reason VARCHAR(1024) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE gpu_devices
    DROP COLUMN held_until,
    DROP COLUMN held_reason;
