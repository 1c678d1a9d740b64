//! [`SqliteStore`]: opening the file, migrating it, and the write transaction every mutation
//! runs in.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use medislot_core::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};

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

/// How much of the file each connection reads through memory-mapped I/O (`PRAGMA mmap_size`),
/// in bytes: all of a clinic's file, in practice. A read then takes its pages straight from the
/// operating system's page cache instead of copying each one in with a `read` call, which is
/// what made a listing's index walk grow with the file once the file outgrew SQLite's own
/// 2 MiB page cache ("next available" at 1,000,000 slots: about 1.6× its cost at 10,000 with
/// `read` calls, about 1.1× mapped; README, growth table). Writes still go through the WAL.
const MMAP_BYTES: i64 = 1 << 30;

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
    /// How the connections were opened, for a one-off connection such as a backup's.
    options: SqliteConnectOptions,
}

impl SqliteStore {
    /// Opens (creating it when missing) the database at `url_or_path`: `sqlite://PATH`,
    /// `sqlite:PATH` or a plain file path (a URL may also carry sqlx's SQLite parameters, such
    /// as `?vfs=NAME`). The file is switched to WAL, foreign keys are enforced, lock waits last up to
    /// [`BUSY_TIMEOUT`], and every commit is synced to disk (`synchronous = FULL`) before it
    /// returns, so an answered booking survives a crash of the process and of the machine.
    ///
    /// Call [`migrate`](Self::migrate) before using a new file.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or created, or its journal
    /// cannot be switched to WAL; [`StoreError::Other`] for a malformed URL or an in-memory
    /// database (`:memory:`, `mode=memory`), which would lose everything at exit: use
    /// [`MemoryStore`](medislot_core::MemoryStore) for that.
    pub async fn connect(url_or_path: &str) -> Result<Self, StoreError> {
        if url_or_path.contains(":memory:") || url_or_path.contains("mode=memory") {
            return Err(StoreError::Other(
                "SqliteStore keeps its data in a file; use MemoryStore for memory".into(),
            ));
        }
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
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("mmap_size", MMAP_BYTES.to_string());
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
            .connect_with(options.clone().pragma("query_only", "ON"))
            .await
            .map_err(unavailable)?;
        tracing::info!(path = %path.display(), "opened SQLite store");
        Ok(Self {
            writer,
            reader,
            path,
            options: options.create_if_missing(false),
        })
    }

    /// Brings the file's schema up to date by applying the embedded migrations that it has not
    /// had yet. Applying them again is harmless.
    ///
    /// # Errors
    /// [`StoreError::Other`] when a migration fails or the file was migrated by a different
    /// version of a migration (its checksum differs); the failed migration leaves no trace.
    /// [`StoreError::Busy`] when another process holds the write lock past [`BUSY_TIMEOUT`].
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

