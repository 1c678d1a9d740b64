//! [`PgStoreOptions`]: pool size, timeouts and retries, with defaults that suit a web server.

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
    prepared_statements: bool,
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(15),
            max_retries: 5,
            prepared_statements: true,
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

    /// Whether the statements every booking runs are prepared once per connection (`true`, the
    /// default: a booking then skips parsing and planning) or sent inline with each
    /// transaction. Set `false` behind a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`), where a prepared statement does not survive from one
    /// transaction to the next. A mutation costs two round trips either way.
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared_statements = prepared;
        self
    }

    /// Whether the hot statements are prepared once per connection.
    pub fn get_prepared_statements(&self) -> bool {
        self.prepared_statements
    }

    /// The pool size these options ask for.
    pub fn get_max_connections(&self) -> u32 {
        self.max_connections
    }

    /// The retry budget these options ask for.
    pub fn get_max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`).
    /// Does not migrate: call [`PgStore::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Other`] when the URL does not parse; [`StoreError::Unavailable`] when the
    /// server cannot be reached.
    pub async fn connect(self, url: &str) -> Result<PgStore, StoreError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Other(Box::new(e)))?;
        self.connect_with(options).await
    }

    /// Connects with ready connection options (for settings a URL cannot carry). The timeouts
    /// of these options are added to them.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached.
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<PgStore, StoreError> {
        let options = options.application_name("medislot").options([
            ("lock_timeout", millis(self.lock_timeout)),
            ("statement_timeout", millis(self.statement_timeout)),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            // A connection is checked when it returns to the pool; checking it again on every
            // acquire would add a round trip to every operation.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok(PgStore::from_pool(pool)
            .with_max_retries(self.max_retries)
            .with_prepared_statements(self.prepared_statements))
    }
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}
