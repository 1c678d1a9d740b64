-- The waitlist: patients waiting for a slot of a doctor or of a specialization, in join order
-- (joined_at, then id). An entry's offer is an ordinary PENDING booking in the patient's name
-- (offer_booking_id), made by the mutation that freed the slot.

CREATE TABLE waitlist (
    id               uuid        NOT NULL PRIMARY KEY,
    patient_id       uuid        NOT NULL,
    -- Exactly one of doctor_id and specialization says what the entry waits for.
    doctor_id        uuid
        CONSTRAINT waitlist_doctor_fk REFERENCES doctors (id) ON DELETE RESTRICT,
    specialization   text,
    -- A wanted slot starts in [window_from, window_to) and, when set, at a minute of the day
    -- (UTC) in [day_from, day_to).
    window_from      timestamptz NOT NULL,
    window_to        timestamptz NOT NULL,
    day_from         integer,
    day_to           integer,
    status           text        NOT NULL,
    offer_booking_id uuid
        CONSTRAINT waitlist_offer_fk REFERENCES bookings (id) ON DELETE RESTRICT,
    offer_until      timestamptz,
    joined_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT waitlist_one_target CHECK ((doctor_id IS NULL) <> (specialization IS NULL)),
    CONSTRAINT waitlist_window_ends_after_start CHECK (window_to > window_from),
    CONSTRAINT waitlist_time_of_day CHECK (
        (day_from IS NULL AND day_to IS NULL)
        OR (day_from >= 0 AND day_from < day_to AND day_to <= 1440)
    ),
    CONSTRAINT waitlist_status CHECK (
        status IN ('WAITING', 'OFFERED', 'BOOKED', 'DECLINED', 'LAPSED', 'LEFT')
    ),
    CONSTRAINT waitlist_offer_columns CHECK (
        ((status = 'OFFERED') = (offer_until IS NOT NULL))
        AND ((status IN ('WAITING', 'LEFT')) = (offer_booking_id IS NULL))
    )
);

-- The first waiting entry that wants a slot walks one of these in join order: the doctor's, or
-- the specialization's (lower-cased, as doctor listings compare). Listings of a doctor's or a
-- patient's active entries read the same way.
CREATE INDEX waitlist_active_by_doctor
    ON waitlist (doctor_id, joined_at, id) WHERE status IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_active_by_specialization
    ON waitlist (lower(specialization), joined_at, id) WHERE status IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_active_by_patient
    ON waitlist (patient_id, joined_at, id) WHERE status IN ('WAITING', 'OFFERED');
-- One live offer is one entry's.
CREATE UNIQUE INDEX waitlist_one_entry_per_offer
    ON waitlist (offer_booking_id) WHERE status = 'OFFERED';

-- An entry only moves forward: waiting → offered or left; offered → booked, declined, lapsed or
-- left. Entries are read without a lock, so two transactions may both decide to move one entry
-- from the state they read; the second to write finds the first's state and is refused with a
-- serialization failure, which the store retries with fresh reads. So an entry never holds two
-- offers, and the first in line is never skipped.
CREATE FUNCTION waitlist_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (
        (OLD.status = 'WAITING' AND NEW.status IN ('OFFERED', 'LEFT'))
        OR (OLD.status = 'OFFERED' AND NEW.status IN ('BOOKED', 'DECLINED', 'LAPSED', 'LEFT'))
    ) THEN
        RAISE EXCEPTION 'waitlist entry % cannot move from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'serialization_failure', CONSTRAINT = 'waitlist_moves_forward';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER waitlist_moves_forward
BEFORE UPDATE OF status ON waitlist
FOR EACH ROW EXECUTE FUNCTION waitlist_moves_forward();
