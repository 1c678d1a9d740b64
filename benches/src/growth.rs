//! The growth table: how the cost of booking, the two listings, the availability summary and
//! "next available" changes with the data a store holds. For each size, a fresh store gets
//! that many slots over [`DOCTORS`] doctors, bulk inserted in SQL before anything is measured
//! (setup is not what is measured); then each operation runs `--samples` times, one at a time,
//! through the [`BookingEngine`], and its median and p99 are compared with the first size's.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use hdrhistogram::Histogram;
use medislot_core::{BookingEngine, DoctorId, FreeSlotFilter, PatientId, SlotId, SlotQuery};
use serde::Serialize;
use uuid::Uuid;

use crate::options::{Options, StoreKind};
use crate::pg::Database;
use crate::sqlite::SqliteFile;
use crate::BenchError;

/// Doctors the preloaded slots are spread over.
pub const DOCTORS: usize = 20;
/// Their specializations, five doctors each; listings ask for the first.
const SPECIALIZATIONS: [&str; 4] = ["Cardiology", "Dermatology", "Neurology", "Pediatrics"];
/// Slots per doctor per day: 09:00 to 17:00 in 15-minute slots.
const SLOTS_PER_DAY: usize = 32;
/// Slot length in minutes.
const MINUTES: i64 = 15;
/// A page, as `GET /api/v1/slots?...&limit=50` asks for.
const PAGE: u32 = 50;
/// Days an availability summary covers (a week view).
const SUMMARY_DAYS: i64 = 7;
/// Untimed runs of each operation before the timed ones (plans cached, pages warm).
const WARM_UP: usize = 10;

/// The operations of the growth table, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrowthOp {
    /// Book a random free slot.
    Book,
    /// One doctor's slots of one day (`doctor_id`, `from`, `to`).
    DoctorDay,
    /// The first page of free cardiology slots (`specialization`, `available=true`, `limit=50`).
    SpecializationAvailable,
    /// A week's availability summary of a specialization.
    Summary,
    /// The first free cardiology slot after a random instant.
    NextAvailable,
}

impl GrowthOp {
    const ALL: [GrowthOp; 5] = [
        GrowthOp::Book,
        GrowthOp::DoctorDay,
        GrowthOp::SpecializationAvailable,
        GrowthOp::Summary,
        GrowthOp::NextAvailable,
    ];

    fn name(self) -> &'static str {
        match self {
            GrowthOp::Book => "book",
            GrowthOp::DoctorDay => "list: a doctor's day",
            GrowthOp::SpecializationAvailable => "list: specialization, available",
            GrowthOp::Summary => "availability summary (7 days)",
            GrowthOp::NextAvailable => "next available",
        }
    }
}

/// One operation at one data size.
#[derive(Clone, Debug, Serialize)]
pub struct GrowthRow {
    /// Slots in the store before the measured operations.
    pub slots: usize,
    /// Which operation.
    pub op: GrowthOp,
    /// How many timed runs.
    pub samples: u64,
    /// Median latency in microseconds.
    pub p50_us: u64,
    /// 99th percentile in microseconds.
    pub p99_us: u64,
    /// Runs the store failed or refused (a booking of a slot another run took is not one).
    pub errors: u64,
}

/// The whole table.
#[derive(Clone, Debug, Serialize)]
pub struct GrowthReport {
    /// Where the slots were stored.
    pub store: StoreKind,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// One row per (size, operation), sizes in the order asked for.
    pub rows: Vec<GrowthRow>,
}

impl GrowthReport {
    /// The row of `op` at the first size, the one every ratio is taken to.
    fn base(&self, op: GrowthOp) -> Option<&GrowthRow> {
        self.rows.iter().find(|row| row.op == op)
    }

    /// The median's ratio to the first size's median of the same operation.
    pub fn ratio(&self, row: &GrowthRow) -> f64 {
        match self.base(row.op) {
            Some(base) if base.p50_us > 0 => row.p50_us as f64 / base.p50_us as f64,
            _ => f64::NAN,
        }
    }

