-- Account changes in the audit trail, and password reset tokens (medislot_core::password_reset).
-- Formats as in the first migration: ids 16-byte BLOBs, instants INTEGER microseconds.
--
-- A role change or a password reset is a journal entry naming the account concerned and, for
-- a role change, both roles. The journal's append-only triggers cover the new columns too.

ALTER TABLE journal ADD COLUMN account_id BLOB
    CONSTRAINT journal_account_id_is_uuid CHECK (account_id IS NULL OR length(account_id) = 16);
ALTER TABLE journal ADD COLUMN from_role TEXT
    CONSTRAINT journal_from_role_known CHECK (from_role IN ('patient', 'admin'));
ALTER TABLE journal ADD COLUMN to_role TEXT
    CONSTRAINT journal_to_role_known CHECK (to_role IN ('patient', 'admin'));

-- The audit filtered by account.
CREATE INDEX journal_by_account ON journal (account_id, at, id) WHERE account_id IS NOT NULL;

-- Only the SHA-256 of each token (64 hex digits) is kept: the token is in the email alone.
CREATE TABLE password_resets (
    token_hash TEXT    NOT NULL,
    account_id BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    CONSTRAINT password_resets_pkey PRIMARY KEY (token_hash),
    CONSTRAINT password_resets_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT password_resets_hash_is_sha256_hex CHECK (
        length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'
    ),
    CONSTRAINT password_resets_expire_after_creation CHECK (expires_at >= created_at)
) STRICT;

-- A redeem ends the account's other unused tokens.
CREATE INDEX password_resets_unused_by_account ON password_resets (account_id)
    WHERE used_at IS NULL;
