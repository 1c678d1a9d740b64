//! Bench-only PostgreSQL paths: the minimal booking statements with no engine around them, one
//! per lock strategy, on the store's own schema. They are the ceiling the engine is compared
//! with and the alternatives contributors compare, each held to the same invariant check.
//!
//! Simplification, on purpose: these paths treat a booking as occupying its slot by status
//! alone (the benchmark makes no holds, and its admin buffers outlast the run), so they skip the
//! tidy of lapsed holds that the store does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use medislot_core::{BookingId, DoctorId, PatientId, SlotId};
use sqlx::{Executor as _, PgPool, Row};

use crate::options::Strategy;
use crate::stats::{commit_loop, Outcome, Tally};
use crate::target::{admin_buffer, READ_PAGE};

/// Which raw path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawPath {
    /// A lock strategy with sqlx's extended protocol: one round trip per statement.
    Strategy(Strategy),
    /// FOR UPDATE in two round trips, as simple-query scripts (`BEGIN; SELECT ... FOR UPDATE`
    /// then `INSERT ...; COMMIT`): the fewest a lock-then-decide transaction can take.
    Pipelined,
    /// The `FOR UPDATE` loop writing what the engine's booking writes: the booking, its
    /// journal entry and the entry's message on each of the three channels, in one statement
    /// (same round trips). What the audit trail and the outbox cost, without the engine.
    Recorded,
}

impl RawPath {
    /// The name in tables.
    pub(crate) fn name(self) -> String {
        match self {
            RawPath::Strategy(s) => format!("raw {}", s.name()),
            RawPath::Pipelined => "raw for-update, pipelined".to_owned(),
            RawPath::Recorded => RECORDED_NAME.to_owned(),
        }
    }
}

/// How many times a SERIALIZABLE booking is tried before it gives up.
const SERIALIZABLE_TRIES: u32 = 20;

/// Locks the slot and reads what the booking rule needs: is it live, upcoming, and free.
const LOCK_SLOT: &str = "SELECT s.withdrawn_at IS NULL, s.starts_at > $2, NOT EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
    FROM slots s WHERE s.id = $1 FOR UPDATE OF s";
const LOCK_SLOT_NOWAIT: &str = "SELECT s.withdrawn_at IS NULL, s.starts_at > $2, NOT EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
    FROM slots s WHERE s.id = $1 FOR UPDATE OF s NOWAIT";
/// The same read without a lock: SERIALIZABLE detects the conflicts instead.
const READ_SLOT: &str = "SELECT s.withdrawn_at IS NULL, s.starts_at > $2, NOT EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
    FROM slots s WHERE s.id = $1";
const INSERT_BOOKING: &str = "INSERT INTO bookings
    (id, slot_id, patient_id, status, created_at, updated_at)
    VALUES ($1, $2, $3, 'CONFIRMED', $4, $4)";
/// [`RawPath::Recorded`]'s name.
pub(crate) const RECORDED_NAME: &str = "raw for-update, recorded";
/// The booking with its journal entry and messages, as the engine writes them for a booking
/// (`booking.booked` by the patient, queued on every channel, due at once).
const INSERT_RECORDED: &str = "WITH booking AS (
        INSERT INTO bookings (id, slot_id, patient_id, status, created_at, updated_at)
        VALUES ($1, $2, $3, 'CONFIRMED', $4, $4) RETURNING id, slot_id, patient_id),
    entry AS (
        INSERT INTO journal (id, at, kind, actor_kind, actor_id, doctor_id, slot_id, booking_id,
            patient_id, to_status)
        SELECT $5, $4, 'booking.booked', 'patient', b.patient_id, s.doctor_id, b.slot_id, b.id,
            b.patient_id, 'CONFIRMED'
        FROM booking b JOIN slots s ON s.id = b.slot_id RETURNING id)
    INSERT INTO outbox (entry_id, channel, at, due_at)
    SELECT e.id, c.channel, $4, $4
    FROM entry e CROSS JOIN unnest(ARRAY['webhook', 'email', 'broker']) AS c(channel)";
