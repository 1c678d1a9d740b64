//! Password reset tokens as stores keep them: only a hash of each token (the token itself is
//! 256 random bits, so SHA-256 needs no salt or stretching), the account it resets, when it
//! expires and when it was used. Redeeming one is one [`AccountStore`](crate::AccountStore)
//! call, one transaction; the decision whether a stored token may be redeemed is
//! [`check`], here, so every store answers alike.
//!
//! Asking for a new token does not end older ones: the email channel delivers at least once,
//! and a retried email mints a second token, so ending the first would break the link that
//! did arrive. Redeeming any token of an account ends all of them, and every token expires.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::account::Role;
use crate::error::{Error, Result, StoreError};
use crate::ids::AccountId;
use crate::journal::{Audit, JournalEntry};
use crate::session::SessionGeneration;

/// The SHA-256 of a reset token, as 64 lower-case hex digits: what a store keeps instead of the
/// token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResetTokenHash(String);

impl ResetTokenHash {
    /// The hash of a token from its 32-byte digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        use fmt::Write as _;
        let mut hex = String::with_capacity(64);
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Self(hex)
    }

    /// A stored hash.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] unless `hex` is 64 lower-case hex digits.
    pub fn from_stored(hex: &str) -> Result<Self, StoreError> {
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(hex.to_owned()))
        } else {
            Err(StoreError::Corrupt(
                "a reset token hash is not 64 hex digits".into(),
            ))
        }
    }

    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResetTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is no secret, but a prefix is enough to tell two apart in a log.
        write!(f, "ResetTokenHash({}…)", &self.0[..8.min(self.0.len())])
    }
}

/// A reset token as minted: stored by [`AccountStore::insert_password_reset`](crate::AccountStore::insert_password_reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordReset {
    /// The token's hash.
    pub token_hash: ResetTokenHash,
    /// The account it resets.
    pub account: AccountId,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A stored token as a redeem reads it, under the store's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredReset {
    /// The account it resets.
    pub account: AccountId,
    /// The account's role (who is recorded as having reset the password).
    pub role: Role,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used (or ended by another token's use), if it was.
    pub used_at: Option<DateTime<Utc>>,
}

/// Redeeming a token: what [`AccountStore::redeem_password_reset`](crate::AccountStore::redeem_password_reset) is given.
#[derive(Clone, Debug)]
pub struct Redemption {
    /// The hash of the token presented.
    pub token_hash: ResetTokenHash,
    /// The new password's hash (PHC string), already checked against the password rules.
    pub password_hash: String,
    /// When, and under which request (the actor is the account's holder).
    pub audit: Audit,
}

/// What a redeem did: whose password it set, and the account's new session generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redeemed {
    /// The account whose password was set.
    pub account: AccountId,
    /// Its session generation after the reset (every earlier session ended).
    pub sessions: SessionGeneration,
}

/// Whether the stored token `found` may be redeemed by `redemption`, and if so the journal
/// entry the redeem writes with its changes.
///
/// # Errors
/// [`Error::ResetTokenInvalid`] when the token is unknown, used or expired (at or after its
/// expiry): one error for all three, so none tells more than the others.
pub fn check(found: Option<&StoredReset>, redemption: &Redemption) -> Result<JournalEntry> {
    match found {
        Some(reset) if reset.used_at.is_none() && redemption.audit.at < reset.expires_at => Ok(
            crate::journal::password_reset(reset.account, reset.role, &redemption.audit),
        ),
        Some(_) | None => Err(Error::ResetTokenInvalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Actor, EntryKind};
    use chrono::Duration;

    fn redemption(at: DateTime<Utc>) -> Redemption {
        Redemption {
            token_hash: ResetTokenHash::from_digest([7; 32]),
            password_hash: "$argon2id$x".into(),
            audit: Audit {
                actor: Actor::System,
                at,
                request_id: None,
            },
        }
    }

    #[test]
    fn only_an_unused_unexpired_token_is_redeemed() {
        let now = Utc::now();
        let account = AccountId::new();
        let fresh = StoredReset {
            account,
            role: Role::Patient,
            expires_at: now + Duration::minutes(30),
            used_at: None,
        };
        let entry = check(Some(&fresh), &redemption(now)).unwrap();
        assert_eq!(entry.kind, EntryKind::AccountPasswordReset);
        assert_eq!(entry.account_id, Some(account));
        assert_eq!(entry.actor, Actor::Patient(account.into()));
        let used = StoredReset {
            used_at: Some(now),
            ..fresh
        };
        let expired = StoredReset {
            expires_at: now,
            ..fresh
        };
        for refused in [None, Some(&used), Some(&expired)] {
            assert!(matches!(
                check(refused, &redemption(now)),
                Err(Error::ResetTokenInvalid)
            ));
        }
    }

    #[test]
    fn hashes_are_hex_and_stored_ones_are_checked() {
        let hash = ResetTokenHash::from_digest([0xab; 32]);
        assert_eq!(hash.as_str(), "ab".repeat(32));
        assert_eq!(ResetTokenHash::from_stored(hash.as_str()).unwrap(), hash);
        assert!(ResetTokenHash::from_stored("AB").is_err());
    }
}
