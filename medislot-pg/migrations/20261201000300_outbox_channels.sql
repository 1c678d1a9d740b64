-- Each message is queued once per channel that carries it (medislot_core::Channel: a webhook, an
-- email), and each channel's delivery is tracked on its own: the outbox's key becomes
-- (entry_id, channel). Messages queued before this migration were for webhooks only.
ALTER TABLE outbox ADD COLUMN channel text NOT NULL DEFAULT 'webhook'
    CONSTRAINT outbox_channel_known CHECK (channel IN ('webhook', 'email'));
ALTER TABLE outbox ALTER COLUMN channel DROP DEFAULT;
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey,
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (entry_id, channel);

-- What a channel's deliverer claims: its pending messages by due instant.
DROP INDEX outbox_pending_by_due;
CREATE INDEX outbox_pending_by_due ON outbox (channel, due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
-- The admin's listing of one channel, in journal order.
DROP INDEX outbox_by_time;
CREATE INDEX outbox_by_time ON outbox (channel, at, entry_id);
