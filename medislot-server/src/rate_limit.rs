//! Per-client limits on login and register, so passwords cannot be guessed at speed nor
//! accounts created in bulk. Keyed by the client's IP address ([`crate::client_addr`]: the
//! peer's, or behind a trusted proxy the one it forwards).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use poem::http::StatusCode;
use poem::Request;

use crate::problem::Problem;

/// A keyed GCRA limiter (a burst of `n`, refilled over a minute), or none when turned off.
pub struct AuthRateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl std::fmt::Debug for AuthRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRateLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

impl AuthRateLimiter {
    /// Allows `n` attempts per client per minute; `0` allows any number.
    pub fn per_minute(n: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Counts one attempt by the request's client.
    ///
    /// # Errors
    /// A 429 [`Problem`] with `Retry-After` when the client is over its limit.
    pub fn check(&self, req: &Request) -> Result<(), Problem> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let ip = crate::client_addr::client_ip(req);
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(client = %ip, "authentication rate limit reached");
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many sign-in or sign-up attempts from this address; wait and try again",
            )
            .with_retry_after(wait.as_secs().max(1))
        })
    }

    /// Forgets clients whose allowance is full again (bounded memory).
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}
