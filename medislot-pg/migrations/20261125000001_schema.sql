-- MediSlot's schema. Every constraint is named: medislot-pg maps a violation to a typed error by
-- SQLSTATE and constraint name, never by message text.

-- A doctor's live slots never overlap: an exclusion constraint on (doctor_id =, time range &&)
-- needs btree_gist for the uuid equality inside a GiST index.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE doctors (
    id             uuid        NOT NULL,
    name           text        NOT NULL,
    specialization text        NOT NULL,
    timezone       text        NOT NULL,
    created_at     timestamptz NOT NULL,
    -- Soft delete: a deleted doctor's row stays so that booking history keeps its doctor.
    deleted_at     timestamptz,
    CONSTRAINT doctors_pkey PRIMARY KEY (id),
    CONSTRAINT doctors_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT doctors_specialization_not_blank CHECK (btrim(specialization) <> '')
);

-- list_doctors: live doctors by name (byte order, as Rust sorts strings), then id.
CREATE INDEX doctors_live_by_name ON doctors (name COLLATE "C", id) WHERE deleted_at IS NULL;
CREATE INDEX doctors_live_by_specialization ON doctors (lower(specialization))
    WHERE deleted_at IS NULL;

CREATE TABLE slots (
    id           uuid        NOT NULL,
    doctor_id    uuid        NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    -- Set when the slot is withdrawn (or its doctor deleted); the row stays for history.
    withdrawn_at timestamptz,
    CONSTRAINT slots_pkey PRIMARY KEY (id),
    CONSTRAINT slots_doctor_fk FOREIGN KEY (doctor_id) REFERENCES doctors (id) ON DELETE RESTRICT,
    CONSTRAINT slots_end_after_start CHECK (ends_at > starts_at),
    -- Half-open ranges ('[)'): slots that only touch do not overlap.
    CONSTRAINT slots_no_overlap EXCLUDE USING gist (
        doctor_id WITH =,
        tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (withdrawn_at IS NULL)
);

-- Availability listing: live slots by start then id (keyset pages), overall and per doctor.
CREATE INDEX slots_live_by_start ON slots (starts_at, id) WHERE withdrawn_at IS NULL;
CREATE INDEX slots_live_by_doctor ON slots (doctor_id, starts_at, id) WHERE withdrawn_at IS NULL;

CREATE TABLE bookings (
    id              uuid        NOT NULL,
    slot_id         uuid        NOT NULL,
    patient_id      uuid        NOT NULL,
    status          text        NOT NULL,
    hold_until      timestamptz,
    buffer_until    timestamptz,
    cancelled_by    text,
    cancel_reason   text,
    idempotency_key text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT bookings_pkey PRIMARY KEY (id),
    CONSTRAINT bookings_slot_fk FOREIGN KEY (slot_id) REFERENCES slots (id) ON DELETE RESTRICT,
    CONSTRAINT bookings_status_known
        CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'BUFFER', 'EXPIRED')),
    CONSTRAINT bookings_cancelled_by_known CHECK (cancelled_by IN ('patient', 'admin')),
    -- The fields each status needs, as medislot_core::BookingState::to_parts writes them.
    CONSTRAINT bookings_hold_until_when_held
        CHECK (status NOT IN ('PENDING', 'EXPIRED') OR hold_until IS NOT NULL),
    CONSTRAINT bookings_buffer_until_when_buffered
        CHECK (status <> 'BUFFER' OR (buffer_until IS NOT NULL AND cancelled_by = 'admin')),
    CONSTRAINT bookings_cancelled_by_when_cancelled
        CHECK (status <> 'CANCELLED' OR cancelled_by IS NOT NULL),
    -- A retried request with the same key finds the first booking; NULL keys never collide.
    CONSTRAINT bookings_idempotency_key_unique UNIQUE (patient_id, idempotency_key)
);

-- The rule no bug in Rust can break: at most one booking per slot in an occupying status.
CREATE UNIQUE INDEX bookings_one_active_per_slot ON bookings (slot_id)
    WHERE status IN ('PENDING', 'CONFIRMED', 'BUFFER');
-- A patient's bookings, newest first (ids are UUID v7, so time-ordered).
CREATE INDEX bookings_by_patient ON bookings (patient_id, id DESC);
-- A slot's bookings (history, and the slot filter of the admin's list).
CREATE INDEX bookings_by_slot ON bookings (slot_id, id DESC);
-- release_expired: only holds and buffers can lapse, each by its own time.
CREATE INDEX bookings_holds_by_end ON bookings (hold_until) WHERE status = 'PENDING';
CREATE INDEX bookings_buffers_by_end ON bookings (buffer_until) WHERE status = 'BUFFER';

CREATE TABLE accounts (
    id            uuid        NOT NULL,
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_role_known CHECK (role IN ('patient', 'admin'))
);

-- One account per address, whatever its case.
CREATE UNIQUE INDEX accounts_email_unique ON accounts (lower(email));
