//! What every request handler shares: the engine, the account store, sessions, password
//! hashing, the login rate limiter and the metrics.

use std::sync::Arc;

use chrono::Duration;
use ipnet::IpNet;
use medislot_core::{AccountStore, BookingEngine, Channel, Clock, Policy, SystemClock};

use crate::auth::{Passwords, Sessions};
use crate::metrics::Metrics;
use crate::rate_limit::AuthRateLimiter;
use crate::stores::Stores;

/// Settings of the HTTP application itself (the listener and store are chosen elsewhere).
#[derive(Clone)]
pub struct AppConfig {
    /// HS256 key for session tokens; at least [`crate::auth::MIN_SECRET_BYTES`] bytes.
    pub session_secret: Vec<u8>,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// How long a password reset link works.
    pub password_reset_ttl: Duration,
    /// Mark the session cookie `Secure` (serve over HTTPS).
    pub cookie_secure: bool,
    /// Login and register attempts allowed per client IP per minute; 0 turns the limit off.
    pub auth_attempts_per_minute: u32,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Origins allowed to call the API from a browser; empty means CORS stays off.
    pub cors_origins: Vec<String>,
    /// Hold and buffer durations of the booking rules.
    pub policy: Policy,
    /// How many weeks ahead slots are kept made from saved working hours (the rolling
    /// horizon), 1 to [`medislot_core::MAX_HORIZON_WEEKS`].
    pub horizon_weeks: u32,
    /// The origin browsers see the server at (`https://clinic.example`), which a form post's
    /// `Origin` must name; `None`: the request's own `Host`.
    pub public_origin: Option<String>,
    /// The origin the links in emails point at (a password reset link): `public_origin`, or
    /// `http://` and the listening address.
    pub link_origin: String,
    /// The bearer token `/metrics` asks for; `None`: the main address serves no metrics.
    pub metrics_token: Option<String>,
    /// Proxies whose `X-Forwarded-For` names the client (see [`crate::client_addr`]).
    pub trusted_proxies: Vec<IpNet>,
    /// The outbox channels this server delivers (configured with a webhook, an SMTP server,
    /// NATS); the others' messages stay in the outbox, which the admin's outbox page says.
    pub delivered_channels: Vec<Channel>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("session_secret", &"<redacted>")
            .field("session_ttl", &self.session_ttl)
            .field("password_reset_ttl", &self.password_reset_ttl)
            .field("cookie_secure", &self.cookie_secure)
            .field("auth_attempts_per_minute", &self.auth_attempts_per_minute)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("policy", &self.policy)
            .field("horizon_weeks", &self.horizon_weeks)
            .field("public_origin", &self.public_origin)
            .field("link_origin", &self.link_origin)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .field("delivered_channels", &self.delivered_channels)
            .finish()
    }
}

impl Default for AppConfig {
    /// Safe defaults with a random session secret (sessions end when the process does).
    fn default() -> Self {
        Self {
            session_secret: Sessions::random_secret(),
            session_ttl: Duration::hours(12),
            password_reset_ttl: Duration::minutes(30),
            cookie_secure: false,
            auth_attempts_per_minute: 10,
            body_limit_bytes: 64 * 1024,
            cors_origins: Vec::new(),
            policy: Policy::default(),
            horizon_weeks: medislot_core::DEFAULT_HORIZON_WEEKS,
            public_origin: None,
            link_origin: "http://127.0.0.1:8080".to_owned(),
            metrics_token: None,
            trusted_proxies: Vec::new(),
            delivered_channels: Vec::new(),
        }
    }
}

/// Shared application state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: BookingEngine,
    accounts: Arc<dyn AccountStore>,
    sessions: Sessions,
    passwords: Passwords,
    auth_limiter: AuthRateLimiter,
    metrics: Metrics,
    config: AppConfig,
    /// The PostgreSQL store, when the data lives there (for its replica's status).
    postgres: Option<medislot_pg::PgStore>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("engine", &self.engine)
            .field("sessions", &self.sessions)
            .field("config.cookie_secure", &self.config.cookie_secure)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `stores` with the system clock.
    ///
    /// # Errors
    /// A message when the configuration is unusable (a short session secret, a bad policy, a
    /// horizon outside 1 to 52 weeks).
    pub fn new(stores: Stores, config: AppConfig) -> Result<Self, String> {
        Self::with_clock(stores, config, Arc::new(SystemClock))
    }

    /// State over `stores` reading time from `clock` (tests pass a manual clock).
    ///
    /// # Errors
    /// As [`AppState::new`].
    pub fn with_clock(
        stores: Stores,
        config: AppConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        if !(1..=medislot_core::MAX_HORIZON_WEEKS).contains(&config.horizon_weeks) {
            return Err(format!(
                "horizon_weeks must be from 1 to {}, not {}",
                medislot_core::MAX_HORIZON_WEEKS,
                config.horizon_weeks
            ));
        }
        let postgres = stores.postgres;
        let engine = BookingEngine::new(stores.slots)
            .with_clock(clock)
            .with_policy(config.policy)
            .map_err(|err| err.to_string())?;
        let sessions = Sessions::new(
            &config.session_secret,
            config.session_ttl,
            config.cookie_secure,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                accounts: stores.accounts.clone(),
                sessions,
                passwords: Passwords::owasp(),
                auth_limiter: if postgres.is_some() {
                    // Several instances may share this database: one budget for all of them.
                    AuthRateLimiter::shared(
                        config.auth_attempts_per_minute,
                        stores.accounts.clone(),
                    )
                } else {
                    AuthRateLimiter::per_minute(config.auth_attempts_per_minute)
                },
                metrics: Metrics::new(),
                config,
                postgres,
            }),
        })
    }

    /// The booking engine: every booking rule goes through it.
    pub fn engine(&self) -> &BookingEngine {
        &self.inner.engine
    }

    /// The account store.
    pub fn accounts(&self) -> &dyn AccountStore {
        &*self.inner.accounts
    }

    /// Session tokens.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Password hashing.
    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// The per-client limiter for login and register.
    pub fn auth_limiter(&self) -> &AuthRateLimiter {
        &self.inner.auth_limiter
    }

    /// Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The configuration the state was built with.
    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    /// Whether the reads that tolerate lag may come from a read replica (PostgreSQL with
    /// `--replica-url`): then requests carry their position ([`crate::read_your_writes`]).
    pub fn reads_from_replica(&self) -> bool {
        self.inner
            .postgres
            .as_ref()
            .is_some_and(medislot_pg::PgStore::has_replica)
    }

    /// Where the reads that tolerate lag go now, when the store has a read replica; `None`
    /// without one.
    pub async fn replica_status(&self) -> Option<medislot_pg::ReplicaStatus> {
        match &self.inner.postgres {
            Some(store) => store.replica_status().await,
            None => None,
        }
    }
}
