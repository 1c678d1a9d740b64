-- Sessions that every instance sharing this database sees alike, the login throttle, and the
-- patient's profile.
--
-- * `session_generation`: a session token carries the generation it was issued under; raising
--   it (new password, "sign out everywhere") ends every earlier session at once.
-- * `revoked_sessions`: single sessions ended by logout, kept until they would have expired,
--   then pruned by the server's sweeper. No foreign key: a logout outlives nothing it refers to.
-- * `failed_logins`, `locked_until`: consecutive failed sign-ins and the lock they set.
-- * `phone` (`+` and digits, `PhoneNumber`), `time_zone` (an IANA name): optional profile.
ALTER TABLE accounts
    ADD COLUMN session_generation bigint      NOT NULL DEFAULT 0,
    ADD COLUMN failed_logins      integer     NOT NULL DEFAULT 0,
    ADD COLUMN locked_until       timestamptz,
    ADD COLUMN phone              text,
    ADD COLUMN time_zone          text,
    ADD CONSTRAINT accounts_failed_logins_not_negative CHECK (failed_logins >= 0);

CREATE TABLE revoked_sessions (
    id         uuid        NOT NULL,
    account_id uuid        NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT revoked_sessions_pkey PRIMARY KEY (id)
);

-- The sweeper deletes by expiry.
CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);
