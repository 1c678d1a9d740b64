-- A withdrawn message (medislot_core::MessageState::Withdrawn: a reminder whose booking was
-- cancelled or moved) has a state of its own instead of passing as delivered. Messages withdrawn
-- before this migration were marked delivered with a last error starting "withdrawn:"; they are
-- moved to the new column. A message is settled one way at most.
ALTER TABLE outbox ADD COLUMN withdrawn_at timestamptz;

UPDATE outbox SET withdrawn_at = delivered_at, delivered_at = NULL, last_error = NULL
WHERE delivered_at IS NOT NULL AND last_error LIKE 'withdrawn:%';

ALTER TABLE outbox ADD CONSTRAINT outbox_settled_once CHECK (
    (delivered_at IS NOT NULL)::int + (dead_at IS NOT NULL)::int + (withdrawn_at IS NOT NULL)::int <= 1
);

-- What a deliverer claims: pending messages by due instant (withdrawn ones left out).
DROP INDEX outbox_pending_by_due;
CREATE INDEX outbox_pending_by_due ON outbox (channel, due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND withdrawn_at IS NULL;
