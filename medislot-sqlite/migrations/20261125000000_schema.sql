-- MediSlot on SQLite: doctors, slots, bookings and accounts in one file.
--
-- Formats (see the crate docs):
-- * ids are UUIDs stored as 16-byte BLOBs (big-endian, so UUID v7 ids sort by creation time);
-- * instants are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC), so ORDER BY and range
--   comparisons on them are plain integer comparisons;
-- * statuses and roles are the core's stored spellings (`BookingStatus::as_str`, `Role::as_str`).
--
-- Every table is STRICT, so a value of the wrong type is refused instead of silently stored.
-- Deletes are refused by foreign keys (RESTRICT): history is never destroyed; doctors are marked
-- deleted and slots withdrawn instead.

CREATE TABLE doctors (
    id             BLOB    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    specialization TEXT    NOT NULL,
    timezone       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Set when the doctor was deleted; the row stays for the history of its bookings.
    deleted_at     INTEGER,
    CONSTRAINT doctors_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT doctors_name_not_empty CHECK (length(name) > 0),
    CONSTRAINT doctors_specialization_not_empty CHECK (length(specialization) > 0)
) STRICT;

-- Doctor listings filter on specialization ignoring (ASCII) case, as `DoctorFilter` does.
CREATE INDEX doctors_live_by_specialization
    ON doctors (specialization COLLATE NOCASE, name, id) WHERE deleted_at IS NULL;

CREATE TABLE slots (
    id           BLOB    NOT NULL PRIMARY KEY,
    doctor_id    BLOB    NOT NULL
        CONSTRAINT slots_doctor_fk REFERENCES doctors (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    starts_at    INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    -- Set when the slot was withdrawn (or its doctor deleted); its bookings stay.
    withdrawn_at INTEGER,
    CONSTRAINT slots_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT slots_end_after_start CHECK (ends_at > starts_at)
) STRICT;

-- Slot listings: live slots in listing order (start, then id), overall and per doctor. The
-- per-doctor index carries ends_at so the overlap check reads only the index.
CREATE INDEX slots_live_by_start ON slots (starts_at, id) WHERE withdrawn_at IS NULL;
CREATE INDEX slots_live_by_doctor
    ON slots (doctor_id, starts_at, id, ends_at) WHERE withdrawn_at IS NULL;
-- The target of bookings' (slot_id, doctor_id) foreign key.
CREATE UNIQUE INDEX slots_id_doctor ON slots (id, doctor_id);

-- No two live slots of one doctor overlap. SQLite has no exclusion constraint, so the store
-- checks this inside its write transaction (and names the refused slot); this trigger is the
-- backstop for any other writer. Live slots of a doctor never overlap, so their ends grow with
-- their starts: only the last live slot starting before the new one ends can reach into it.
CREATE TRIGGER slots_no_overlap_on_insert
BEFORE INSERT ON slots
WHEN NEW.withdrawn_at IS NULL AND (
    SELECT ends_at FROM slots
    WHERE doctor_id = NEW.doctor_id AND withdrawn_at IS NULL AND starts_at < NEW.ends_at
    ORDER BY starts_at DESC, id DESC
    LIMIT 1
) > NEW.starts_at
BEGIN
    SELECT RAISE(ABORT, 'slots_no_overlap');
END;

-- A slot's id, doctor and time never change after publishing, and a withdrawn slot stays so.
CREATE TRIGGER slots_immutable
BEFORE UPDATE OF id, doctor_id, starts_at, ends_at, created_at ON slots
WHEN NEW.id IS NOT OLD.id OR NEW.doctor_id IS NOT OLD.doctor_id
    OR NEW.starts_at IS NOT OLD.starts_at OR NEW.ends_at IS NOT OLD.ends_at
    OR NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'slots_immutable');
END;

CREATE TRIGGER slots_stay_withdrawn
BEFORE UPDATE OF withdrawn_at ON slots
WHEN OLD.withdrawn_at IS NOT NULL AND NEW.withdrawn_at IS NOT OLD.withdrawn_at
BEGIN
    SELECT RAISE(ABORT, 'slots_stay_withdrawn');
END;

CREATE TABLE bookings (
    id              BLOB    NOT NULL PRIMARY KEY,
    slot_id         BLOB    NOT NULL,
    -- The slot's doctor, copied so that a doctor's bookings are listed through an index; the
    -- foreign key below keeps it equal to the slot's (and slots never change doctor).
    doctor_id       BLOB    NOT NULL,
    patient_id      BLOB    NOT NULL,
    status          TEXT    NOT NULL,
    hold_until      INTEGER,
    buffer_until    INTEGER,
    cancelled_by    TEXT,
    cancel_reason   TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT bookings_slot_fk FOREIGN KEY (slot_id, doctor_id)
        REFERENCES slots (id, doctor_id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT bookings_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT bookings_patient_id_is_uuid CHECK (length(patient_id) = 16),
    CONSTRAINT bookings_status_known
        CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'BUFFER', 'EXPIRED')),
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
            ELSE 0
        END
    ),
    CONSTRAINT bookings_idempotency_key_not_empty
        CHECK (idempotency_key IS NULL OR length(idempotency_key) > 0),
    CONSTRAINT bookings_updated_after_created CHECK (updated_at >= created_at)
) STRICT;

-- The rule the whole engine exists for: at most one booking per slot in a status that may
-- occupy it. Whether it still occupies the slot at a given instant is read from hold_until /
-- buffer_until; a new booking first tidies a lapsed occupant to its final status.
CREATE UNIQUE INDEX bookings_one_active_per_slot
    ON bookings (slot_id) WHERE status IN ('PENDING', 'CONFIRMED', 'BUFFER');

-- A retried request with the same key returns the first booking instead of booking again.
CREATE UNIQUE INDEX bookings_patient_idempotency_key
    ON bookings (patient_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Booking listings, newest first (ids are time-ordered), by patient, by doctor and by slot.
CREATE INDEX bookings_by_patient ON bookings (patient_id, id);
CREATE INDEX bookings_by_doctor ON bookings (doctor_id, id);
CREATE INDEX bookings_by_slot ON bookings (slot_id, id);

-- release_expired: the holds and buffers that have lapsed.
CREATE INDEX bookings_holds ON bookings (hold_until) WHERE status = 'PENDING';
CREATE INDEX bookings_buffers ON bookings (buffer_until) WHERE status = 'BUFFER';

CREATE TABLE accounts (
    id            BLOB    NOT NULL PRIMARY KEY,
    -- Stored normalised (trimmed, lower-cased) by `Email::parse`.
    email         TEXT    NOT NULL CONSTRAINT accounts_email_unique UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    CONSTRAINT accounts_id_is_uuid CHECK (length(id) = 16),
    CONSTRAINT accounts_role_known CHECK (role IN ('patient', 'admin'))
) STRICT;
