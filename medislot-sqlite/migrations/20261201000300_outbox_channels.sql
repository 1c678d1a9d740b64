-- Each message is queued once per channel that carries it (medislot_core::Channel: a webhook, an
-- email), and each channel's delivery is tracked on its own: the outbox's key becomes
-- (entry_id, channel). Messages queued before this migration were for webhooks only.
CREATE TABLE outbox_by_channel (
    entry_id      BLOB    NOT NULL
        CONSTRAINT outbox_entry_fk REFERENCES journal (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    channel       TEXT    NOT NULL
        CONSTRAINT outbox_channel_known CHECK (channel IN ('webhook', 'email')),
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

INSERT INTO outbox_by_channel
    (entry_id, channel, at, attempts, due_at, claimed_until, delivered_at, dead_at, last_error)
SELECT entry_id, 'webhook', at, attempts, due_at, claimed_until, delivered_at, dead_at, last_error
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_by_channel RENAME TO outbox;

-- What a channel's deliverer claims: its pending messages by due instant.
CREATE INDEX outbox_pending_by_due ON outbox (channel, due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
-- The admin's listing of one channel, in journal order.
CREATE INDEX outbox_by_time ON outbox (channel, at, entry_id);
