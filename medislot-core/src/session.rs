//! What a store keeps about sign-in sessions, so that every server instance sharing the store
//! sees the same answer: the account's session generation (raising it ends every session
//! issued before), single sessions ended by logout, and the per-account login throttle.
//!
//! The tokens themselves are the server's business; the store only holds what a token cannot
//! say about itself once issued.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::Account;
use crate::ids::AccountId;

/// The id of one session (a token's `jti`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(Uuid);

impl SessionId {
    /// The session with this id.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The id as a UUID.
    pub const fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which sessions of an account are still valid: a session carries the generation it was
/// issued under, and only sessions of the account's current generation are accepted.
///
/// Raising the generation ends every session at once, on every instance, without comparing
/// clocks: a counter cannot be fooled by two instances whose clocks disagree, nor by a session
/// issued in the same second as a password change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionGeneration(i64);

impl SessionGeneration {
    /// The generation of a new account.
    pub const FIRST: SessionGeneration = SessionGeneration(0);

    /// The generation as stored.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// A stored generation.
    pub const fn from_stored(value: i64) -> Self {
        Self(value)
    }

    /// The generation after this one (saturating: 2^63 password changes never happen).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

/// One session ended before its expiry (a logout), remembered until it would have expired
/// anyway, when the store may forget it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevokedSession {
    /// The session.
    pub id: SessionId,
    /// Whose session it was.
    pub account: AccountId,
    /// When the session would have expired; after this the record serves no purpose.
    pub expires_at: DateTime<Utc>,
}

/// An account read for a request that presents a session, with whether that session was
/// ended by a logout. One read answers both, so a request costs no extra round trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionAccount {
    /// The account as stored now.
    pub account: Account,
    /// Whether the presented session was revoked (logged out).
    pub revoked: bool,
}

/// A session presented with a request, to be checked in the same read as the work it asks for:
/// the account it names, its id and the generation it was issued under. A server that
/// verified a token's signature builds one and hands it to
/// [`BookingEngine::for_session`](crate::BookingEngine::for_session), so the account read that
/// every request needs travels with the mutation's own locks instead of costing a round trip
/// of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCheck {
    /// The account the session belongs to.
    pub account: AccountId,
    /// The session (the token's `jti`).
    pub session: SessionId,
    /// The generation the session was issued under.
    pub generation: SessionGeneration,
}

/// Why a presented session is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// The account no longer exists.
    #[error("the account no longer exists")]
    NoAccount,
    /// The session was logged out.
    #[error("the session has ended; sign in again")]
    LoggedOut,
    /// Every session of the account was ended (a password change or "sign out everywhere").
    #[error(
        "the session has ended (the password changed, or every session was signed out); sign in again"
    )]
    Superseded,
}

impl SessionCheck {
    /// The account as stored now, if the session is still valid according to `read` (what
    /// [`AccountStore::session_account`](crate::AccountStore::session_account) or a
    /// mutation's [`Locked::session_account`](crate::Locked::session_account) found).
    ///
    /// # Errors
    /// The [`SessionRefusal`] that says why the session is no longer valid.
    pub fn admit(self, read: Option<SessionAccount>) -> Result<Account, SessionRefusal> {
        let read = read.ok_or(SessionRefusal::NoAccount)?;
        if read.revoked {
            return Err(SessionRefusal::LoggedOut);
        }
        if read.account.sessions != self.generation {
            return Err(SessionRefusal::Superseded);
        }
        Ok(read.account)
    }
}

/// Consecutive failed sign-ins of one account and, once there are too many, until when
/// sign-ins are refused. Kept in the store, so that every instance counts the same failures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginThrottle {
    /// Failed sign-ins since the last successful one.
    pub failures: u32,
    /// Sign-ins are refused until this instant, if set.
    pub locked_until: Option<DateTime<Utc>>,
}

impl LoginThrottle {
    /// How long sign-ins are still refused at `now`, if they are.
    pub fn wait_at(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// The throttle after one more failed sign-in at `at`, under `policy`.
    #[must_use]
    pub fn after_failure(self, at: DateTime<Utc>, policy: &LoginBackoff) -> LoginThrottle {
        let failures = self.failures.saturating_add(1);
        let locked_until = policy.lock_after(failures).map(|lock| at + lock);
        LoginThrottle {
            failures,
            locked_until: locked_until.max(self.locked_until),
        }
    }
}

/// How an account's sign-ins slow down after failures: `free` failures are allowed, then
/// each further one locks the account for `first_lock`, doubling per failure, up to `max_lock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginBackoff {
    /// Failures allowed before the first lock.
    pub free: u32,
    /// The first lock.
    pub first_lock: Duration,
    /// The longest lock.
    pub max_lock: Duration,
}

impl Default for LoginBackoff {
    /// Four free failures, then 30 seconds, 1, 2, 4 ... minutes, at most 15 minutes.
    fn default() -> Self {
        Self {
            free: 4,
            first_lock: Duration::seconds(30),
            max_lock: Duration::minutes(15),
        }
    }
}

impl LoginBackoff {
    /// The lock that the `failures`-th consecutive failure starts, if any.
    pub fn lock_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free).filter(|over| *over > 0)?;
        let doublings = (over - 1).min(30);
        let lock = self
            .first_lock
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_lock);
        Some(lock.min(self.max_lock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_allows_the_free_failures_then_doubles_up_to_the_cap() {
        let policy = LoginBackoff::default();
        let locks: Vec<_> = (1..=12).map(|n| policy.lock_after(n)).collect();
        assert_eq!(&locks[..4], &[None; 4]);
        assert_eq!(locks[4], Some(Duration::seconds(30)));
        assert_eq!(locks[5], Some(Duration::seconds(60)));
        assert_eq!(locks[6], Some(Duration::seconds(120)));
        assert_eq!(locks[11], Some(Duration::minutes(15)));
        assert_eq!(policy.lock_after(u32::MAX), Some(Duration::minutes(15)));
    }

    #[test]
    fn a_throttle_locks_from_the_fifth_failure_and_says_how_long_to_wait() {
        let policy = LoginBackoff::default();
        let now = Utc::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..4 {
            throttle = throttle.after_failure(now, &policy);
            assert_eq!(throttle.wait_at(now), None);
        }
        throttle = throttle.after_failure(now, &policy);
        assert_eq!(throttle.failures, 5);
        assert_eq!(throttle.wait_at(now), Some(Duration::seconds(30)));
        assert_eq!(throttle.wait_at(now + Duration::seconds(30)), None);
    }

    #[test]
    fn generations_only_go_up() {
        assert!(SessionGeneration::FIRST.next() > SessionGeneration::FIRST);
        assert_eq!(
            SessionGeneration::from_stored(i64::MAX).next().get(),
            i64::MAX
        );
    }
}
