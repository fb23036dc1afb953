-- +goose Up
-- One GPU waitlist per exposure (issue 14): a user may wait in the EXTERNAL
-- queue and the INTERNAL queue at once, with at most one queued request in
-- each. The unique key moves from the user to (user, exposure); rows that are
-- not queued still have queued_user_id NULL and never collide.
ALTER TABLE session_queue
    ADD UNIQUE KEY session_queue_one_per_user_exposure (queued_user_id, exposure),
    DROP KEY session_queue_one_per_user;

-- +goose Down
-- Back to one queued request per user: a user waiting in both queues keeps
-- the older request; the newer one is cancelled with a reason.
UPDATE session_queue q
JOIN session_queue o ON o.queued_user_id = q.queued_user_id AND o.id < q.id
SET q.status = 'cancelled', q.reason = 'one queued request per user (migration rollback)', q.decided_at = CURRENT_TIMESTAMP(6)
WHERE q.status = 'queued';
ALTER TABLE session_queue
    ADD UNIQUE KEY session_queue_one_per_user (queued_user_id),
    DROP KEY session_queue_one_per_user_exposure;
