//! # medislot-benches
//!
//! The slot-rush benchmark: patients pressing "book" at the same instant, through the
//! [`BookingEngine`](medislot_core::BookingEngine) on each store, measured in the same run
//! against the ceilings of the database underneath (the minimal booking statements in raw SQL,
//! and PostgreSQL's fsync-bound commit rate), so that its ratios hold on a noisy machine. Every
//! phase ends by checking the store's invariant; a run whose invariant fails is reported as
//! failed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), medislot_benches::BenchError> {
//! use medislot_benches::{Options, Scenario, StoreKind};
//!
//! let mut options = Options::new(StoreKind::Memory, Scenario::Hot);
//! options.duration = std::time::Duration::from_secs(1);
//! let report = medislot_benches::run(&options).await?;
//! assert!(report.holds());
//! println!("{}", report.table());
//! # Ok(()) }
//! ```

mod http;
mod invariant;
mod options;
mod pg;
mod raw;
mod report;
mod sqlite;
mod stats;
mod target;
mod workload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use medislot_core::{
    BookingEngine, DoctorId, MemoryStore, NewDoctor, TimeRange, MAX_SLOTS_PER_PUBLISH,
};

pub use invariant::Invariant;
pub use options::{Options, Scenario, StoreKind, Strategy};
pub use report::{PhaseReport, Ratio, Report};
pub use stats::{OpFigures, OpKind};

use crate::pg::Database;
use crate::raw::{RawPath, RawPg};
use crate::sqlite::{RawSqlite, SqliteFile};
use crate::stats::Tally;
use crate::target::Target;
use crate::workload::{rounds_repeat, run_round, slot_count, Calendar, Rush, SLOT_MINUTES};
use medislot_server::Stores;

