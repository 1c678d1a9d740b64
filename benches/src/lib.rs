//! # medislot-benches
//!
//! The slot-rush benchmark: patients pressing "book" at the same instant, through the
//! [`BookingEngine`] on each store, measured in the same run
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

mod cpu;
mod growth;
mod http;
mod invariant;
mod options;
mod pg;
mod raw;
mod relay;
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

pub use growth::{GrowthOp, GrowthReport, GrowthRow, DOCTORS};
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
    /// The options ask for something this run cannot do.
    #[error("options: {0}")]
    Usage(&'static str),
    /// Encoding the results failed.
    #[error("encoding results: {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs the growth table that `options.preload_slots` asks for (see [`GrowthReport`]).
///
/// # Errors
/// [`BenchError`] when a store cannot be created or filled, or on the memory store.
pub async fn growth(options: &Options) -> Result<GrowthReport, BenchError> {
    growth::run(options).await
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
            let phase = measure("engine (MemoryStore)", Bed::Memory, options).await?;
            report.phases.push(phase);
            if options.http {
                report
                    .phases
                    .extend(http_phase(Stores::memory(), None, options).await?);
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
    let store = db.store(options.pool_size()).await?;
    let engine = target::engine(Arc::new(store.clone()));
    let mut phases = vec![Phase::new(
        "engine (PgStore)",
        Bed::Pg {
            db,
            target: Target::Engine(engine),
        },
    )];
    let mut paths: Vec<RawPath> = Vec::new();
    if !options.no_ceilings {
        paths.push(RawPath::Strategy(Strategy::ForUpdate));
        paths.push(RawPath::Pipelined);
        paths.push(RawPath::Recorded);
    }
    for strategy in options.strategies() {
        let path = RawPath::Strategy(strategy);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let mut serializable = None;
    for path in paths {
        let raw = RawPg::new(db.pool.clone(), path);
        if matches!(path, RawPath::Strategy(Strategy::Serializable)) {
            serializable = Some(raw.clone());
        }
        phases.push(Phase::new(
            path.name(),
            Bed::Pg {
                db,
                target: Target::RawPg(raw),
            },
        ));
    }
    let measured = interleave(phases, options).await;
    // Free the engine's connections before the next phases open theirs.
    store.pool().close().await;
    for mut phase in measured? {
        if let (Some(raw), true) = (&serializable, phase.name.ends_with("serializable")) {
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
            rounds: 0,
            elapsed_s: elapsed.as_secs_f64(),
            ops: tally.figures(elapsed),
            invariant: None,
            cpu_s: None,
            db_cpu_s: None,
            notes: vec!["one-row UPDATE per transaction, one row per client".to_owned()],
        });
    }
    if options.round_trips {
        report.round_trips = relay::measure(db).await?;
    }
    if options.http {
        let store = db.store(options.pool_size()).await?;
        let stores = Stores::from_store(Arc::new(store.clone()), "the run's PostgreSQL database");
        let phases = http_phase(stores, Some(db), options).await;
        store.pool().close().await;
        report.phases.extend(phases?);
    }
    Ok(())
}

/// The server in this process on `stores`, under the rush over HTTP. With `db`, calendars are
/// written and checked in SQL, and the raw 5-round-trip `FOR UPDATE` loop with as many clients
/// as requests in flight, on a pool of the server's size, takes turns with it as its ceiling,
/// as does the same loop writing the journal entry and messages a booking writes
/// ([`RawPath::Recorded`]); otherwise the rush goes through the server's own engine.
async fn http_phase(
    stores: Stores,
    db: Option<&Database>,
    options: &Options,
) -> Result<Vec<PhaseReport>, BenchError> {
    let server = http::Server::start(stores).await?;
    let measured = async {
        let client = server.patients(options.in_flight).await?;
        let target = Target::Http(client);
        let mut http_options = options.clone();
        http_options.clients = options.in_flight;
        let name = format!("http ({} in flight)", options.in_flight);
        match db {
            Some(db) => {
                let raw = |path| Bed::Pg {
                    db,
                    target: Target::RawPg(RawPg::new(db.pool.clone(), path)),
                };
                let phases = vec![
                    Phase::new(&name, Bed::Pg { db, target }),
                    Phase::new(
                        report::beside_http(options.in_flight),
                        raw(RawPath::Strategy(Strategy::ForUpdate)),
                    ),
                    Phase::new(
                        report::recorded_beside_http(options.in_flight),
                        raw(RawPath::Recorded),
                    ),
                ];
                interleave(phases, &http_options).await
            }
            None => {
                let bed = Bed::Engine {
                    engine: server.state.engine(),
                    target,
                };
                Ok(vec![measure(&name, bed, &http_options).await?])
            }
        }
    }
    .await;
    server.stop().await;
    let mut phases = measured?;
    if let Some(http) = phases.first_mut() {
        http.notes
            .push("errors are 5xx answers or failed connections".to_owned());
    }
    Ok(phases)
}

async fn sqlite_phases(
    file: &SqliteFile,
    options: &Options,
    report: &mut Report,
) -> Result<(), BenchError> {
    let engine = file.engine();
    let mut phases = vec![Phase::new(
        "engine (SqliteStore)",
        Bed::Engine {
            engine: &engine,
            target: Target::Engine(engine.clone()),
        },
    )];
    if !options.no_ceilings {
        phases.push(Phase::new(
            "raw sqlite (BEGIN IMMEDIATE)",
            Bed::Engine {
                engine: &engine,
                target: Target::RawSqlite(RawSqlite::new(file)),
            },
        ));
    }
    report.phases.extend(interleave(phases, options).await?);
    if !options.no_ceilings {
        let window = (options.duration / 3).max(Duration::from_secs(1));
        let (tally, elapsed) = sqlite::commit_rate(&file.raw, options.clients, window).await?;
        report.phases.push(PhaseReport {
            name: report::COMMIT_RATE.to_owned(),
            rounds: 0,
            elapsed_s: elapsed.as_secs_f64(),
            ops: tally.figures(elapsed),
            invariant: None,
            cpu_s: None,
            db_cpu_s: None,
            notes: vec!["one-row UPDATE per transaction on the same file".to_owned()],
        });
    }
    if options.http {
        let stores = Stores::from_store(Arc::new(file.store.clone()), "the run's SQLite file");
        report
            .phases
            .extend(http_phase(stores, None, options).await?);
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
                let engine = target::engine(Arc::new(MemoryStore::new()));
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

/// A phase measured in one or more slices, interleaved with other phases so that every phase
/// sees the same machine load; a round cut short by a slice's end is continued by the next.
struct Phase<'a> {
    name: String,
    bed: Bed<'a>,
    tally: Tally,
    elapsed: Duration,
    cpu: Duration,
    /// PostgreSQL's CPU time, when it runs on this machine.
    db_cpu: Option<Duration>,
    calendars: u64,
    /// The invariant of finished calendars, and of the current one when last checked.
    finished: Invariant,
    current: Invariant,
    carry: Option<Carry>,
}

/// A round to continue: its target, calendar, next attempt, and the bookings it holds so far.
struct Carry {
    target: Target,
    calendar: Calendar,
    next: usize,
    active: u64,
}

impl<'a> Phase<'a> {
    fn new(name: impl Into<String>, bed: Bed<'a>) -> Self {
        Self {
            name: name.into(),
            bed,
            tally: Tally::default(),
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
            db_cpu: None,
            calendars: 0,
            finished: Invariant::default(),
            current: Invariant::default(),
            carry: None,
        }
    }

    /// Runs rounds for `duration`, checking the invariant after each.
    async fn slice(&mut self, options: &Options, duration: Duration) -> Result<(), BenchError> {
        tracing::info!(phase = %self.name, "measuring");
        // Whose processes' CPU to count: the server behind a new connection's backend.
        let database = if options.database_is_local() {
            cpu::DatabaseServer::find(&options.database_url).await
        } else {
            None
        };
        let mut spent = Duration::ZERO;
        loop {
            let carry = match self.carry.take() {
                Some(carry) => carry,
                None => {
                    let (target, calendar) = self.bed.round(options).await?;
                    self.finished.add(std::mem::take(&mut self.current));
                    self.calendars += 1;
                    Carry {
                        target,
                        calendar,
                        next: 0,
                        active: 0,
                    }
                }
            };
            let doctor = carry.calendar.doctor;
            let target = carry.target.clone();
            let deadline = Instant::now() + duration.saturating_sub(spent);
            let rush = Rush::new(
                options.scenario,
                carry.target,
                carry.calendar,
                fastrand::u64(..),
                deadline,
                carry.next,
            );
            let db_cpu_before = database.and_then(cpu::DatabaseServer::cpu_time);
            let cpu_before = cpu::this_process();
            let (result, took, unfinished) = run_round(rush, options.clients).await;
            if let (Some(after), Some(before)) = (cpu::this_process(), cpu_before) {
                self.cpu += after.saturating_sub(before);
            }
            if let (Some(before), Some(database)) = (db_cpu_before, database) {
                if let Some(after) = database.cpu_time() {
                    let spent = after.saturating_sub(before);
                    self.db_cpu = Some(self.db_cpu.unwrap_or_default() + spent);
                }
            }
            spent += took;
            self.elapsed += took;
            let active = carry.active + result.active;
            self.tally.merge(result.tally);
            self.current = self.bed.check(&target, doctor, active).await?;
            if !self.current.holds() {
                tracing::error!(phase = %self.name, checked = ?self.current, "INVARIANT VIOLATED");
            }
            self.carry = unfinished.map(|(target, calendar, next)| Carry {
                target,
                calendar,
                next,
                active,
            });
            if spent >= duration || !rounds_repeat(options.scenario) {
                return Ok(());
            }
        }
    }

    fn report(self) -> PhaseReport {
        let mut invariant = self.finished;
        invariant.add(self.current);
        let cpu_s = self.cpu.as_secs_f64();
        PhaseReport {
            name: self.name,
            rounds: self.calendars,
            elapsed_s: self.elapsed.as_secs_f64(),
            ops: self.tally.figures(self.elapsed),
            invariant: Some(invariant),
            cpu_s: (cpu_s > 0.0).then_some(cpu_s),
            db_cpu_s: self.db_cpu.map(|cpu| cpu.as_secs_f64()),
            notes: Vec::new(),
        }
    }
}

/// Measures `phases` in `options.repeat` interleaved slices each (A B C A B C ...), so that
/// load changes during the run fall on every phase alike.
async fn interleave(
    phases: Vec<Phase<'_>>,
    options: &Options,
) -> Result<Vec<PhaseReport>, BenchError> {
    let mut phases = phases;
    let repeat = options.repeat.max(1);
    let slice = options.duration / repeat;
    for _ in 0..repeat {
        for phase in &mut phases {
            phase.slice(options, slice).await?;
        }
    }
    Ok(phases.into_iter().map(Phase::report).collect())
}

/// One phase measured for the whole duration.
async fn measure(name: &str, bed: Bed<'_>, options: &Options) -> Result<PhaseReport, BenchError> {
    let mut phase = Phase::new(name, bed);
    phase.slice(options, options.duration).await?;
    Ok(phase.report())
}