    /// A Markdown table: one line per operation and size.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let first = self.rows.first().map_or(0, |row| row.slots);
        let _ = writeln!(
            out,
            "growth on {:?}, {} doctors, started {}",
            self.store,
            DOCTORS,
            self.started_at.format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(
            out,
            "| operation | slots | samples | median µs | p99 µs | median / {first} slots | errors |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for op in GrowthOp::ALL {
            for row in self.rows.iter().filter(|row| row.op == op) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {:.2} | {} |",
                    op.name(),
                    row.slots,
                    row.samples,
                    row.p50_us,
                    row.p99_us,
                    self.ratio(row),
                    row.errors
                );
            }
        }
        out
    }
}

/// What one preloaded store holds: its doctors, the span of days the slots cover, and a random
/// sample of slot ids to book.
struct Preloaded {
    doctors: Vec<DoctorId>,
    first_day: NaiveDate,
    days: i64,
    to_book: Vec<SlotId>,
}

/// The doctors, specializations and slot starts of a preload of `count` slots: each doctor
/// gets `count / DOCTORS` slots, [`SLOTS_PER_DAY`] a day from 09:00 UTC, starting tomorrow.
fn plan(count: usize) -> (Vec<(DoctorId, &'static str)>, NaiveDate, usize) {
    let doctors = (0..DOCTORS)
        .map(|i| (DoctorId::new(), SPECIALIZATIONS[i % SPECIALIZATIONS.len()]))
        .collect();
    let first_day = (Utc::now() + chrono::Duration::days(1)).date_naive();
    (doctors, first_day, count / DOCTORS)
}

fn start_of(first_day: NaiveDate, index: usize) -> DateTime<Utc> {
    let day = i64::try_from(index / SLOTS_PER_DAY).unwrap_or(i64::MAX);
    let within = i64::try_from(index % SLOTS_PER_DAY).unwrap_or(0);
    let nine = first_day.and_hms_opt(9, 0, 0).unwrap_or_default().and_utc();
    nine + chrono::Duration::days(day) + chrono::Duration::minutes(MINUTES * within)
}

fn span_days(per_doctor: usize) -> i64 {
    i64::try_from(per_doctor.div_ceil(SLOTS_PER_DAY))
        .unwrap_or(1)
        .max(1)
}

/// Bulk inserts `count` slots into the run's PostgreSQL database, in chunks of one `UNNEST`.
async fn preload_pg(db: &Database, count: usize, samples: usize) -> Result<Preloaded, BenchError> {
    let (doctors, first_day, per_doctor) = plan(count);
    let now = Utc::now();
    for (doctor, specialization) in &doctors {
        sqlx::query(
            "INSERT INTO doctors (id, name, specialization, timezone, created_at)
             VALUES ($1, 'Dr Growth', $2, 'UTC', $3)",
        )
        .bind(doctor.as_uuid())
        .bind(*specialization)
        .bind(now)
        .execute(&db.pool)
        .await?;
    }
    const CHUNK: usize = 50_000;
    for (doctor, _) in &doctors {
        let mut index = 0;
        while index < per_doctor {
            let end = (index + CHUNK).min(per_doctor);
            let ids: Vec<Uuid> = (index..end).map(|_| Uuid::new_v4()).collect();
            let starts: Vec<DateTime<Utc>> = (index..end).map(|i| start_of(first_day, i)).collect();
            sqlx::query(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at)
                 SELECT t.id, $3, t.starts_at, t.starts_at + make_interval(mins => $4), $5
                 FROM UNNEST($1::uuid[], $2::timestamptz[]) AS t(id, starts_at)",
            )
            .bind(&ids)
            .bind(&starts)
            .bind(doctor.as_uuid())
            .bind(i32::try_from(MINUTES).unwrap_or(15))
            .bind(now)
            .execute(&db.pool)
            .await?;
            index = end;
        }
    }
    // What autovacuum would have done by the time a clinic had this many slots.
    for table in ["VACUUM ANALYZE slots", "VACUUM ANALYZE doctors"] {
        sqlx::raw_sql(table).execute(&db.pool).await?;
    }
    let to_book: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM slots ORDER BY random() LIMIT $1")
        .bind(i64::try_from(samples + WARM_UP).unwrap_or(i64::MAX))
        .fetch_all(&db.pool)
        .await?;
    Ok(Preloaded {
        doctors: doctors.into_iter().map(|(id, _)| id).collect(),
        first_day,
        days: span_days(per_doctor),
        to_book: to_book.into_iter().map(SlotId::from_uuid).collect(),
    })
}