/// Check and write in one statement; of two racing inserts the unique index lets one through.
const CONDITIONAL_INSERT: &str = "INSERT INTO bookings
    (id, slot_id, patient_id, status, created_at, updated_at)
    SELECT $1, s.id, $3, 'CONFIRMED', $4, $4 FROM slots s
    WHERE s.id = $2 AND s.withdrawn_at IS NULL AND s.starts_at > $4 AND NOT EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
    ON CONFLICT (slot_id) WHERE status IN ('PENDING', 'CONFIRMED', 'BUFFER') DO NOTHING";
const READ_AVAILABLE: &str = "SELECT s.id, s.starts_at, s.ends_at FROM slots s
    WHERE s.doctor_id = $1 AND s.withdrawn_at IS NULL AND s.starts_at >= $2 AND NOT EXISTS (
        SELECT 1 FROM bookings b
        WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
    ORDER BY s.starts_at, s.id LIMIT $3";
const CANCEL_BY_PATIENT: &str = "UPDATE bookings
    SET status = 'CANCELLED', cancelled_by = 'patient', updated_at = $3
    WHERE id = $1 AND patient_id = $2 AND status IN ('PENDING', 'CONFIRMED')";
const CANCEL_BY_ADMIN: &str = "UPDATE bookings
    SET status = 'BUFFER', cancelled_by = 'admin', buffer_until = $2, updated_at = $3
    WHERE id = $1 AND status = 'CONFIRMED'";

/// A raw path on a pool, with the retries it needed (SERIALIZABLE only).
#[derive(Clone, Debug)]
pub(crate) struct RawPg {
    pool: PgPool,
    path: RawPath,
    retries: Arc<AtomicU64>,
}

impl RawPg {
    pub(crate) fn new(pool: PgPool, path: RawPath) -> Self {
        Self {
            pool,
            path,
            retries: Arc::default(),
        }
    }

    /// Serialization failures retried so far.
    pub(crate) fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub(crate) async fn book(
        &self,
        slot: SlotId,
        patient: PatientId,
    ) -> (Outcome, Option<BookingId>) {
        let id = BookingId::new();
        // Boxed as a `Send` future here, where every lifetime is concrete: left to inference
        // through the spawned client, sqlx's executor bounds are "not general enough".
        let attempt: BoxFuture<'_, sqlx::Result<Outcome>> = match self.path {
            RawPath::Strategy(Strategy::ForUpdate) => {
                Box::pin(self.locked_with(LOCK_SLOT, Write::Booking, id, slot, patient))
            }
            RawPath::Strategy(Strategy::Nowait) => {
                Box::pin(self.locked_with(LOCK_SLOT_NOWAIT, Write::Booking, id, slot, patient))
            }
            RawPath::Strategy(Strategy::Conditional) => {
                Box::pin(self.conditional(id, slot, patient))
            }
            RawPath::Strategy(Strategy::Serializable) => {
                Box::pin(self.serializable(id, slot, patient))
            }
            RawPath::Pipelined => Box::pin(self.pipelined(id, slot, patient)),
            RawPath::Recorded => {
                Box::pin(self.locked_with(LOCK_SLOT, Write::Recorded, id, slot, patient))
            }
        };
        let result = attempt.await;
        match result {
            Ok(Outcome::Ok) => (Outcome::Ok, Some(id)),
            Ok(outcome) => (outcome, None),
            Err(e) => match sqlstate(&e).as_deref() {
                Some("55P03") => (Outcome::Rejected("lock_not_available"), None),
                _ => (Outcome::Error(e.to_string()), None),
            },
        }
    }

    /// BEGIN; lock and read; `write`; COMMIT: four round trips.
    async fn locked_with(
        &self,
        lock: &'static str,
        write: Write,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(lock)
            .bind(slot.as_uuid())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(refusal) = refusal(row.as_ref())? {
            tx.rollback().await?;
            return Ok(refusal);
        }
        match insert(&mut tx, write, id, slot, patient, now).await {
            // The lock statement read with the snapshot it started with, before it waited for
            // the lock: a booking committed meanwhile is caught by the unique index.
            Err(e) if is_taken(&e) => {
                tx.rollback().await?;
                return Ok(Outcome::Rejected("slot_unavailable"));
            }
            other => other?,
        }
        tx.commit().await?;
        Ok(Outcome::Ok)
    }

    /// One autocommitted statement: one round trip.
    async fn conditional(
        &self,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let done = sqlx::query(CONDITIONAL_INSERT)
            .bind(id.as_uuid())
            .bind(slot.as_uuid())
            .bind(patient.as_uuid())
            .bind(Utc::now())
            .execute(&self.pool)
            .await?;
        Ok(if done.rows_affected() == 1 {
            Outcome::Ok
        } else {
            // Missing, withdrawn, started or taken: one statement cannot tell which cheaply.
            Outcome::Rejected("slot_unavailable")
        })
    }

    /// SERIALIZABLE without locks, retried on serialization failure, deadlock or a racing
    /// insert's unique violation (the retry then reads the winner and refuses).
    async fn serializable(
        &self,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.serializable_once(id, slot, patient).await {
                Err(e)
                    if tries < SERIALIZABLE_TRIES
                        && matches!(sqlstate(&e).as_deref(), Some("40001" | "40P01" | "23505")) =>
                {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_micros(100 * u64::from(tries))).await;
                }
                Err(e) if matches!(sqlstate(&e).as_deref(), Some("40001" | "40P01" | "23505")) => {
                    return Ok(Outcome::Rejected("retries_exhausted"));
                }
                other => return other,
            }
        }
    }

    async fn serializable_once(
        &self,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let now = Utc::now();
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await?;
        let row = sqlx::query(READ_SLOT)
            .bind(slot.as_uuid())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(refusal) = refusal(row.as_ref())? {
            tx.rollback().await?;
            return Ok(refusal);
        }
        insert(&mut tx, Write::Booking, id, slot, patient, now).await?;
        tx.commit().await?;
        Ok(Outcome::Ok)
    }

    /// FOR UPDATE in two simple-query scripts. Values are inlined as literals of typed values
    /// (UUIDs and RFC 3339 instants), which cannot leave their quotes.
    async fn pipelined(
        &self,
        id: BookingId,
        slot: SlotId,
        patient: PatientId,
    ) -> sqlx::Result<Outcome> {
        let now = Utc::now();
        let at = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut conn = self.pool.acquire().await?;
        let result = pipelined_steps(&mut conn, &at, id, slot, patient).await;
        if result.is_err() && conn.execute("ROLLBACK").await.is_err() {
            // A connection in an unknown transaction state must not go back to the pool.
            conn.close_on_drop();
        }
        result
    }

    pub(crate) async fn read(&self, doctor: DoctorId, from: DateTime<Utc>) -> Outcome {
        let rows = sqlx::query(READ_AVAILABLE)
            .bind(doctor.as_uuid())
            .bind(from)
            .bind(i64::from(READ_PAGE))
            .fetch_all(&self.pool)
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
            sqlx::query(CANCEL_BY_ADMIN)
                .bind(id.as_uuid())
                .bind(now + admin_buffer())
                .bind(now)
                .execute(&self.pool)
                .await
        } else {
            sqlx::query(CANCEL_BY_PATIENT)
                .bind(id.as_uuid())
                .bind(patient.as_uuid())
                .bind(now)
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

async fn pipelined_steps(
    conn: &mut sqlx::PgConnection,
    at: &str,
    id: BookingId,
    slot: SlotId,
    patient: PatientId,
) -> sqlx::Result<Outcome> {
    let lock = format!(
        "BEGIN; SELECT s.withdrawn_at IS NULL, s.starts_at > '{at}'::timestamptz, NOT EXISTS (
            SELECT 1 FROM bookings b
            WHERE b.slot_id = s.id AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER'))
        FROM slots s WHERE s.id = '{slot}'::uuid FOR UPDATE OF s"
    );
    // A bare string with no arguments goes over the simple-query protocol: one round trip
    // for the whole script.
    let rows = conn.fetch_all(lock.as_str()).await?;
    if let Some(refusal) = refusal(rows.first())? {
        conn.execute("ROLLBACK").await?;
        return Ok(refusal);
    }
    let write = format!(
        "INSERT INTO bookings (id, slot_id, patient_id, status, created_at, updated_at)
        VALUES ('{id}'::uuid, '{slot}'::uuid, '{patient}'::uuid, 'CONFIRMED',
            '{at}'::timestamptz, '{at}'::timestamptz); COMMIT"
    );
    match conn.execute(write.as_str()).await {
        // As in `locked`: the lock statement's snapshot predates the lock.
        Err(e) if is_taken(&e) => {
            conn.execute("ROLLBACK").await?;
            Ok(Outcome::Rejected("slot_unavailable"))
        }
        other => other.map(|_| Outcome::Ok),
    }
}

/// What a raw path writes for a booking.
#[derive(Clone, Copy, Debug)]
enum Write {
    /// The booking alone ([`INSERT_BOOKING`]).
    Booking,
    /// The booking, its journal entry and its messages ([`INSERT_RECORDED`]).
    Recorded,
}

async fn insert(
    tx: &mut sqlx::PgConnection,
    write: Write,
    id: BookingId,
    slot: SlotId,
    patient: PatientId,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let sql = match write {
        Write::Booking => INSERT_BOOKING,
        Write::Recorded => INSERT_RECORDED,
    };
    let query = sqlx::query(sql)
        .bind(id.as_uuid())
        .bind(slot.as_uuid())
        .bind(patient.as_uuid())
        .bind(now);
    let query = match write {
        Write::Booking => query,
        // The journal entry's id.
        Write::Recorded => query.bind(uuid::Uuid::now_v7()),
    };
    query.execute(tx).await?;
    Ok(())
}

/// Reads the lock query's answer: `None` when the slot may be booked.
fn refusal(row: Option<&sqlx::postgres::PgRow>) -> sqlx::Result<Option<Outcome>> {
    let Some(row) = row else {
        return Ok(Some(Outcome::Rejected("slot_not_found")));
    };
    let (live, upcoming, free): (bool, bool, bool) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    Ok(if !live {
        Some(Outcome::Rejected("slot_not_found"))
    } else if !upcoming {
        Some(Outcome::Rejected("slot_in_past"))
    } else if !free {
        Some(Outcome::Rejected("slot_unavailable"))
    } else {
        None
    })
}

/// Whether a write failed because the slot already has an occupying booking.
fn is_taken(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e.constraint() == Some("bookings_one_active_per_slot"),
        _ => false,
    }
}

/// The SQLSTATE of a database error.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// PostgreSQL's fsync-bound commit rate: each client updates its own row, one row per
/// transaction, as fast as commits return.
pub(crate) async fn commit_rate(
    pool: &PgPool,
    clients: usize,
    duration: Duration,
) -> sqlx::Result<(Tally, Duration)> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS bench_commit_probe (id int PRIMARY KEY, n bigint NOT NULL)",
    )
    .execute(pool)
    .await?;
    let count = i32::try_from(clients).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO bench_commit_probe SELECT g, 0 FROM generate_series(0, $1 - 1) g
         ON CONFLICT DO NOTHING",
    )
    .bind(count)
    .execute(pool)
    .await?;
    let pool = pool.clone();
    Ok(commit_loop(i64::from(count), duration, move |row| {
        let pool = pool.clone();
        async move {
            sqlx::query("UPDATE bench_commit_probe SET n = n + 1 WHERE id = $1")
                .bind(i32::try_from(row).unwrap_or(i32::MAX))
                .execute(&pool)
                .await
        }
    })
    .await)
}
