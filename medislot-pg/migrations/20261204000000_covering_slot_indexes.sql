-- The listings read every column of a slot they walk: with those columns in the index, a walk
-- along `slots_live_by_start` or `slots_live_by_doctor` is an index-only scan, and its cost no
-- longer depends on where the slots' rows lie in the table. (Slots published doctor by doctor
-- lie doctor by doctor; a listing by start then touched one table page per slot it passed:
-- 204 pages for a page of 50 free cardiology slots among 1,000,000.) Booking a slot locks its
-- row, which leaves its page all-visible, so the walk stays index-only under bookings.
--
-- Rebuilding takes a lock that blocks slot writes for as long as it runs (seconds on a million
-- slots): see the CHANGELOG's upgrade notes.
DROP INDEX slots_live_by_start;
CREATE INDEX slots_live_by_start ON slots (starts_at, id) INCLUDE (doctor_id, ends_at, created_at)
    WHERE withdrawn_at IS NULL;
DROP INDEX slots_live_by_doctor;
CREATE INDEX slots_live_by_doctor ON slots (doctor_id, starts_at, id) INCLUDE (ends_at, created_at)
    WHERE withdrawn_at IS NULL;
