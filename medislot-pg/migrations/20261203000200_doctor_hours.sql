-- A doctor's working hours (weekly rules and exceptions), one JSON document per doctor.
--
-- A document, not a table per rule: the hours are always read and replaced whole (a save
-- replaces every rule and exception at once, and generating slots needs all of them), never
-- queried by part; the core validates the document when it reads it back
-- (`DoctorHours::from_document`), as it validates a profile. Written only by a mutation that
-- holds the doctor's row lock (`Changes::hours`).
CREATE TABLE doctor_hours (
    doctor_id  uuid        NOT NULL,
    document   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT doctor_hours_pkey PRIMARY KEY (doctor_id),
    CONSTRAINT doctor_hours_doctor_fkey FOREIGN KEY (doctor_id) REFERENCES doctors (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT,
    CONSTRAINT doctor_hours_document_is_object CHECK (jsonb_typeof(document) = 'object')
);
