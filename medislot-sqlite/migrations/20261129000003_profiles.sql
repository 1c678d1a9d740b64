-- Doctor profiles: a short bio, the languages spoken, and where the appointment happens. The
-- core validates each part (`DoctorProfile::new`); an empty part says nothing, so a doctor made
-- before profiles existed reads back with the empty profile.
--
-- `languages` holds one language per line: a language never holds a control character, so a
-- line feed cannot be part of one.
ALTER TABLE doctors ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE doctors ADD COLUMN languages TEXT NOT NULL DEFAULT '';
ALTER TABLE doctors ADD COLUMN location TEXT NOT NULL DEFAULT '';