    /// Writes a consistent copy of the whole database to a new file at `destination`, while the
    /// store stays in use (SQLite's `VACUUM INTO`, on a connection of its own that only reads
    /// this file: in WAL mode mutations go on meanwhile, and the copy holds every transaction
    /// committed before it began and none after). The copy is a complete database: open it as
    /// the store to restore it.
    ///
    /// # Errors
    /// [`StoreError::Other`] when `destination` already exists (a backup never overwrites) or
    /// cannot be written.
    pub async fn back_up_to(&self, destination: &Path) -> Result<(), StoreError> {
        if destination.exists() {
            return Err(StoreError::Other(
                format!(
                    "{} already exists; a backup never overwrites",
                    destination.display()
                )
                .into(),
            ));
        }
        let target = destination.to_str().ok_or_else(|| {
            StoreError::Other(format!("{} is not valid UTF-8", destination.display()).into())
        })?;
        // Not a reader: their `query_only` refuses VACUUM INTO, which writes the new file.
        let mut connection = SqliteConnection::connect_with(&self.options)
            .await
            .map_err(unavailable)?;
        let copied = sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&mut connection)
            .await
            .map_err(store_error);
        if let Err(error) = connection.close().await {
            tracing::warn!(%error, "closing the backup's connection failed");
        }
        copied?;
        tracing::info!(from = %self.path.display(), to = %destination.display(), "backed up");
        Ok(())
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
            .map_err(|e| {
                let error = begin_write_error(e);
                tracing::warn!(?error, "could not take the write lock");
                error
            })
    }

    /// The steps of SQLite's query plan for `sql`, for tests that prove a query walks an index.
    #[cfg(test)]
    pub(crate) async fn query_plan(&self, sql: &str) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&self.reader)
                .await
                .expect("the query can be planned");
        rows.into_iter().map(|row| row.3).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::extended_code;
    use tempfile::TempDir;

    /// `SQLITE_CONSTRAINT_CHECK`.
    const CHECK: i32 = 275;
    /// `SQLITE_CONSTRAINT_UNIQUE`.
    const UNIQUE: i32 = 2067;
    /// `SQLITE_CONSTRAINT_FOREIGNKEY`.
    const FOREIGN_KEY: i32 = 787;
    /// `SQLITE_CONSTRAINT_TRIGGER`.
    const TRIGGER: i32 = 1811;
    /// `SQLITE_READONLY`.
    const READONLY: i32 = 8;

    const DOCTOR: &str = "x'00000000000000000000000000000001'";
    const SLOT: &str = "x'00000000000000000000000000000002'";

    async fn fresh() -> (TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    async fn run(store: &SqliteStore, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&store.writer).await.map(|_| ())
    }

    /// Runs `sql` on the writer, bypassing the store's own checks, and returns the extended
    /// result code it was refused with.
    async fn refused(store: &SqliteStore, sql: &str) -> Option<i32> {
        let error = run(store, sql)
            .await
            .expect_err("the schema should refuse this");
        extended_code(&error)
    }

    fn booking(id: u8, status_columns: &str, values: &str) -> String {
        format!(
            "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, created_at, updated_at, \
             {status_columns}) VALUES (x'{id:032x}', {SLOT}, {DOCTOR}, x'{id:032x}', 0, 0, \
             {values})"
        )
    }

    /// A doctor, and a slot of theirs from t=100 to t=200, written directly.
    async fn seed(store: &SqliteStore) {
        run(
            store,
            &format!(
                "INSERT INTO doctors (id, name, specialization, timezone, created_at) \
                 VALUES ({DOCTOR}, 'Dr A', 'GP', 'UTC', 0)"
            ),
        )
        .await
        .unwrap();
        run(
            store,
            &format!(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
                 VALUES ({SLOT}, {DOCTOR}, 100, 200, 0)"
            ),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn connect_accepts_urls_and_plain_paths_and_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, url) in [
            (
                "a.db",
                format!("sqlite://{}", dir.path().join("a.db").display()),
            ),
            (
                "b.db",
                format!("sqlite:{}", dir.path().join("b.db").display()),
            ),
            ("c.db", dir.path().join("c.db").display().to_string()),
        ] {
            let store = SqliteStore::connect(&url).await.unwrap();
            assert_eq!(store.path(), dir.path().join(name));
            assert!(store.path().exists(), "{url} should create the file");
            store.close().await;
        }
    }

    #[tokio::test]
    async fn in_memory_databases_are_refused() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://db?mode=memory",
        ] {
            assert!(
                matches!(SqliteStore::connect(url).await, Err(StoreError::Other(_))),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn files_are_opened_in_wal_with_full_sync_foreign_keys_and_mapped_reads() {
        let (_dir, store) = fresh().await;
        for pool in [&store.writer, &store.reader] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(synchronous, 2, "FULL");
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(foreign_keys, 1);
            let mapped: i64 = sqlx::query_scalar("PRAGMA mmap_size")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(mapped, MMAP_BYTES);
        }
    }

    #[tokio::test]
    async fn a_write_lock_held_elsewhere_reads_as_busy() {
        let (dir, store) = fresh().await;
        let _held = store.begin_write().await.unwrap();
        // Another process that does not wait: SQLite answers SQLITE_BUSY at once.
        let other = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .busy_timeout(Duration::ZERO);
        let other = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(other)
            .await
            .unwrap();
        let error = other.begin_with("BEGIN IMMEDIATE").await.unwrap_err();
        assert!(matches!(store_error(error), StoreError::Busy(_)));
        // Reads are not blocked by the writer.
        let doctors: i64 = sqlx::query_scalar("SELECT count(*) FROM doctors")
            .fetch_one(&other)
            .await
            .unwrap();
        assert_eq!(doctors, 0);
    }

    #[tokio::test]
    async fn migrating_twice_is_harmless() {
        let (_dir, store) = fresh().await;
        seed(&store).await;
        store.migrate().await.unwrap();
        let slots: i64 = sqlx::query_scalar("SELECT count(*) FROM slots")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(slots, 1);
    }

    #[tokio::test]
    async fn reader_connections_cannot_write() {
        let (_dir, store) = fresh().await;
        let error = sqlx::query("DELETE FROM doctors")
            .execute(&store.reader)
            .await
            .unwrap_err();
        assert_eq!(extended_code(&error).map(|c| c & 0xff), Some(READONLY));
    }

    #[tokio::test]
    async fn the_schema_refuses_a_second_active_booking_on_a_slot() {
        let (_dir, store) = fresh().await;
        seed(&store).await;
        run(&store, &booking(10, "status", "'CONFIRMED'"))
            .await
            .unwrap();
        for (id, status, values) in [
            (11, "status", "'CONFIRMED'"),
            (12, "status, hold_until", "'PENDING', 50"),
            (
                13,
                "status, buffer_until, cancelled_by",
                "'BUFFER', 50, 'admin'",
            ),
        ] {
            assert_eq!(
                refused(&store, &booking(id, status, values)).await,
                Some(UNIQUE),
                "{values}"
            );
        }
        // Final bookings do not occupy the slot, so any number of them may sit beside it.
        run(&store, &booking(14, "status, hold_until", "'EXPIRED', 50"))
            .await
            .unwrap();
        run(
            &store,
            &booking(15, "status, cancelled_by", "'CANCELLED', 'patient'"),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn the_schema_refuses_a_status_without_the_columns_it_needs() {
        let (_dir, store) = fresh().await;
        seed(&store).await;
        for (id, columns, values) in [
            (20, "status", "'PENDING'"),
            (21, "status", "'EXPIRED'"),
            (22, "status, cancelled_by", "'BUFFER', 'admin'"),
            (
                23,
                "status, buffer_until, cancelled_by",
                "'BUFFER', 50, 'patient'",
            ),
            (24, "status", "'CANCELLED'"),
            (25, "status, hold_until", "'CONFIRMED', 50"),
            (26, "status", "'BOOKED'"),
            (27, "status, cancelled_by", "'CANCELLED', 'robot'"),
        ] {
            assert_eq!(
                refused(&store, &booking(id, columns, values)).await,
                Some(CHECK),
                "{values}"
            );
        }
    }

    #[tokio::test]
    async fn the_schema_refuses_overlapping_live_slots_and_backward_ranges() {
        let (_dir, store) = fresh().await;
        seed(&store).await;
        let slot = |id: u8, start: i64, end: i64| {
            format!(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
                 VALUES (x'{id:032x}', {DOCTOR}, {start}, {end}, 0)"
            )
        };
        assert_eq!(refused(&store, &slot(30, 150, 250)).await, Some(TRIGGER));
        assert_eq!(refused(&store, &slot(31, 50, 150)).await, Some(TRIGGER));
        assert_eq!(refused(&store, &slot(32, 0, 300)).await, Some(TRIGGER));
        assert_eq!(refused(&store, &slot(33, 300, 300)).await, Some(CHECK));
        // Touching is not overlapping, and a withdrawn slot's time is free again.
        run(&store, &slot(34, 200, 250)).await.unwrap();
        run(
            &store,
            &format!("UPDATE slots SET withdrawn_at = 1 WHERE id = {SLOT}"),
        )
        .await
        .unwrap();
        run(&store, &slot(35, 100, 200)).await.unwrap();
    }

    #[tokio::test]
    async fn foreign_keys_refuse_deleting_history() {
        let (_dir, store) = fresh().await;
        seed(&store).await;
        run(&store, &booking(40, "status", "'CONFIRMED'"))
            .await
            .unwrap();
        // SQLite runs `ON DELETE RESTRICT` as an internal trigger, so a refused delete reports
        // SQLITE_CONSTRAINT_TRIGGER; an insert with no parent reports the foreign key itself.
        assert_eq!(refused(&store, "DELETE FROM slots").await, Some(TRIGGER));
        assert_eq!(refused(&store, "DELETE FROM doctors").await, Some(TRIGGER));
        let orphan = format!(
            "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, status, created_at, \
             updated_at) VALUES (x'{:032x}', x'{:032x}', {DOCTOR}, x'{:032x}', 'CONFIRMED', 0, 0)",
            41, 99, 41
        );
        assert_eq!(refused(&store, &orphan).await, Some(FOREIGN_KEY));
        // A booking's doctor is its slot's doctor.
        run(
            &store,
            "INSERT INTO doctors (id, name, specialization, timezone, created_at) \
             VALUES (x'00000000000000000000000000000005', 'Dr B', 'GP', 'UTC', 0)",
        )
        .await
        .unwrap();
        let wrong_doctor = format!(
            "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, status, cancelled_by, \
             created_at, updated_at) VALUES (x'{:032x}', {SLOT}, x'{:032x}', x'{:032x}', \
             'CANCELLED', 'patient', 0, 0)",
            42, 5, 42
        );
        assert_eq!(refused(&store, &wrong_doctor).await, Some(FOREIGN_KEY));
    }
}
