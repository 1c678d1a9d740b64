-- Doctor profiles: a short bio, the languages spoken, and where the appointment happens. The
-- core validates each part (`DoctorProfile::new`); an empty part says nothing, so a doctor made
-- before profiles existed reads back with the empty profile.
ALTER TABLE doctors
    ADD COLUMN bio       text   NOT NULL DEFAULT '',
    ADD COLUMN languages text[] NOT NULL DEFAULT '{}',
    ADD COLUMN location  text   NOT NULL DEFAULT '';
