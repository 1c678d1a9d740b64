//! The run's own PostgreSQL database: created fresh, migrated by the store, filled with each
//! round's calendar, checked, and dropped at the end.

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use medislot_core::{DoctorId, SlotId};
use medislot_pg::{PgStore, PgStoreOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::invariant::Invariant;
use crate::workload::{Calendar, SLOT_MINUTES};
use crate::BenchError;

/// A database of this run on the server at `--database-url`.
#[derive(Debug)]
pub(crate) struct Database {
    server: PgConnectOptions,
    name: String,
    options: PgConnectOptions,
    pub(crate) pool: PgPool,
}

impl Database {
    /// Creates `bench_<uuid>`, opens a pool of `pool_size` on it and lets the store migrate it.
    pub(crate) async fn create(url: &str, pool_size: u32) -> Result<Self, BenchError> {
        let server = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let name = format!("bench_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect_with(&server).await?;
        // The name is ours (hex digits), not input.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        tracing::info!(database = %name, "created the run's database");
        let options = server.clone().database(&name);
        // As PgStoreOptions sets its pool: no ping before each acquire, which would add a round
        // trip to every request of the raw paths.
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(60))
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await;
        let database = match pool {
            Ok(pool) => Self {
                server,
                name,
                options,
                pool,
            },
            Err(e) => {
                drop_database(&server, &name).await;
                return Err(e.into());
            }
        };
        if let Err(e) = database.migrate().await {
            database.drop().await;
            return Err(e);
        }
        Ok(database)
    }

    /// Connection options for this database.
    pub(crate) fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// The store's own migrations, so that every path runs on the store's schema.
    async fn migrate(&self) -> Result<(), BenchError> {
        PgStore::from_pool(self.pool.clone()).migrate().await?;
        Ok(())
    }

    /// A `PgStore` on this database with a pool of its own, set up as a server would
    /// (`PgStoreOptions`), with as many connections as the raw paths get.
    pub(crate) async fn store(&self, pool_size: u32) -> Result<PgStore, BenchError> {
        Ok(PgStoreOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(self.options.clone())
            .await?)
    }

    /// Publishes a doctor with `count` back-to-back slots, straight in SQL on the store's
    /// schema (setup is not what is measured).
    pub(crate) async fn calendar(&self, count: usize) -> Result<Calendar, BenchError> {
        let doctor = DoctorId::new();
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO doctors (id, name, specialization, timezone, created_at)
             VALUES ($1, 'Dr Bench', 'Cardiology', 'UTC', $2)",
        )
        .bind(doctor.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await?;
        let starts = Calendar::starts(count);
        let ids: Vec<Uuid> = (0..count).map(|_| SlotId::new().as_uuid()).collect();
        sqlx::query(
            "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at)
             SELECT t.id, $3, t.starts_at, t.starts_at + make_interval(mins => $4), $5
             FROM UNNEST($1::uuid[], $2::timestamptz[]) AS t(id, starts_at)",
        )
        .bind(&ids)
        .bind(&starts)
        .bind(doctor.as_uuid())
        .bind(i32::try_from(SLOT_MINUTES).unwrap_or(15))
        .bind(now)
        .execute(&self.pool)
        .await?;
        let mut calendar = Calendar {
            doctor,
            slots: ids.into_iter().map(SlotId::from_uuid).zip(starts).collect(),
        };
        calendar.shuffle();
        Ok(calendar)
    }

    /// Reads the invariant of one doctor's slots in SQL, whoever wrote the bookings.
    pub(crate) async fn invariant(
        &self,
        doctor: DoctorId,
        expected_active: u64,
    ) -> Result<Invariant, BenchError> {
        let (active, doubled): (i64, i64) = sqlx::query_as(
            "WITH occupying AS (
                SELECT b.slot_id FROM bookings b JOIN slots s ON s.id = b.slot_id
                WHERE s.doctor_id = $1 AND (b.status = 'CONFIRMED'
                    OR (b.status = 'PENDING' AND b.hold_until > now())
                    OR (b.status = 'BUFFER' AND b.buffer_until > now())))
             SELECT (SELECT count(*) FROM occupying),
                    (SELECT count(*) FROM (SELECT slot_id FROM occupying
                        GROUP BY slot_id HAVING count(*) > 1) d)",
        )
        .bind(doctor.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(Invariant::new(
            u64::try_from(active).unwrap_or(0),
            expected_active,
            u64::try_from(doubled).unwrap_or(0),
        ))
    }

    /// Closes the pool and drops the database, logging (not failing) when the drop fails.
    pub(crate) async fn drop(self) {
        self.pool.close().await;
        drop_database(&self.server, &self.name).await;
    }
}

async fn drop_database(server: &PgConnectOptions, name: &str) {
    let dropped = async {
        let mut admin = PgConnection::connect_with(server).await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }
    .await;
    match dropped {
        Ok(()) => tracing::info!(database = %name, "dropped the run's database"),
        Err(e) => {
            tracing::error!(database = %name, error = %e, "could not drop the run's database")
        }
    }
}
