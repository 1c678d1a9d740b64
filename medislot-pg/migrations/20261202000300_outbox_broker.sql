-- A third outbox channel (medislot_core::Channel::Broker): every message is also published to a
-- broker (NATS JetStream in the server), each copy delivered and settled on its own. Messages
-- queued before this migration have no broker copy.
ALTER TABLE outbox DROP CONSTRAINT outbox_channel_known,
    ADD CONSTRAINT outbox_channel_known CHECK (channel IN ('webhook', 'email', 'broker'));
