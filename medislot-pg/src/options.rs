//! [`PgStoreOptions`]: pool size, timeouts, retries and the pooler in front of PostgreSQL, with
//! defaults that suit a web server.

use std::str::FromStr as _;
use std::time::Duration;

use medislot_core::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::store_error;
use crate::store::PgStore;

/// How [`PgStore::connect`] sets up its pool. Build with [`PgStoreOptions::new`] and the
/// setters, then call [`PgStoreOptions::connect`].
///
/// ```
/// use std::time::Duration;
/// use medislot_pg::PgStoreOptions;
///
/// let options = PgStoreOptions::new()
///     .max_connections(20)
///     .lock_timeout(Duration::from_secs(1));
/// assert_eq!(options.get_max_connections(), 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgStoreOptions {
    max_connections: u32,
    acquire_timeout: Duration,
    lock_timeout: Duration,
    statement_timeout: Duration,
    max_retries: u32,
    outcome_patience: Duration,
    prepared_statements: bool,
    pooler: Pooler,
}

/// What stands between the store and PostgreSQL, which decides how statements may travel.
///
/// ```
/// use medislot_pg::{PgStoreOptions, Pooler};
///
/// let options = PgStoreOptions::new().pooler("transaction".parse::<Pooler>()?);
/// assert_eq!(options.get_pooler(), Pooler::Transaction);
/// assert!(!options.get_prepared_statements());
/// # Ok::<(), medislot_pg::UnknownPooler>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pooler {
    /// PostgreSQL itself, or a pooler in session mode: a connection is the store's own for as
    /// long as it is open, so statements are prepared once per connection (the default).
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer's `pool_mode = transaction`): a server
    /// connection is the store's only until the end of the current transaction, so nothing
    /// may outlive one. Every statement then travels over the simple-query protocol with its
    /// values as literals (one round trip, nothing named), the hot statements are sent inline,
    /// the lock and statement timeouts are set inside each transaction (`SET LOCAL`) instead of
    /// at connection start-up, and migrations run in one transaction.
    Transaction,
}

impl Pooler {
    /// The name [`FromStr`](std::str::FromStr) reads and the `pooler` URL parameter takes:
    /// `none` or `transaction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooler::None => "none",
            Pooler::Transaction => "transaction",
        }
    }
}

impl std::fmt::Display for Pooler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pooler name other than `none`, `session` or `transaction`.
#[derive(Debug, thiserror::Error)]
#[error("unknown pooler {0:?}: use none (or session) or transaction")]
pub struct UnknownPooler(pub String);

impl std::str::FromStr for Pooler {
    type Err = UnknownPooler;

    /// `none` and `session` (a session-mode pooler needs nothing special) or `transaction`,
    /// in any case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "none" | "session" => Ok(Pooler::None),
            "transaction" => Ok(Pooler::Transaction),
            _ => Err(UnknownPooler(name.to_owned())),
        }
    }
}

/// The URL parameter that names the pooler: `postgres://...?pooler=transaction`.
pub const POOLER_PARAMETER: &str = "pooler";

/// `url` without its [`POOLER_PARAMETER`], and the pooler that parameter named, if any.
///
/// # Errors
/// [`UnknownPooler`] when the parameter names no pooler.
pub fn split_pooler(url: &str) -> Result<(String, Option<Pooler>), UnknownPooler> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut pooler = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((POOLER_PARAMETER, value)) => pooler = Some(value.parse()?),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, pooler))
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(15),
            max_retries: 5,
            outcome_patience: Duration::from_secs(30),
            prepared_statements: true,
            pooler: Pooler::None,
        }
    }
}

impl PgStoreOptions {
    /// The defaults: 10 connections, 5 s to get one, 3 s lock timeout, 15 s statement timeout,
    /// 5 retries of a deadlocked or serialization-failed transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most connections the pool opens.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a free connection before it fails as
    /// [`StoreError::Unavailable`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long a statement waits for a row lock before it fails as [`StoreError::Busy`]
    /// (PostgreSQL's `lock_timeout`).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long a statement may run before it is cancelled as [`StoreError::Busy`]
    /// (PostgreSQL's `statement_timeout`).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How many times a transaction the server aborted for a deadlock or serialization
    /// failure is run again before the operation fails as [`StoreError::Busy`].
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How long the store keeps asking whether a transaction committed when the connection
    /// was lost after its `COMMIT` was sent and before the answer came (default 30 seconds,
    /// enough to outlast a restart or a failover of the database: the restart test's outage
    /// lasts about 10 seconds). Asked on another connection with
    /// growing pauses: committed, the operation succeeds with what it wrote; rolled back, it
    /// runs again; no answer within the patience is [`StoreError::OutcomeUnknown`]. The caller
    /// waits that long at most, only in that case.
    pub fn outcome_patience(mut self, patience: Duration) -> Self {
        self.outcome_patience = patience;
        self
    }

