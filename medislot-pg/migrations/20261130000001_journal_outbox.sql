-- The journal (the audit trail) and the outbox, written by the unit of work in the same
-- transaction as the changes they record (medislot_core::journal, medislot_core::outbox).
--
-- Journal entries are never changed or removed: the triggers below refuse UPDATE, DELETE and
-- TRUNCATE for every role, so not even a careless manual edit rewrites history. Entries name
-- doctors, slots and bookings by id without foreign keys: the audit trail outlives nothing, it
-- only must not be rewritten.

CREATE TABLE journal (
    id                 uuid        NOT NULL,
    at                 timestamptz NOT NULL,
    kind               text        NOT NULL,
    actor_kind         text        NOT NULL,
    actor_id           uuid,
    doctor_id          uuid,
    slot_id            uuid,
    booking_id         uuid,
    patient_id         uuid,
    related_booking_id uuid,
    from_status        text,
    to_status          text,
    reason             text,
    request_id         text,
    CONSTRAINT journal_pkey PRIMARY KEY (id),
    CONSTRAINT journal_actor_known CHECK (
        (actor_kind = 'patient' AND actor_id IS NOT NULL)
        OR actor_kind = 'admin'
        OR (actor_kind = 'system' AND actor_id IS NULL)
    )
);

-- Listing order (instant, then id) and the filters an admin uses.
CREATE INDEX journal_by_time ON journal (at, id);
CREATE INDEX journal_by_booking ON journal (booking_id, at, id) WHERE booking_id IS NOT NULL;
CREATE INDEX journal_by_patient ON journal (patient_id, at, id) WHERE patient_id IS NOT NULL;
CREATE INDEX journal_by_doctor ON journal (doctor_id, at, id) WHERE doctor_id IS NOT NULL;

CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal entries are never changed or removed'
        USING ERRCODE = 'restrict_violation', CONSTRAINT = 'journal_append_only';
END
$$;

CREATE TRIGGER journal_no_update_or_delete
    BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_no_truncate
    BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- One message per journal entry that tells someone something, with its delivery state.
CREATE TABLE outbox (
    entry_id      uuid        NOT NULL,
    at            timestamptz NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    due_at        timestamptz NOT NULL,
    claimed_until timestamptz,
    delivered_at  timestamptz,
    dead_at       timestamptz,
    last_error    text,
    CONSTRAINT outbox_pkey PRIMARY KEY (entry_id),
    CONSTRAINT outbox_entry_fk FOREIGN KEY (entry_id) REFERENCES journal (id),
    CONSTRAINT outbox_attempts_not_negative CHECK (attempts >= 0)
);

-- What a deliverer claims: pending messages by due instant.
CREATE INDEX outbox_pending_by_due ON outbox (due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
-- The admin's listing, in journal order.
CREATE INDEX outbox_by_time ON outbox (at, entry_id);
