-- Account changes in the audit trail, and password reset tokens (medislot_core::password_reset).
--
-- A role change or a password reset is a journal entry naming the account concerned and, for
-- a role change, both roles. The journal's append-only triggers cover the new columns too.

ALTER TABLE journal
    ADD COLUMN account_id uuid,
    ADD COLUMN from_role text
        CONSTRAINT journal_from_role_known CHECK (from_role IN ('patient', 'admin')),
    ADD COLUMN to_role text
        CONSTRAINT journal_to_role_known CHECK (to_role IN ('patient', 'admin'));

-- The audit filtered by account.
CREATE INDEX journal_by_account ON journal (account_id, at, id) WHERE account_id IS NOT NULL;

-- Only the SHA-256 of each token (64 hex digits) is kept: the token is in the email alone.
CREATE TABLE password_resets (
    token_hash text        NOT NULL,
    account_id uuid        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CONSTRAINT password_resets_pkey PRIMARY KEY (token_hash),
    CONSTRAINT password_resets_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT password_resets_hash_is_sha256_hex CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT password_resets_expire_after_creation CHECK (expires_at >= created_at)
);

-- A redeem ends the account's other unused tokens.
CREATE INDEX password_resets_unused_by_account ON password_resets (account_id)
    WHERE used_at IS NULL;
