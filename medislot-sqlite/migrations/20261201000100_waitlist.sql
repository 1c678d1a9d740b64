-- The waitlist: patients waiting for a slot of a doctor or of a specialization, in join order
-- (`joined_at`, then id). An entry's offer is an ordinary PENDING booking in the patient's name
-- (`offer_booking_id`), made by the mutation that freed the slot.

CREATE TABLE waitlist (
    id               BLOB    NOT NULL PRIMARY KEY,
    patient_id       BLOB    NOT NULL,
    -- Exactly one of doctor_id and specialization says what the entry waits for.
    doctor_id        BLOB
        CONSTRAINT waitlist_doctor_fk REFERENCES doctors (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    specialization   TEXT,
    -- A wanted slot starts in [window_from, window_to) and, when set, at a minute of the day
    -- (UTC) in [day_from, day_to).
    window_from      INTEGER NOT NULL,
    window_to        INTEGER NOT NULL,
    day_from         INTEGER,
    day_to           INTEGER,
    status           TEXT    NOT NULL,
    offer_booking_id BLOB
        CONSTRAINT waitlist_offer_fk REFERENCES bookings (id) ON DELETE RESTRICT ON UPDATE RESTRICT,
    offer_until      INTEGER,
    joined_at        INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CONSTRAINT waitlist_id_is_uuid CHECK (length(id) = 16),
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
) STRICT;

-- The first waiting entry that wants a slot walks one of these in join order: the doctor's, then
-- the specialization's (ignoring ASCII case, as doctor listings do). Listings of a doctor's or
-- a patient's active entries read the same way.
CREATE INDEX waitlist_active_by_doctor
    ON waitlist (doctor_id, joined_at, id) WHERE status IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_active_by_specialization
    ON waitlist (specialization COLLATE NOCASE, joined_at, id)
    WHERE status IN ('WAITING', 'OFFERED');
CREATE INDEX waitlist_active_by_patient
    ON waitlist (patient_id, joined_at, id) WHERE status IN ('WAITING', 'OFFERED');
-- One live offer is one entry's.
CREATE UNIQUE INDEX waitlist_one_entry_per_offer
    ON waitlist (offer_booking_id) WHERE status = 'OFFERED';

-- An entry only moves forward: waiting → offered or left; offered → booked, declined, lapsed
-- or left. So two mutations can never both offer one entry a slot (one offer at a time).
CREATE TRIGGER waitlist_moves_forward
BEFORE UPDATE OF status ON waitlist
WHEN NOT (
    (OLD.status = 'WAITING' AND NEW.status IN ('OFFERED', 'LEFT'))
    OR (OLD.status = 'OFFERED' AND NEW.status IN ('BOOKED', 'DECLINED', 'LAPSED', 'LEFT'))
)
BEGIN
    SELECT RAISE(ABORT, 'waitlist_moves_forward');
END;
