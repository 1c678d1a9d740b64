-- Sessions that every instance sharing this file sees alike, the login throttle, and the
-- patient's profile.
--
-- * `session_generation`: a session token carries the generation it was issued under; raising
--   it (new password, "sign out everywhere") ends every earlier session at once.
-- * `revoked_sessions`: single sessions ended by logout, kept until they would have expired
--   (`expires_at`, microseconds), then pruned by the server's sweeper.
-- * `failed_logins`, `locked_until`: consecutive failed sign-ins and the lock they set.
-- * `phone` (`+` and digits, `PhoneNumber`), `time_zone` (an IANA name): optional profile.
ALTER TABLE accounts ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN locked_until INTEGER;
ALTER TABLE accounts ADD COLUMN phone TEXT;
ALTER TABLE accounts ADD COLUMN time_zone TEXT;

CREATE TABLE revoked_sessions (
    id         BLOB    NOT NULL PRIMARY KEY,
    account_id BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    CONSTRAINT revoked_sessions_id_is_uuid CHECK (length(id) = 16)
) STRICT;

-- The sweeper deletes by expiry.
CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);