/// Bulk inserts `count` slots into the run's SQLite file, in one transaction.
async fn preload_sqlite(
    file: &SqliteFile,
    count: usize,
    samples: usize,
) -> Result<Preloaded, BenchError> {
    let (doctors, first_day, per_doctor) = plan(count);
    let now = Utc::now().timestamp_micros();
    let mut tx = file.raw.begin().await?;
    for (doctor, specialization) in &doctors {
        sqlx::query(
            "INSERT INTO doctors (id, name, specialization, timezone, created_at)
             VALUES (?1, 'Dr Growth', ?2, 'UTC', ?3)",
        )
        .bind(doctor.as_uuid().as_bytes().to_vec())
        .bind(*specialization)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for index in 0..per_doctor {
            let start = start_of(first_day, index);
            sqlx::query(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(Uuid::new_v4().as_bytes().to_vec())
            .bind(doctor.as_uuid().as_bytes().to_vec())
            .bind(start.timestamp_micros())
            .bind((start + chrono::Duration::minutes(MINUTES)).timestamp_micros())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    // No `ANALYZE`: the store never runs it, so the planner sees what a clinic's file has.
    let to_book: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT id FROM slots ORDER BY random() LIMIT ?1")
            .bind(i64::try_from(samples + WARM_UP).unwrap_or(i64::MAX))
            .fetch_all(&file.raw)
            .await?;
    Ok(Preloaded {
        doctors: doctors.into_iter().map(|(id, _)| id).collect(),
        first_day,
        days: span_days(per_doctor),
        to_book: to_book
            .into_iter()
            .filter_map(|bytes| Uuid::from_slice(&bytes).ok())
            .map(SlotId::from_uuid)
            .collect(),
    })
}

/// One preloaded store under measurement, with what it has recorded so far.
struct Subject {
    slots: usize,
    engine: BookingEngine,
    data: Preloaded,
    /// The PostgreSQL pool to refresh the statistics of `bookings` with (see [`measure`]).
    analyzed: Option<sqlx::PgPool>,
}

/// What is kept open while the stores are measured, and removed afterwards.
enum Holder {
    Pg(Box<(Database, medislot_pg::PgStore)>),
    Sqlite(Box<SqliteFile>),
}

impl Holder {
    async fn remove(self) {
        match self {
            Holder::Pg(held) => {
                let (db, store) = *held;
                store.pool().close().await;
                db.drop().await;
            }
            Holder::Sqlite(file) => file.remove().await,
        }
    }
}

/// Times `samples` runs of each operation on every subject, after [`WARM_UP`] untimed ones.
/// The sizes take turns run by run (one run on each size, then the next), so a change of load
/// on the machine during the measurement falls on every size alike and the ratios between
/// sizes stay fair. With `analyzed`, PostgreSQL's statistics of `bookings` are refreshed once
/// the bookings are made, before the reads, as autovacuum's analyze would have refreshed them
/// after that many new rows (its threshold is 50 rows plus a tenth of the table; this machine
/// runs PostgreSQL with autovacuum off). Without it the planner still sees the empty table it
/// saw at the start and joins every listed slot with every booking.
async fn measure(subjects: &[Subject], samples: usize) -> Vec<GrowthRow> {
    let mut rows = Vec::new();
    for op in GrowthOp::ALL {
        let mut recorded: Vec<(Histogram<u64>, u64)> = subjects
            .iter()
            .map(|_| {
                let histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                    .unwrap_or_else(|_| unreachable!("static bounds are valid"));
                (histogram, 0)
            })
            .collect();
        for i in 0..samples + WARM_UP {
            for (subject, (histogram, errors)) in subjects.iter().zip(&mut recorded) {
                let started = Instant::now();
                let ok = run_once(op, subject, i).await;
                let took = started.elapsed();
                if i < WARM_UP {
                    continue;
                }
                if !ok {
                    *errors += 1;
                }
                let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                histogram.saturating_record(micros.max(1));
            }
        }
        for (subject, (histogram, errors)) in subjects.iter().zip(recorded) {
            rows.push(GrowthRow {
                slots: subject.slots,
                op,
                samples: histogram.len(),
                p50_us: histogram.value_at_quantile(0.5),
                p99_us: histogram.value_at_quantile(0.99),
                errors,
            });
            if let (GrowthOp::Book, Some(pool)) = (op, &subject.analyzed) {
                if let Err(error) = sqlx::raw_sql("ANALYZE bookings").execute(pool).await {
                    tracing::warn!(%error, "ANALYZE bookings failed");
                }
            }
        }
        tracing::info!(op = op.name(), "measured");
    }
    rows
}

/// Runs `op` once, the `i`-th time, on `subject`: whether the store answered.
async fn run_once(op: GrowthOp, subject: &Subject, i: usize) -> bool {
    let (engine, data) = (&subject.engine, &subject.data);
    let doctor = data.doctors[fastrand::usize(..data.doctors.len())];
    let day = data.first_day + chrono::Duration::days(fastrand::i64(0..data.days));
    let day_start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    match op {
        GrowthOp::Book => match data.to_book.get(i) {
            Some(slot) => engine.book(*slot, PatientId::new(), None).await.is_ok(),
            None => false,
        },
        GrowthOp::DoctorDay => engine
            .slots(&SlotQuery {
                doctor_id: Some(doctor),
                from: Some(day_start),
                to: Some(day_start + chrono::Duration::days(1)),
                limit: PAGE,
                ..SlotQuery::default()
            })
            .await
            .is_ok(),
        GrowthOp::SpecializationAvailable => engine
            .slots(&SlotQuery {
                specialization: Some("cardiology".into()),
                available: Some(true),
                limit: PAGE,
                ..SlotQuery::default()
            })
            .await
            .is_ok(),
        GrowthOp::Summary => engine
            .availability(
                &cardiology(),
                day,
                day + chrono::Duration::days(SUMMARY_DAYS - 1),
                chrono_tz::UTC,
            )
            .await
            .is_ok(),
        GrowthOp::NextAvailable => engine
            .next_available(&cardiology(), day_start)
            .await
            .is_ok(),
    }
}

fn cardiology() -> FreeSlotFilter {
    FreeSlotFilter {
        doctor_id: None,
        specialization: Some("cardiology".into()),
    }
}

/// Runs the growth table that `options.preload_slots` asks for on `options.store`: every size
/// is preloaded into its own fresh store first, then all are measured together (see
/// [`measure`]), then removed.
///
/// # Errors
/// [`BenchError`] when a store cannot be created or filled. Failed operations are counted.
pub(crate) async fn run(options: &Options) -> Result<GrowthReport, BenchError> {
    if options.store == StoreKind::Memory {
        return Err(BenchError::Usage(
            "the growth table measures the durable stores: use --store pg or sqlite",
        ));
    }
    let started_at = Utc::now();
    let samples = options.samples.max(1);
    let mut holders = Vec::new();
    let mut subjects = Vec::new();
    let loaded = async {
        for &count in &options.preload_slots {
            let count = count.max(DOCTORS);
            let loading = Instant::now();
            match options.store {
                StoreKind::Pg => {
                    let db = Database::create(&options.database_url, 4).await?;
                    let filled = async {
                        let data = preload_pg(&db, count, samples).await?;
                        Ok::<_, BenchError>((data, db.store(4).await?))
                    }
                    .await;
                    let (data, store) = match filled {
                        Ok(filled) => filled,
                        Err(error) => {
                            db.drop().await;
                            return Err(error);
                        }
                    };
                    subjects.push(Subject {
                        slots: count,
                        engine: crate::target::engine(Arc::new(store.clone())),
                        data,
                        analyzed: Some(db.pool.clone()),
                    });
                    holders.push(Holder::Pg(Box::new((db, store))));
                }
                StoreKind::Sqlite => {
                    let file = SqliteFile::create().await?;
                    let data = preload_sqlite(&file, count, samples).await;
                    let engine = file.engine();
                    holders.push(Holder::Sqlite(Box::new(file)));
                    subjects.push(Subject {
                        slots: count,
                        engine,
                        data: data?,
                        analyzed: None,
                    });
                }
                StoreKind::Memory => unreachable!("refused above"),
            }
            log_loaded(count, loading.elapsed());
        }
        Ok::<_, BenchError>(())
    }
    .await;
    let rows = match loaded {
        Ok(()) => Ok(measure(&subjects, samples).await),
        Err(error) => Err(error),
    };
    drop(subjects);
    for holder in holders {
        holder.remove().await;
    }
    Ok(GrowthReport {
        store: options.store,
        started_at,
        rows: rows?,
    })
}

fn log_loaded(count: usize, took: Duration) {
    tracing::info!(slots = count, seconds = took.as_secs_f64(), "preloaded");
}
