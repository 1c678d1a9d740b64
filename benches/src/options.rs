//! What a run measures: the command-line options, also built by hand in tests.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// Where bookings are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// `MemoryStore`: the engine's own cost, with no I/O.
    Memory,
    /// PostgreSQL: a fresh database on `--database-url`, dropped at the end.
    Pg,
    /// SQLite: a fresh file in the temporary directory, removed at the end.
    Sqlite,
}

/// Which rush.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Each patient books a random free slot among 100,000: little contention.
    Spread,
    /// 10,000 patients race for 100 slots: the clinic opens its calendar and everyone clicks.
    Hot,
    /// 85% availability reads, 10% bookings, 5% cancels (patient and admin) over 10,000 slots.
    Mixed,
}

/// A way of making a PostgreSQL booking atomic, for contributors who compare them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `SELECT ... FOR UPDATE` on the slot, then insert (what the store does by default).
    ForUpdate,
    /// `SELECT ... FOR UPDATE NOWAIT`: a locked slot is refused at once instead of waited for.
    Nowait,
    /// One `INSERT ... SELECT ... WHERE NOT EXISTS` statement; the unique index settles races.
    Conditional,
    /// A SERIALIZABLE transaction without row locks, retried on serialization failures.
    Serializable,
}

impl Strategy {
    /// Every strategy, in the order they are reported.
    pub const ALL: [Strategy; 4] = [
        Strategy::ForUpdate,
        Strategy::Nowait,
        Strategy::Conditional,
        Strategy::Serializable,
    ];

    /// The name used in tables and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::ForUpdate => "for-update",
            Strategy::Nowait => "nowait",
            Strategy::Conditional => "conditional",
            Strategy::Serializable => "serializable",
        }
    }
}

/// The slot-rush benchmark: the booking engine on a store, against the same run's ceilings.
#[derive(Clone, Debug, Parser)]
#[command(name = "medislot-benches", version, about)]
pub struct Options {
    /// Where bookings are stored.
    #[arg(long, value_enum, default_value_t = StoreKind::Pg)]
    pub store: StoreKind,

    /// Which rush to run.
    #[arg(long, value_enum, default_value_t = Scenario::Spread)]
    pub scenario: Scenario,

    /// Concurrent clients (patients pressing "book" at the same instant).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,

    /// Database connections (PostgreSQL); defaults to one per client.
    #[arg(long)]
    pub pool_size: Option<u32>,

    /// How long each measured phase books for, e.g. `10s`, `500ms`, `1m`.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,

    /// Slices per phase: the engine and its ceilings take turns (A B A B ...) so that they see
    /// the same machine load; `--duration` is split between them.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,

    /// The PostgreSQL server; each run creates `bench_<uuid>` on it and drops it at the end.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,

    /// Also run these bench-only lock strategies on raw SQL, comma separated (`all` for every
    /// one); each is held to the same invariant check.
    #[arg(long, value_enum, value_delimiter = ',', num_args = 0..)]
    pub strategies: Vec<Strategy>,

    /// Run every lock strategy (same as `--strategies for-update,nowait,conditional,serializable`).
    #[arg(long)]
    pub all_strategies: bool,

    /// Also run the HTTP scenario (spread and hot): the server in this process on the same
    /// store, driven by `--in-flight` keep-alive connections with real patients' tokens.
    #[arg(long)]
    pub http: bool,

    /// Requests in flight in the HTTP scenario.
    #[arg(long, default_value_t = 100)]
    pub in_flight: usize,

    /// Skip the ceilings (raw SQL, commit rate): only the engine is measured.
    #[arg(long)]
    pub no_ceilings: bool,

    /// Count round trips per booking (engine and raw SQL) through a counting TCP relay, one
    /// client at a time.
    #[arg(long)]
    pub round_trips: bool,

    /// Slots per round instead of the scenario's own count (100,000 spread, 100 hot, 10,000
    /// mixed); for quick checks, since results then no longer match the scenario's definition.
    #[arg(long)]
    pub slots: Option<usize>,

    /// Instead of a rush, the growth table: for each of these sizes (comma separated, e.g.
    /// `10000,100000,1000000`), a fresh store with that many slots over 20 doctors, bulk
    /// inserted before anything is measured; then booking, the listings, the availability
    /// summary and next available, one at a time, with each median's ratio to the first size's.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub preload_slots: Vec<usize>,

    /// Timed runs of each operation per size in the growth table.
    #[arg(long, default_value_t = 300)]
    pub samples: usize,

    /// Where the JSON and Markdown results go; defaults to `target/bench-results/`.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,

    /// Do not write result files (tests).
    #[arg(long)]
    pub no_files: bool,
}

impl Options {
    /// Options for a scenario on a store with every other value at its default (tests use this).
    pub fn new(store: StoreKind, scenario: Scenario) -> Self {
        let mut options = Options::parse_from(["medislot-benches"]);
        options.store = store;
        options.scenario = scenario;
        options
    }

    /// The connection pool size in force.
    pub fn pool_size(&self) -> u32 {
        self.pool_size
            .unwrap_or_else(|| u32::try_from(self.clients).unwrap_or(u32::MAX))
            .max(1)
    }

    /// Whether the run's PostgreSQL server is on this machine (a loopback address or a
    /// Unix socket), so that its processes' CPU time can be read and reported per request.
    pub fn database_is_local(&self) -> bool {
        if self.store != StoreKind::Pg {
            return false;
        }
        let Ok(connect) = self
            .database_url
            .parse::<sqlx::postgres::PgConnectOptions>()
        else {
            return false;
        };
        let host = connect.get_host();
        host.starts_with('/')
            || host == "localhost"
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The strategies to run after the engine, without repeats.
    pub fn strategies(&self) -> Vec<Strategy> {
        if self.all_strategies {
            return Strategy::ALL.to_vec();
        }
        Strategy::ALL
            .into_iter()
            .filter(|s| self.strategies.contains(s))
            .collect()
    }
}

/// Parses `15s`, `500ms`, `2m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 15s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?}: use ms, s or m")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn a_database_on_loopback_or_a_socket_is_local() {
        let local = |store, url: &str| {
            let mut options = Options::new(store, Scenario::Spread);
            url.clone_into(&mut options.database_url);
            options.database_is_local()
        };
        assert!(local(StoreKind::Pg, "postgres://u@127.0.0.1:5432/db"));
        assert!(local(StoreKind::Pg, "postgres://u@localhost/db"));
        assert!(local(StoreKind::Pg, "postgres://u@[::1]:5432/db"));
        assert!(local(
            StoreKind::Pg,
            "postgres:///db?host=/var/run/postgresql"
        ));
        assert!(!local(StoreKind::Pg, "postgres://u@db.example.org/db"));
        assert!(!local(StoreKind::Pg, "postgres://u@10.0.0.7/db"));
        assert!(!local(StoreKind::Sqlite, "postgres://u@127.0.0.1/db"));
    }

    #[test]
    fn strategies_are_listed_once_in_report_order() {
        let mut options = Options::new(StoreKind::Pg, Scenario::Hot);
        options.strategies = vec![Strategy::Serializable, Strategy::Nowait, Strategy::Nowait];
        assert_eq!(
            options.strategies(),
            vec![Strategy::Nowait, Strategy::Serializable]
        );
        options.all_strategies = true;
        assert_eq!(options.strategies().len(), 4);
    }
}
