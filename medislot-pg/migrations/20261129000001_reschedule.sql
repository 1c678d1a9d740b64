-- Reschedule: a confirmed booking moves to another slot in one transaction. The old booking
-- becomes RESCHEDULED and names the booking that took its place (rescheduled_to); the new
-- booking names the one it replaced (rescheduled_from).
ALTER TABLE bookings
    ADD COLUMN rescheduled_to   uuid,
    ADD COLUMN rescheduled_from uuid,
    DROP CONSTRAINT bookings_status_known,
    ADD CONSTRAINT bookings_status_known CHECK (
        status IN ('PENDING', 'CONFIRMED', 'CANCELLED', 'BUFFER', 'EXPIRED', 'RESCHEDULED')
    ),
    -- The old booking's new state is written before the new booking is inserted (the order of
    -- medislot_core::Changes), so this link is checked at commit.
    ADD CONSTRAINT bookings_rescheduled_to_fk FOREIGN KEY (rescheduled_to)
        REFERENCES bookings (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
    ADD CONSTRAINT bookings_rescheduled_from_fk FOREIGN KEY (rescheduled_from)
        REFERENCES bookings (id) ON DELETE RESTRICT,
    -- A RESCHEDULED booking always names its successor, and only it does.
    ADD CONSTRAINT bookings_rescheduled_to_when_rescheduled
        CHECK ((status = 'RESCHEDULED') = (rescheduled_to IS NOT NULL)),
    -- A booking is moved at most once: one successor per booking.
    ADD CONSTRAINT bookings_rescheduled_once UNIQUE (rescheduled_from);
