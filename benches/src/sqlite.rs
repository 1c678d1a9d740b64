//! The run's own SQLite file: `SqliteStore` on it for the engine, and bench-only raw statements
//! on the same file (`BEGIN IMMEDIATE`, check, insert, commit on one writer connection, as the
//! store does) for the ceiling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use medislot_core::{BookingEngine, BookingId, DoctorId, PatientId, SlotId};
use medislot_sqlite::{SqliteStore, BUSY_TIMEOUT, WRITE_QUEUE_TIMEOUT};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use crate::stats::{commit_loop, Outcome, Tally};
use crate::target::{admin_buffer, READ_PAGE};
use crate::BenchError;

/// Read connections of the raw path: as many as `SqliteStore` opens.
const READERS: u32 = 4;

/// A fresh file in the temporary directory, removed (with its WAL) when the run ends.
#[derive(Debug)]
pub(crate) struct SqliteFile {
    path: PathBuf,
    pub(crate) store: SqliteStore,
    /// One writer connection for the raw statements, set up as the store's.
    pub(crate) raw: SqlitePool,
    /// Read-only connections for the raw reads, as many as the store has.
    pub(crate) raw_reader: SqlitePool,
}

impl SqliteFile {
    pub(crate) async fn create() -> Result<Self, BenchError> {
        let path = std::env::temp_dir().join(format!(
            "medislot-bench-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        let store = SqliteStore::connect(&path.to_string_lossy()).await?;
        store.migrate().await?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let raw = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(WRITE_QUEUE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let raw_reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        tracing::info!(path = %path.display(), "created the run's SQLite file");
        Ok(Self {
            path,
            store,
            raw,
            raw_reader,
        })
    }

    pub(crate) fn engine(&self) -> BookingEngine {
        crate::target::engine(Arc::new(self.store.clone()))
    }

    /// Closes every connection and removes the file and its journals.
    pub(crate) async fn remove(self) {
        self.raw.close().await;
        self.raw_reader.close().await;
        self.store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

fn blob(id: uuid::Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The minimal booking statements on the store's SQLite schema, with no engine around them.
#[derive(Clone, Debug)]
pub(crate) struct RawSqlite {
    pool: SqlitePool,
    reader: SqlitePool,
}

impl RawSqlite {
    pub(crate) fn new(file: &SqliteFile) -> Self {
        Self {
            pool: file.raw.clone(),
            reader: file.raw_reader.clone(),
        }
    }

    pub(crate) async fn book(
        &self,
        slot: SlotId,
        patient: PatientId,
    ) -> (Outcome, Option<BookingId>) {
        let id = BookingId::new();
        match self.try_book(id, slot, patient).await {
            Ok(Outcome::Ok) => (Outcome::Ok, Some(id)),
            Ok(outcome) => (outcome, None),
            Err(e) => (Outcome::Error(e.to_string()), None),
        }
    }

    async fn try_book(
        &self,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let now = Utc::now().timestamp_micros();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT s.withdrawn_at IS NULL, s.starts_at > ?2, NOT EXISTS (
                SELECT 1 FROM bookings b
                WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
                , s.doctor_id
            FROM slots s WHERE s.id = ?1",
        )
        .bind(blob(slot.as_uuid()))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let mut doctor: Vec<u8> = Vec::new();
        let refusal = match row {
            None => Some("slot_not_found"),
            Some(row) => {
                doctor = row.try_get(3)?;
                let (live, upcoming, free): (i64, i64, i64) =
                    (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                if live == 0 {
                    Some("slot_not_found")
                } else if upcoming == 0 {
                    Some("slot_in_past")
                } else if free == 0 {
                    Some("slot_unavailable")
                } else {
                    None
                }
            }
        };
        if let Some(reason) = refusal {
            tx.rollback().await?;
            return Ok(Outcome::Rejected(reason));
        }
        sqlx::query(
            "INSERT INTO bookings
                 (id, slot_id, doctor_id, patient_id, status, created_at, updated_at)
             VALUES (?1, ?2, ?5, ?3, 'CONFIRMED', ?4, ?4)",
        )
        .bind(blob(id.as_uuid()))
        .bind(blob(slot.as_uuid()))
        .bind(blob(patient.as_uuid()))
        .bind(now)
        .bind(doctor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Outcome::Ok)
    }

    pub(crate) async fn read(&self, doctor: DoctorId, from: DateTime<Utc>) -> Outcome {
        let rows = sqlx::query(
            "SELECT s.id, s.starts_at, s.ends_at FROM slots s
             WHERE s.doctor_id = ?1 AND s.withdrawn_at IS NULL AND s.starts_at >= ?2
               AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id
                   AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
             ORDER BY s.starts_at, s.id LIMIT ?3",
        )
        .bind(blob(doctor.as_uuid()))
        .bind(from.timestamp_micros())
        .bind(i64::from(READ_PAGE))
        .fetch_all(&self.reader)
        .await;
        match rows {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Error(e.to_string()),
        }
    }

    pub(crate) async fn cancel(
        &self,
        id: BookingId,
        patient: PatientId,
        by_admin: bool,
    ) -> Outcome {
        let now = Utc::now();
        let done = if by_admin {
            sqlx::query(
                "UPDATE bookings SET status = 'BUFFER', cancelled_by = 'admin',
                     buffer_until = ?2, updated_at = ?3
                 WHERE id = ?1 AND status = 'CONFIRMED'",
            )
            .bind(blob(id.as_uuid()))
            .bind((now + admin_buffer()).timestamp_micros())
            .bind(now.timestamp_micros())
            .execute(&self.pool)
            .await
        } else {
            sqlx::query(
                "UPDATE bookings SET status = 'CANCELLED', cancelled_by = 'patient', updated_at = ?3
                 WHERE id = ?1 AND patient_id = ?2 AND status = 'CONFIRMED'",
            )
            .bind(blob(id.as_uuid()))
            .bind(blob(patient.as_uuid()))
            .bind(now.timestamp_micros())
            .execute(&self.pool)
            .await
        };
        match done {
            Ok(done) if done.rows_affected() == 1 => Outcome::Ok,
            Ok(_) => Outcome::Rejected("invalid_transition"),
            Err(e) => Outcome::Error(e.to_string()),
        }
    }
}

/// SQLite's fsync-bound commit rate on the same file: one-row UPDATE per transaction.
pub(crate) async fn commit_rate(
    pool: &SqlitePool,
    clients: usize,
    duration: Duration,
) -> sqlx::Result<(Tally, Duration)> {
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_commit_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .execute(pool)
        .await?;
    let count = i64::try_from(clients).unwrap_or(i64::MAX);
    for row in 0..count {
        sqlx::query("INSERT OR IGNORE INTO bench_commit_probe VALUES (?1, 0)")
            .bind(row)
            .execute(pool)
            .await?;
    }
    let pool = pool.clone();
    Ok(commit_loop(count, duration, move |row| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE bench_commit_probe SET n = n + 1 WHERE id = ?1")
                .bind(row)
                .execute(&pool)
                .await
        }
    })
    .await)
}
