//! [`SqliteStore`]: opening the file, migrating it, and the write transaction every mutation
//! runs in.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use medislot_core::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::{begin_write_error, store_error};

/// How long a statement waits for a lock held by another connection (another process, or a
/// checkpoint) before it fails as [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a mutation waits for this store's writer connection before it fails as
/// [`StoreError::Busy`]. Mutations of one store queue here, in order, rather than in SQLite's
/// busy loop.
pub const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many connections serve reads at once.
const READERS: u32 = 4;

/// The embedded migrations (`migrations/` of this crate).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Doctors, slots, bookings and accounts in one SQLite file.
///
/// Cheap to clone: clones share the connections. Two stores (in one process or in two) may
/// open the same file; SQLite's write lock serialises their mutations.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// One connection: every mutation runs on it, one at a time, in a `BEGIN IMMEDIATE`
    /// transaction.
    pub(crate) writer: SqlitePool,
    /// Read-only (`query_only`) connections; in WAL mode they never wait for the writer.
    pub(crate) reader: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it when missing) the database at `url_or_path`: `sqlite://PATH`,
    /// `sqlite:PATH` or a plain file path. URL query parameters (`?mode=ro`, ...) are SQLite's
    /// own. The file is switched to WAL, foreign keys are enforced, lock waits last up to
    /// [`BUSY_TIMEOUT`], and every commit is synced to disk (`synchronous = FULL`) before it
    /// returns, so an answered booking survives a crash of the process and of the machine.
    ///
    /// Call [`migrate`](Self::migrate) before using a new file.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or created, or its journal
    /// cannot be switched to WAL; [`StoreError::Other`] for a malformed URL.
    pub async fn connect(url_or_path: &str) -> Result<Self, StoreError> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)
                .map_err(|e| StoreError::Other(Box::new(e)))?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let path = options.get_filename().to_path_buf();
        // The writer connects first: it creates the file and switches it to WAL, which needs
        // an exclusive lock that readers opened earlier could hold.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WRITE_QUEUE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(unavailable)?;
        tracing::info!(path = %path.display(), "opened SQLite store");
        Ok(Self {
            writer,
            reader,
            path,
        })
    }

    /// Brings the file's schema up to date by applying the embedded migrations that it has not
    /// had yet. Applying them again is harmless.
    ///
    /// # Errors
    /// [`StoreError::Other`] when a migration fails or the file was migrated by a different
    /// version of a migration (its checksum differs); the failed migration leaves no trace.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => store_error(e),
            other => StoreError::Other(Box::new(other)),
        })?;
        tracing::debug!(path = %self.path.display(), "SQLite schema up to date");
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection, waiting for them to finish; the last one to close checkpoints
    /// the WAL into the main file. Dropping the store without closing is safe too: committed
    /// data is already on disk.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts a write transaction that holds SQLite's write lock from its first statement
    /// (`BEGIN IMMEDIATE`), so that what it reads cannot change before it writes. Dropping it
    /// without [`commit`] rolls it back.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(begin_write_error)
    }
}

/// Ends a write transaction: commits it when `result` is `Ok`, rolls it back otherwise.
pub(crate) async fn commit<T>(
    tx: Transaction<'static, Sqlite>,
    result: medislot_core::Result<T>,
) -> medislot_core::Result<T> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(crate::error::db)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = tx.rollback().await {
                // The caller's error is the one worth returning; dropping the transaction
                // queues another rollback on the connection before anyone else can use it.
                tracing::warn!(%rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    match store_error(error) {
        StoreError::Other(source) => StoreError::Unavailable(source),
        classified => classified,
    }
}
