-- A third outbox channel (medislot_core::Channel::Broker): every message is also published to a
-- broker (NATS JetStream in the server), each copy delivered and settled on its own. Messages
-- queued before this migration have no broker copy. SQLite cannot change a CHECK constraint in
-- place: the table is copied into one that names the new channel.
CREATE TABLE outbox_with_broker (
    entry_id      BLOB    NOT NULL
        CONSTRAINT outbox_entry_fk REFERENCES journal (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    channel       TEXT    NOT NULL
        CONSTRAINT outbox_channel_known CHECK (channel IN ('webhook', 'email', 'broker')),
    at            INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER,
    delivered_at  INTEGER,
    dead_at       INTEGER,
    last_error    TEXT,
    CONSTRAINT outbox_pkey PRIMARY KEY (entry_id, channel),
    CONSTRAINT outbox_attempts_not_negative CHECK (attempts >= 0)
) STRICT;

INSERT INTO outbox_with_broker
    (entry_id, channel, at, attempts, due_at, claimed_until, delivered_at, dead_at, last_error)
SELECT entry_id, channel, at, attempts, due_at, claimed_until, delivered_at, dead_at, last_error
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_with_broker RENAME TO outbox;

-- What a channel's deliverer claims: its pending messages by due instant.
CREATE INDEX outbox_pending_by_due ON outbox (channel, due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
-- The admin's listing of one channel, in journal order.
CREATE INDEX outbox_by_time ON outbox (channel, at, entry_id);
