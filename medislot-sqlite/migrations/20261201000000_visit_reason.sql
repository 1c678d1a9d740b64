-- The patient's reason for the visit: optional free text given when booking or holding, kept
-- when the booking is rescheduled. The core trims it, refuses control characters other than tab
-- and line breaks, and stores none rather than an empty text; the check backs the length up.
ALTER TABLE bookings
    ADD COLUMN visit_reason TEXT
        CHECK (visit_reason IS NULL OR length(visit_reason) BETWEEN 1 AND 500);
