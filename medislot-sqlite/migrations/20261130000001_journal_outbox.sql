-- The journal (the audit trail) and the outbox, written by the unit of work in the same
-- transaction as the changes they record (medislot_core::journal, medislot_core::outbox).
-- Formats as in the first migration: ids 16-byte BLOBs, instants INTEGER microseconds.
--
-- Journal entries are never changed or removed: the triggers below refuse UPDATE and DELETE.

CREATE TABLE journal (
    id                 BLOB    NOT NULL PRIMARY KEY,
    at                 INTEGER NOT NULL,
    kind               TEXT    NOT NULL,
    actor_kind         TEXT    NOT NULL,
    actor_id           BLOB,
    doctor_id          BLOB,
    slot_id            BLOB,
    booking_id         BLOB,
    patient_id         BLOB,
    related_booking_id BLOB,
    from_status        TEXT,
    to_status          TEXT,
    reason             TEXT,
    request_id         TEXT,
    CONSTRAINT journal_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT journal_actor_known CHECK (
        (actor_kind = 'patient' AND actor_id IS NOT NULL)
        OR actor_kind = 'admin'
        OR (actor_kind = 'system' AND actor_id IS NULL)
    )
) STRICT;

CREATE INDEX journal_by_time ON journal (at, id);
CREATE INDEX journal_by_booking ON journal (booking_id, at, id) WHERE booking_id IS NOT NULL;
CREATE INDEX journal_by_patient ON journal (patient_id, at, id) WHERE patient_id IS NOT NULL;
CREATE INDEX journal_by_doctor ON journal (doctor_id, at, id) WHERE doctor_id IS NOT NULL;

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN
    SELECT RAISE(ABORT, 'journal entries are never changed or removed');
END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
    SELECT RAISE(ABORT, 'journal entries are never changed or removed');
END;

CREATE TABLE outbox (
    entry_id      BLOB    NOT NULL PRIMARY KEY
        CONSTRAINT outbox_entry_fk REFERENCES journal (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    at            INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER,
    delivered_at  INTEGER,
    dead_at       INTEGER,
    last_error    TEXT,
    CONSTRAINT outbox_attempts_not_negative CHECK (attempts >= 0)
) STRICT;

CREATE INDEX outbox_pending_by_due ON outbox (due_at, entry_id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_by_time ON outbox (at, entry_id);
