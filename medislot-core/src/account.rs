//! User accounts (patients and admins) and the trait that stores them. The booking rules never
//! look at accounts: a booking's patient is the account's id. Accounts live here so that every
//! store crate can keep them beside the bookings, in the same database.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AccountId, PatientId};

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

    /// Changes an account's role.
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn set_role(&self, id: AccountId, role: Role) -> Result<()>;

    /// Replaces an account's password hash.
    ///
    /// # Errors
    /// Implementers must return [`Error::AccountNotFound`] when there is no such account.
    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()>;
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
    fn debug_output_never_shows_the_password_hash() {
        let account = Account {
            id: AccountId::new(),
            email: Email::parse("a@b.co").unwrap(),
            name: "A".into(),
            role: Role::Patient,
            password_hash: "$argon2id$secret".into(),
            created_at: Utc::now(),
        };
        assert!(!format!("{account:?}").contains("secret"));
    }
}
