-- Reschedule: a confirmed booking moves to another slot in one transaction. The old booking
-- becomes RESCHEDULED and names the booking that took its place (rescheduled_to); the new
-- booking names the one it replaced (rescheduled_from).
--
-- SQLite cannot change a CHECK constraint in place, so the bookings table is rebuilt the way
-- SQLite's documentation describes (create the new table, copy, drop the old one, rename):
-- every column, constraint and index of 20261125000000_schema.sql is kept, the status list and
-- the per-status fields gain RESCHEDULED, and the two links are added. Nothing references the
-- bookings table yet, so dropping it breaks no foreign key.

CREATE TABLE bookings_new (
    id               BLOB    NOT NULL PRIMARY KEY,
    slot_id          BLOB    NOT NULL,
    -- The slot's doctor, copied so that a doctor's bookings are listed through an index; the
    -- foreign key below keeps it equal to the slot's (and slots never change doctor).
    doctor_id        BLOB    NOT NULL,
    patient_id       BLOB    NOT NULL,
    status           TEXT    NOT NULL,
    hold_until       INTEGER,
    buffer_until     INTEGER,
    cancelled_by     TEXT,
    cancel_reason    TEXT,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- Set on a RESCHEDULED booking: the booking that took its place. The old booking's new
    -- state is written before the new booking is inserted (the order of
    -- medislot_core::Changes), so this link is checked at commit.
    rescheduled_to   BLOB
        CONSTRAINT bookings_rescheduled_to_fk REFERENCES bookings (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT DEFERRABLE INITIALLY DEFERRED,
    -- Set on a booking made by a reschedule: the booking it replaced.
    rescheduled_from BLOB
        CONSTRAINT bookings_rescheduled_from_fk REFERENCES bookings (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT bookings_slot_fk FOREIGN KEY (slot_id, doctor_id)
        REFERENCES slots (id, doctor_id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT bookings_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT bookings_patient_id_is_uuid CHECK (length(patient_id) = 16),
    CONSTRAINT bookings_status_known CHECK (
        status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'BUFFER', 'EXPIRED', 'RESCHEDULED')
    ),
    CONSTRAINT bookings_cancelled_by_known CHECK (cancelled_by IN ('patient', 'admin')),
    -- The columns each status needs, as `BookingState::to_parts` writes them.
    CONSTRAINT bookings_state_fields CHECK (
        CASE status
            WHEN 'PENDING' THEN hold_until IS NOT NULL AND buffer_until IS NULL
                AND cancelled_by IS NULL AND cancel_reason IS NULL
            WHEN 'EXPIRED' THEN hold_until IS NOT NULL AND buffer_until IS NULL
                AND cancelled_by IS NULL AND cancel_reason IS NULL
            WHEN 'CONFIRMED' THEN hold_until IS NULL AND buffer_until IS NULL
                AND cancelled_by IS NULL AND cancel_reason IS NULL
            WHEN 'BUFFER' THEN hold_until IS NULL AND buffer_until IS NOT NULL
                AND cancelled_by IS 'admin'
            WHEN 'CANCELLED' THEN hold_until IS NULL AND cancelled_by IS NOT NULL
            WHEN 'RESCHEDULED' THEN hold_until IS NULL AND buffer_until IS NULL
                AND cancelled_by IS NULL AND cancel_reason IS NULL
            ELSE 0
        END
    ),
    -- A RESCHEDULED booking always names its successor, and only it does.
    CONSTRAINT bookings_rescheduled_to_when_rescheduled
        CHECK ((status = 'RESCHEDULED') = (rescheduled_to IS NOT NULL)),
    CONSTRAINT bookings_rescheduled_to_is_uuid
        CHECK (rescheduled_to IS NULL OR length(rescheduled_to) = 16),
    CONSTRAINT bookings_rescheduled_from_is_uuid
        CHECK (rescheduled_from IS NULL OR length(rescheduled_from) = 16),
    CONSTRAINT bookings_idempotency_key_not_empty
        CHECK (idempotency_key IS NULL OR length(idempotency_key) > 0),
    CONSTRAINT bookings_updated_after_created CHECK (updated_at >= created_at)
) STRICT;

INSERT INTO bookings_new (id, slot_id, doctor_id, patient_id, status, hold_until, buffer_until,
    cancelled_by, cancel_reason, idempotency_key, created_at, updated_at)
SELECT id, slot_id, doctor_id, patient_id, status, hold_until, buffer_until, cancelled_by,
    cancel_reason, idempotency_key, created_at, updated_at
FROM bookings;

DROP TABLE bookings;
ALTER TABLE bookings_new RENAME TO bookings;

-- The indexes of 20261125000000_schema.sql, dropped with the old table.
CREATE UNIQUE INDEX bookings_one_active_per_slot
    ON bookings (slot_id) WHERE status IN ('PENDING', 'CONFIRMED', 'BUFFER');
CREATE UNIQUE INDEX bookings_patient_idempotency_key
    ON bookings (patient_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bookings_by_patient ON bookings (patient_id, id);
CREATE INDEX bookings_by_doctor ON bookings (doctor_id, id);
CREATE INDEX bookings_by_slot ON bookings (slot_id, id);
CREATE INDEX bookings_holds ON bookings (hold_until) WHERE status = 'PENDING';
CREATE INDEX bookings_buffers ON bookings (buffer_until) WHERE status = 'BUFFER';

-- A booking is moved at most once: one successor per booking.
CREATE UNIQUE INDEX bookings_rescheduled_once
    ON bookings (rescheduled_from) WHERE rescheduled_from IS NOT NULL;
