//! User accounts (patients and admins) and the trait that stores them. The booking rules never
//! look at accounts: a booking's patient is the account's id. Accounts live here so that every
//! store crate can keep them beside the bookings, in the same database.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AccountId, PatientId};
use crate::journal::{Audit, JournalEntry};
use crate::password_reset::{PasswordReset, Redeemed, Redemption};
use crate::session::{LoginThrottle, RevokedSession, SessionAccount, SessionGeneration, SessionId};

/// A syntactically valid, lower-cased email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// The longest accepted address (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises (trims, lower-cases) an address.
    ///
    /// # Errors
    /// [`Error::Validation`] on `email` unless it has one `@` with text on both sides, a dot in
    /// the domain, no spaces, and at most 254 characters.
    pub fn parse(text: &str) -> Result<Self> {
        let email = text.trim().to_lowercase();
        let valid = email.len() <= Self::MAX_LEN
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email))
        } else {
            Err(Error::validation(
                "email",
                "must be an email address such as name@example.com",
            ))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Books and cancels their own appointments.
    Patient,
    /// Runs the clinic: doctors, slots, every booking.
    Admin,
}

impl Role {
    /// The stored spelling: `patient` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored spelling.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Role::Patient),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A telephone number in international form: `+` and 8 to 15 digits, the first not 0
/// (E.164's shape). Spaces, dashes, dots and brackets between the digits are accepted and
/// dropped, so `+44 (20) 7946-0958` is stored as `+442079460958`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalises a number.
    ///
    /// # Errors
    /// [`Error::Validation`] on `phone` unless the text is `+` then 8 to 15 digits (the first
    /// not 0), with only spaces, dashes, dots and brackets between them.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let refused = || {
            Error::validation(
                "phone",
                "must be an international number such as +44 20 7946 0958: a + and the \
                 country code, then 8 to 15 digits in all",
            )
        };
        let rest = text.strip_prefix('+').ok_or_else(refused)?;
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(refused());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(refused());
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number: `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an IANA time zone name for an account's profile.
///
/// # Errors
/// [`Error::Validation`] on `time_zone` when the name is not an IANA zone.
pub fn parse_time_zone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        Error::validation(
            "time_zone",
            format!("{name:?} is not an IANA time zone name (for example Europe/Paris)"),
        )
    })
}

/// What a person may say about themselves beyond their name: both parts optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountProfile {
    /// A number the clinic may call.
    pub phone: Option<PhoneNumber>,
    /// The zone the person sees times in; unset, pages use the browser's.
    pub time_zone: Option<Tz>,
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id; for a patient, also the id its bookings carry.
    pub id: AccountId,
    /// Login email, unique.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// The password hash in PHC string format; never logged.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Phone number and time zone.
    pub profile: AccountProfile,
    /// Only sessions issued under this generation are valid; see [`SessionGeneration`].
    pub sessions: SessionGeneration,
    /// Recent failed sign-ins.
    pub login_throttle: LoginThrottle,
}

impl Account {
    /// The id this account's bookings carry.
    pub fn patient_id(&self) -> PatientId {
        self.id.into()
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("profile", &self.profile)
            .field("sessions", &self.sessions)
            .field("login_throttle", &self.login_throttle)
            .finish()
    }
}

/// Storage for accounts. Implemented by every store crate beside [`SlotStore`](crate::SlotStore).
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts a new account.
    ///
    /// # Errors
    /// Implementers must return [`Error::EmailTaken`] when another account has the same email
    /// (also when two inserts race), and store nothing in that case.
    async fn insert_account(&self, account: &Account) -> Result<()>;

    /// The account with this id, if any.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;

    /// The account with this email, if any.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>>;

    /// The accounts whose name or email contains `part`, ignoring ASCII case (an admin
    /// looking for a patient by part of a name or an email), ordered by email, at most
    /// `limit` of them. An empty `part` matches every account.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>>;

    /// Changes an account's role and, in the same transaction, appends the journal entry
    /// [`journal::role_changed`](crate::journal::role_changed) makes from the role read under
    /// the store's lock (none when the role stays the same).
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn set_role(&self, id: AccountId, role: Role, audit: &Audit) -> Result<()>;

    /// Appends one journal entry about an account (a password reset request) and queues its
    /// messages ([`Changes::queued`](crate::Changes::queued)), in one transaction.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn record_account_entry(&self, entry: &JournalEntry) -> Result<()>;

    /// Stores a minted password reset token (its hash only).
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<()>;

    /// Redeems a reset token, all in one transaction: reads the token under a lock, asks
    /// [`password_reset::check`](crate::password_reset::check) (unknown, used or expired
    /// tokens are refused), marks it and every other unused token of the account used, sets
    /// the password hash, raises the session generation (ending every session, on every
    /// instance) and appends the journal entry `check` returned. Of racing redeems of one
    /// token exactly one succeeds.
    ///
    /// # Errors
    /// Implementers must return [`Error::ResetTokenInvalid`] when the token is unknown, used
    /// (also by a redeem that won a race) or expired, and change nothing then.
    async fn redeem_password_reset(&self, redemption: &Redemption) -> Result<Redeemed>;

    /// Replaces an account's password hash and, in the same write, raises its session
    /// generation, so every session issued before ends (on every instance at once). Returns
    /// the new generation, under which the caller may issue the session it keeps.
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration>;

    /// Replaces an account's name and profile (phone number, time zone). The name has been
    /// checked by the caller (`text::required_line`).
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()>;

    /// Raises an account's session generation ("sign out everywhere"): every session issued
    /// before ends. Returns the new generation. Two concurrent calls raise it twice.
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration>;

    /// The account with this id as every authenticated request reads it, with whether
    /// `session` was revoked: implementers answer both in one read (one round trip), since
    /// every request makes it.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>>;

    /// Remembers that a session ended (logout) until its expiry. Revoking a session twice is
    /// harmless. The account need not exist any more.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn revoke_session(&self, session: &RevokedSession) -> Result<()>;

    /// Forgets revoked sessions that expired at or before `now` (they are refused for their
    /// expiry anyway). Returns how many were forgotten.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Records a failed sign-in: under a lock on the account's throttle (so that failures on
    /// several instances at once are all counted), reads it, stores `next(read)` and returns
    /// it.
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle>;

    /// Clears an account's failed sign-ins (after a successful one).
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn clear_login_failures(&self, id: AccountId) -> Result<()>;

    /// Counts one attempt by `key` (a client address, for the sign-in rate limit) in the
    /// fixed window that starts at `window`, and returns how many attempts that window has
    /// counted, this one included. Every server instance on the store shares the count.
    ///
    /// Implementers must count atomically: `n` concurrent calls for one key and window return
    /// `1..=n`, each number once. Keys and windows are independent of each other.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> Result<u32>;

    /// Forgets the counts of windows that started before `before` (the sweeper's job).
    /// Returns how many counts were forgotten.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_malformed_ones_refused() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@c.de",
            "a@b@c.de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn phone_numbers_are_normalised_and_malformed_ones_refused() {
        assert_eq!(
            PhoneNumber::parse(" +44 (20) 7946-0958 ").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            PhoneNumber::parse("+1.415.555.0100").unwrap().as_str(),
            "+14155550100"
        );
        for bad in [
            "",
            "020 7946 0958",
            "+",
            "+1234567",
            "+1234567890123456",
            "+0 20 7946 0958",
            "+44 20 7946 0958 ext 2",
            "+44/20/7946",
            "++442079460958",
        ] {
            let err = PhoneNumber::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::Validation { field: "phone", .. }),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_password_hash() {
        let account = Account {
            id: AccountId::new(),
            email: Email::parse("a@b.co").unwrap(),
            name: "A".into(),
            role: Role::Patient,
            password_hash: "$argon2id$secret".into(),
            created_at: Utc::now(),
            profile: AccountProfile::default(),
            sessions: SessionGeneration::FIRST,
            login_throttle: LoginThrottle::default(),
        };
        assert!(!format!("{account:?}").contains("secret"));
    }
}