/// Why a run could not be measured (a failed invariant is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The engine refused the benchmark's own setup, or its store failed.
    #[error("engine: {0}")]
    Engine(#[from] medislot_core::Error),
    /// A store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] medislot_core::StoreError),
    /// A database statement of the benchmark failed.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// Writing the results failed.
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
    /// The in-process server could not be started or set up.
    #[error("http: {0}")]
    Http(String),
    /// Encoding the results failed.
    #[error("encoding results: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs the benchmark that `options` describe and returns its report.
///
/// # Errors
/// [`BenchError`] when setup, a database statement outside the measured requests, or the
/// invariant check could not run. Failures of measured requests are counted, not returned.
pub async fn run(options: &Options) -> Result<Report, BenchError> {
    if options.http && options.scenario == Scenario::Mixed {
        return Err(BenchError::Http(
            "the HTTP scenario runs spread and hot, not mixed".into(),
        ));
    }
    let mut report = Report::start(options);
    match options.store {
        StoreKind::Memory => {
            let phase = measure("engine (MemoryStore)", &Bed::Memory, options).await?;
            report.phases.push(phase);
            if options.http {
                report
                    .phases
                    .push(http_phase(Stores::memory(), None, options).await?);
            }
        }
        StoreKind::Pg => {
            let db = Database::create(&options.database_url, options.pool_size()).await?;
            let result = pg_phases(&db, options, &mut report).await;
            db.drop().await;
            result?;
        }
        StoreKind::Sqlite => {
            let file = SqliteFile::create().await?;
            let result = sqlite_phases(&file, options, &mut report).await;
            file.remove().await;
            result?;
        }
    }
    report.finish();
    Ok(report)
}

async fn pg_phases(
    db: &Database,
    options: &Options,
    report: &mut Report,
) -> Result<(), BenchError> {
    let bed = Bed::Pg {
        db,
        target: Target::Engine(db.engine(options.pool_size()).await?),
    };
    report
        .phases
        .push(measure("engine (PgStore)", &bed, options).await?);
    let mut paths: Vec<RawPath> = Vec::new();
    if !options.no_ceilings {
        paths.push(RawPath::Strategy(Strategy::ForUpdate));
        paths.push(RawPath::Pipelined);
    }
    for strategy in options.strategies() {
        let path = RawPath::Strategy(strategy);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    for path in paths {
        let raw = RawPg::new(db.pool.clone(), path);
        let bed = Bed::Pg {
            db,
            target: Target::RawPg(raw.clone()),
        };
        let mut phase = measure(&path.name(), &bed, options).await?;
        if matches!(path, RawPath::Strategy(Strategy::Serializable)) {
            phase
                .notes
                .push(format!("{} serialization retries", raw.retries()));
        }
        report.phases.push(phase);
    }
    if !options.no_ceilings {
        let window = (options.duration / 3).max(Duration::from_secs(1));
        let (tally, elapsed) = raw::commit_rate(&db.pool, options.clients, window).await?;
        report.phases.push(PhaseReport {
            name: report::COMMIT_RATE.to_owned(),
            rounds: 1,
            elapsed_s: elapsed.as_secs_f64(),
            ops: tally.figures(elapsed),
            invariant: None,
            notes: vec!["one-row UPDATE per transaction, one row per client".to_owned()],
        });
    }
    if options.http {
        let store = db.store(options.pool_size()).await?;
        let stores = Stores::from_store(Arc::new(store), "the run's PostgreSQL database");
        report
            .phases
            .push(http_phase(stores, Some(db), options).await?);
    }
    Ok(())
}

/// The server in this process on `stores`, under the rush over HTTP. With `db`, calendars are
/// written and checked in SQL; otherwise through the server's own engine.
async fn http_phase(
    stores: Stores,
    db: Option<&Database>,
    options: &Options,
) -> Result<PhaseReport, BenchError> {
    let server = http::Server::start(stores).await?;
    let measured = async {
        let client = server.patients(options.in_flight).await?;
        let target = Target::Http(client);
        let bed = match db {
            Some(db) => Bed::Pg { db, target },
            None => Bed::Engine {
                engine: server.state.engine(),
                target,
            },
        };
        let mut http_options = options.clone();
        http_options.clients = options.in_flight;
        let name = format!("http ({} in flight)", options.in_flight);
        measure(&name, &bed, &http_options).await
    }
    .await;
    server.stop().await;
    let mut phase = measured?;
    phase
        .notes
        .push("errors are 5xx answers or failed connections".to_owned());
    Ok(phase)
}

async fn sqlite_phases(
    file: &SqliteFile,
    options: &Options,
    report: &mut Report,
) -> Result<(), BenchError> {
    let engine = file.engine();
    let bed = Bed::Engine {
        engine: &engine,
        target: Target::Engine(engine.clone()),
    };
    report
        .phases
        .push(measure("engine (SqliteStore)", &bed, options).await?);
    if !options.no_ceilings {
        let bed = Bed::Engine {
            engine: &engine,
            target: Target::RawSqlite(RawSqlite::new(file)),
        };
        report
            .phases
            .push(measure("raw sqlite (BEGIN IMMEDIATE)", &bed, options).await?);
        let window = (options.duration / 3).max(Duration::from_secs(1));
        let (tally, elapsed) = sqlite::commit_rate(&file.raw, options.clients, window).await?;
        report.phases.push(PhaseReport {
            name: report::COMMIT_RATE.to_owned(),
            rounds: 1,
            elapsed_s: elapsed.as_secs_f64(),
            ops: tally.figures(elapsed),
            invariant: None,
            notes: vec!["one-row UPDATE per transaction on the same file".to_owned()],
        });
    }
    if options.http {
        let stores = Stores::from_store(Arc::new(file.store.clone()), "the run's SQLite file");
        report.phases.push(http_phase(stores, None, options).await?);
    }
    Ok(())
}

/// Where a phase's rounds run.
enum Bed<'a> {
    /// A fresh `MemoryStore` per round (rounds would otherwise pile up millions of bookings).
    Memory,
    /// The run's PostgreSQL database, with a new doctor per round.
    Pg { db: &'a Database, target: Target },
    /// A store that lives for the whole phase (SQLite, or the server's): calendars published
    /// and checked through `engine`, booked through `target`.
    Engine {
        engine: &'a BookingEngine,
        target: Target,
    },
}

impl Bed<'_> {
    async fn round(&self, options: &Options) -> Result<(Target, Calendar), BenchError> {
        match self {
            Bed::Memory => {
                let engine = BookingEngine::new(Arc::new(MemoryStore::new()));
                let calendar =
                    publish(&engine, slot_count(options.scenario, options.slots)).await?;
                Ok((Target::Engine(engine), calendar))
            }
            Bed::Pg { db, target } => Ok((
                target.clone(),
                db.calendar(slot_count(options.scenario, options.slots))
                    .await?,
            )),
            Bed::Engine { engine, target } => Ok((
                target.clone(),
                publish(engine, slot_count(options.scenario, options.slots)).await?,
            )),
        }
    }

    async fn check(
        &self,
        target: &Target,
        doctor: DoctorId,
        expected_active: u64,
    ) -> Result<Invariant, BenchError> {
        match (self, target) {
            (Bed::Pg { db, .. }, _) => db.invariant(doctor, expected_active).await,
            // The store's own reads see whatever wrote the file.
            (Bed::Engine { engine, .. }, _) => {
                invariant::through_store(engine.store().as_ref(), doctor, expected_active).await
            }
            (Bed::Memory, Target::Engine(engine)) => {
                invariant::through_store(engine.store().as_ref(), doctor, expected_active).await
            }
            (Bed::Memory, Target::RawPg(_) | Target::RawSqlite(_) | Target::Http(_)) => {
                unreachable!("memory rounds are built with an engine target")
            }
        }
    }
}

/// Publishes a doctor with `count` back-to-back slots through the engine.
async fn publish(engine: &BookingEngine, count: usize) -> Result<Calendar, BenchError> {
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Bench", "Cardiology", "UTC")?)
        .await?;
    let ranges = Calendar::starts(count)
        .into_iter()
        .map(|start| TimeRange::new(start, start + chrono::Duration::minutes(SLOT_MINUTES)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut slots = Vec::with_capacity(count);
    for chunk in ranges.chunks(MAX_SLOTS_PER_PUBLISH) {
        for slot in engine.publish_slots(doctor.id, chunk).await? {
            slots.push((slot.id, slot.range.starts_at()));
        }
    }
    let mut calendar = Calendar {
        doctor: doctor.id,
        slots,
    };
    calendar.shuffle();
    Ok(calendar)
}

/// Runs rounds of the scenario on `bed` until the duration is spent, checking the invariant
/// after each.
async fn measure(name: &str, bed: &Bed<'_>, options: &Options) -> Result<PhaseReport, BenchError> {
    let mut tally = Tally::default();
    let mut elapsed = Duration::ZERO;
    let mut invariant = Invariant::default();
    let mut rounds = 0;
    tracing::info!(phase = name, "measuring");
    loop {
        let (target, calendar) = bed.round(options).await?;
        let doctor = calendar.doctor;
        let deadline = Instant::now() + options.duration.saturating_sub(elapsed);
        let rush = Rush::new(
            options.scenario,
            target.clone(),
            calendar,
            fastrand::u64(..),
            deadline,
        );
        let (result, took) = run_round(rush, options.clients).await;
        elapsed += took;
        rounds += 1;
        let checked = bed.check(&target, doctor, result.active).await?;
        if !checked.holds() {
            tracing::error!(phase = name, round = rounds, ?checked, "INVARIANT VIOLATED");
        }
        invariant.add(checked);
        tally.merge(result.tally);
        if !rounds_repeat(options.scenario) || elapsed >= options.duration {
            break;
        }
    }
    Ok(PhaseReport {
        name: name.to_owned(),
        rounds,
        elapsed_s: elapsed.as_secs_f64(),
        ops: tally.figures(elapsed),
        invariant: Some(invariant),
        notes: Vec::new(),
    })
}
