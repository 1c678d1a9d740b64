//! Per-client limits on login and register, so passwords cannot be guessed at speed nor
//! accounts created in bulk. Keyed by the client's IP address ([`crate::client_addr`]: the
//! peer's, or behind a trusted proxy the one it forwards).
//!
//! Two kinds of budget:
//! - **per process** (memory and SQLite stores): a keyed GCRA limiter in this process, a
//!   burst of `n` refilled over a minute;
//! - **shared** (PostgreSQL): a count per address and minute kept in the store
//!   ([`AccountStore::count_attempt`], one atomic upsert), so several instances behind a proxy
//!   spend one budget of `n` per minute between them instead of `n` each. The window is fixed
//!   (the wall-clock minute); the sweeper forgets past minutes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use medislot_core::AccountStore;
use poem::http::StatusCode;
use poem::Request;

use crate::problem::Problem;

/// Where the budget lives.
enum Budget {
    /// No limit.
    Off,
    /// In this process.
    Local(DefaultKeyedRateLimiter<IpAddr>),
    /// In the store, shared by every instance on it: `n` attempts per address and minute.
    Shared {
        per_minute: NonZeroU32,
        accounts: Arc<dyn AccountStore>,
    },
}

/// The limit on sign-in and sign-up attempts per client address.
pub struct AuthRateLimiter {
    budget: Budget,
}

impl std::fmt::Debug for AuthRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let budget = match &self.budget {
            Budget::Off => "off",
            Budget::Local(_) => "per process",
            Budget::Shared { .. } => "shared in the store",
        };
        f.debug_struct("AuthRateLimiter")
            .field("budget", &budget)
            .finish()
    }
}

/// The length of a shared budget's window.
fn window_length() -> Duration {
    Duration::minutes(1)
}

impl AuthRateLimiter {
    /// Allows `n` attempts per client per minute in this process; `0` allows any number.
    pub fn per_minute(n: u32) -> Self {
        let budget = NonZeroU32::new(n).map_or(Budget::Off, |n| {
            Budget::Local(RateLimiter::keyed(Quota::per_minute(n)))
        });
        Self { budget }
    }

    /// Allows `n` attempts per client per minute across every instance on `accounts`, counted
    /// there; `0` allows any number.
    pub fn shared(n: u32, accounts: Arc<dyn AccountStore>) -> Self {
        let budget = NonZeroU32::new(n).map_or(Budget::Off, |per_minute| Budget::Shared {
            per_minute,
            accounts,
        });
        Self { budget }
    }

    /// Whether the budget is shared with other instances through the store.
    pub fn is_shared(&self) -> bool {
        matches!(self.budget, Budget::Shared { .. })
    }

    /// Counts one attempt by the request's client at `now`.
    ///
    /// When the store cannot count (it is down), the attempt is let through: the sign-in it
    /// guards needs the same store and answers 503 itself.
    ///
    /// # Errors
    /// A 429 [`Problem`] with `Retry-After` when the client is over its limit.
    pub async fn check(&self, req: &Request, now: DateTime<Utc>) -> Result<(), Problem> {
        let ip = crate::client_addr::client_ip(req);
        let wait_secs = match &self.budget {
            Budget::Off => return Ok(()),
            Budget::Local(limiter) => match limiter.check_key(&ip) {
                Ok(()) => return Ok(()),
                Err(not_until) => not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs(),
            },
            Budget::Shared {
                per_minute,
                accounts,
            } => {
                let window = now.duration_trunc(window_length()).unwrap_or(now);
                match accounts.count_attempt(&format!("auth:{ip}"), window).await {
                    Ok(count) if count <= per_minute.get() => return Ok(()),
                    Ok(_) => {
                        let ends = window + window_length();
                        u64::try_from((ends - now).num_seconds()).unwrap_or(0)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "counting a sign-in attempt failed");
                        return Ok(());
                    }
                }
            }
        };
        tracing::warn!(client = %ip, "authentication rate limit reached");
        Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many sign-in or sign-up attempts from this address; wait and try again",
        )
        .with_retry_after(wait_secs.max(1)))
    }

    /// Forgets what is no longer needed at `now` (bounded memory): clients whose allowance is
    /// full again, or the shared counts of past windows.
    ///
    /// # Errors
    /// When the store cannot prune the shared counts.
    pub async fn forget_past(&self, now: DateTime<Utc>) -> medislot_core::Result<()> {
        match &self.budget {
            Budget::Off => {}
            Budget::Local(limiter) => limiter.retain_recent(),
            Budget::Shared { accounts, .. } => {
                let current = now.duration_trunc(window_length()).unwrap_or(now);
                accounts.prune_attempts(current).await?;
            }
        }
        Ok(())
    }
}