    /// Whether the statements every booking runs are prepared once per connection (`true`, the
    /// default: a booking then skips parsing and planning) or sent inline with each
    /// transaction. Behind a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`), where a prepared statement does not survive from one
    /// transaction to the next, set [`PgStoreOptions::pooler`] instead, which turns this off
    /// and more. A mutation costs two round trips either way.
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = prepared;
        self
    }

    /// Whether the hot statements are prepared once per connection: as asked, and never
    /// behind a transaction pooler.
    pub fn get_prepared_statements(&self) -> bool {
        self.prepared_statements && self.pooler == Pooler::None
    }

    /// What stands between the store and PostgreSQL (default [`Pooler::None`]). Set
    /// [`Pooler::Transaction`] behind PgBouncer in transaction mode: then no statement is
    /// prepared or named, so none can collide with another client's on a shared server
    /// connection (SQLSTATE `42P05`) or go missing on the next one (`26000`). The `pooler`
    /// parameter of a URL given to [`PgStoreOptions::connect`] sets it too.
    pub fn pooler(mut self, pooler: Pooler) -> Self {
        self.pooler = pooler;
        self
    }

    /// The pooler these options are set up for.
    pub fn get_pooler(&self) -> Pooler {
        self.pooler
    }

    /// The lock timeout these options ask for.
    pub fn get_lock_timeout(&self) -> Duration {
        self.lock_timeout
    }

    /// The statement timeout these options ask for.
    pub fn get_statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// The pool size these options ask for.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The retry budget these options ask for.
    pub fn get_max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The patience for a lost `COMMIT`'s outcome these options ask for.
    pub fn get_outcome_patience(&self) -> Duration {
        self.outcome_patience
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`).
    /// A `pooler` parameter (`?pooler=transaction`) sets [`PgStoreOptions::pooler`]; the
    /// others are sqlx's. Does not migrate: call [`PgStore::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Other`] when the URL does not parse or names an unknown pooler;
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect(self, url: &str) -> Result<PgStore, StoreError> {
        let (options, url) = self.parse(url)?;
        options.connect_with(url).await
    }

    /// As [`PgStoreOptions::connect`], but connects only when the store is first used, so
    /// that a server that is down does not stop the caller from starting (a read replica's,
    /// for [`PgStore::with_replica`]).
    ///
    /// # Errors
    /// [`StoreError::Other`] when the URL does not parse or names an unknown pooler.
    pub fn connect_lazy(self, url: &str) -> Result<PgStore, StoreError> {
        let (options, url) = self.parse(url)?;
        let (pool, connect) = options.pool_options(url);
        Ok(options.store(pool.connect_lazy_with(connect)))
    }

    /// The options with `url`'s pooler, and `url`'s connection options.
    fn parse(mut self, url: &str) -> Result<(Self, PgConnectOptions), StoreError> {
        let (url, pooler) = split_pooler(url).map_err(|e| StoreError::Other(Box::new(e)))?;
        if let Some(pooler) = pooler {
            self.pooler = pooler;
        }
        let options =
            PgConnectOptions::from_str(&url).map_err(|e| StoreError::Other(Box::new(e)))?;
        Ok((self, options))
    }

    /// Connects with ready connection options (for settings a URL cannot carry). The timeouts
    /// of these options are added to them.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<PgStore, StoreError> {
        let (pool, connect) = self.pool_options(options);
        let pool = pool.connect_with(connect).await.map_err(store_error)?;
        Ok(self.store(pool))
    }

    /// The pool's options and the connections' options, with these timeouts.
    fn pool_options(&self, options: PgConnectOptions) -> (PgPoolOptions, PgConnectOptions) {
        let options = options.application_name("medislot");
        let options = match self.pooler {
            Pooler::None => options.options([
                ("lock_timeout", millis(self.lock_timeout)),
                ("statement_timeout", millis(self.statement_timeout)),
                // Every statement of the store is short: compiling one with the JIT (which
                // PostgreSQL does above a plan cost, however few rows the plan then reads)
                // took 6 to 10 ms where running it took 0.1 ms.
                ("jit", "off".to_owned()),
            ]),
            // A transaction pooler would not carry start-up options to the server connection
            // each transaction lands on (PgBouncer 1.18 refuses or ignores them): every
            // transaction sets its timeouts itself (see `PgStore::begin_sql`).
            Pooler::Transaction => options,
        };
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            // A connection is checked when it returns to the pool; checking it again on every
            // acquire would add a round trip to every operation.
            .test_before_acquire(false);
        (pool, options)
    }

    /// A store on `pool`, set up by these options.
    fn store(&self, pool: sqlx::PgPool) -> PgStore {
        PgStore::from_pool(pool)
            .with_max_retries(self.max_retries)
            .with_outcome_patience(self.outcome_patience)
            .with_prepared_statements(self.prepared_statements)
            .with_pooler(self.pooler)
            .with_timeouts(self.lock_timeout, self.statement_timeout)
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooler_parameter_is_taken_out_of_the_url_and_the_rest_kept() {
        let (url, pooler) =
            split_pooler("postgres://u@h:6432/db?sslmode=disable&pooler=transaction&x=1").unwrap();
        assert_eq!(url, "postgres://u@h:6432/db?sslmode=disable&x=1");
        assert_eq!(pooler, Some(Pooler::Transaction));
        let (url, pooler) = split_pooler("postgres://u@h/db?pooler=session").unwrap();
        assert_eq!(
            (url.as_str(), pooler),
            ("postgres://u@h/db", Some(Pooler::None))
        );
        let (url, pooler) = split_pooler("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), pooler), ("postgres://u@h/db", None));
        assert!(split_pooler("postgres://u@h/db?pooler=statement").is_err());
    }
}
