-- A withdrawn message (medislot_core::MessageState::Withdrawn: a reminder whose booking was
-- cancelled or moved) has a state of its own instead of passing as delivered. Messages withdrawn
-- before this migration were marked delivered with a last error starting "withdrawn:"; they are
-- moved to the new column. SQLite cannot add a CHECK constraint to a table in place, so the
-- "settled one way at most" rule is a trigger here.
ALTER TABLE outbox ADD COLUMN withdrawn_at INTEGER;

UPDATE outbox SET withdrawn_at = delivered_at, delivered_at = NULL, last_error = NULL
WHERE delivered_at IS NOT NULL AND last_error LIKE 'withdrawn:%';

CREATE TRIGGER outbox_settled_once BEFORE UPDATE ON outbox
WHEN (NEW.delivered_at IS NOT NULL) + (NEW.dead_at IS NOT NULL) + (NEW.withdrawn_at IS NOT NULL) > 1
BEGIN
    SELECT RAISE(ABORT, 'outbox_settled_once');
END;

-- What a channel's deliverer claims: its pending messages by due instant (withdrawn ones left
-- out).
DROP INDEX outbox_pending_by_due;
CREATE INDEX outbox_pending_by_due ON outbox (channel, due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND withdrawn_at IS NULL;
