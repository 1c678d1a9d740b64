//! A run's results: the table printed at the end, and the JSON and Markdown written beside it so
//! that runs can be compared.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::invariant::Invariant;
use crate::options::{Options, Scenario, StoreKind};
use crate::stats::{OpFigures, OpKind};

/// The name of the commit-rate ceiling phase.
pub(crate) const COMMIT_RATE: &str = "ceiling: commit rate";

/// The name of the raw `FOR UPDATE` loop that takes turns with the HTTP phase, with as many
/// clients as requests in flight.
pub(crate) fn beside_http(clients: usize) -> String {
    format!("raw for-update ({clients} clients)")
}

/// The name of the [`RawPath::Recorded`](crate::raw::RawPath::Recorded) loop that takes turns
/// with the HTTP phase, with as many clients as requests in flight.
pub(crate) fn recorded_beside_http(clients: usize) -> String {
    format!("{} ({clients} clients)", crate::raw::RECORDED_NAME)
}

/// Whether `name` is a [`beside_http`] or [`recorded_beside_http`] phase's.
fn is_beside_http(name: &str) -> bool {
    name.starts_with("raw for-update") && name.ends_with(" clients)")
}

/// One measured phase: the engine, a raw path, or a ceiling.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    /// What was measured.
    pub name: String,
    /// Calendars published (spread and hot start a new one when one is used up).
    pub rounds: u64,
    /// Time spent in measured requests, seconds.
    pub elapsed_s: f64,
    /// Figures by kind of request.
    pub ops: Vec<OpFigures>,
    /// The invariant after the phase (ceilings that book nothing have none).
    pub invariant: Option<Invariant>,
    /// CPU time this process used during the phase (every thread, the in-process server's too).
    pub cpu_s: Option<f64>,
    /// CPU time PostgreSQL used during the phase (its server's processes', read from
    /// `/proc`: see `cpu::DatabaseServer`), when the database is on this machine.
    pub db_cpu_s: Option<f64>,
    /// Anything else worth knowing (retries, round trips).
    pub notes: Vec<String>,
}

impl PhaseReport {
    /// Requests of every kind per second.
    pub fn throughput(&self) -> f64 {
        self.ops.iter().map(|o| o.attempts_per_s).sum()
    }

    /// The figures of one kind of request.
    pub fn op(&self, kind: OpKind) -> Option<&OpFigures> {
        self.ops.iter().find(|o| o.kind == kind)
    }
}

/// The engine's throughput divided by a ceiling's, measured in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub name: String,
    /// Engine requests/s ÷ ceiling requests/s.
    pub value: f64,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// The store under the engine.
    pub store: StoreKind,
    /// The rush.
    pub scenario: Scenario,
    /// Concurrent clients.
    pub clients: usize,
    /// Database connections.
    pub pool_size: u32,
    /// Measured time per phase, seconds.
    pub duration_s: f64,
    /// The machine's load average (1, 5, 15 minutes) at the start and at the end.
    pub load_before: Option<[f64; 3]>,
    /// See `load_before`.
    pub load_after: Option<[f64; 3]>,
    /// The phases, the engine's first.
    pub phases: Vec<PhaseReport>,
    /// The engine against each ceiling.
    pub ratios: Vec<Ratio>,
    /// Round trips per successful booking by path, one client at a time (`--round-trips`).
    pub round_trips: Vec<(String, f64)>,
}

impl Report {
    pub(crate) fn start(options: &Options) -> Self {
        Self {
            started_at: Utc::now(),
            store: options.store,
            scenario: options.scenario,
            clients: options.clients,
            pool_size: options.pool_size(),
            duration_s: options.duration.as_secs_f64(),
            load_before: load_average(),
            load_after: None,
            phases: Vec::new(),
            ratios: Vec::new(),
            round_trips: Vec::new(),
        }
    }

    /// Computes the ratios of the first phase (the engine) to every other.
    pub(crate) fn finish(&mut self) {
        self.load_after = load_average();
        let Some((engine, others)) = self.phases.split_first() else {
            return;
        };
        let engine_rate = engine.throughput();
        let engine_commits = engine.op(OpKind::Book).map_or(0.0, |o| o.successes_per_s);
        self.ratios = others
            .iter()
            .filter(|p| {
                p.throughput() > 0.0 && !p.name.starts_with("http") && !is_beside_http(&p.name)
            })
            .map(|ceiling| {
                if ceiling.name == COMMIT_RATE {
                    // Against commits, count the engine's commits: its successful bookings.
                    Ratio {
                        name: format!("{} bookings/s ÷ {}", engine.name, ceiling.name),
                        value: engine_commits / ceiling.throughput(),
                    }
                } else {
                    Ratio {
                        name: format!("{} ÷ {} (requests/s)", engine.name, ceiling.name),
                        value: engine_rate / ceiling.throughput(),
                    }
                }
            })
            .collect();
        if let Some(http) = others.iter().find(|p| p.name.starts_with("http")) {
            if engine_rate > 0.0 {
                self.ratios.push(Ratio {
                    name: format!("{} ÷ {} (requests/s)", http.name, engine.name),
                    value: http.throughput() / engine_rate,
                });
            }
            let booked = |p: &PhaseReport| p.op(OpKind::Book).map_or(0.0, |o| o.successes_per_s);
            for raw in others
                .iter()
                .filter(|p| is_beside_http(&p.name) && booked(p) > 0.0)
            {
                self.ratios.push(Ratio {
                    name: format!("{} ÷ {} (bookings/s)", http.name, raw.name),
                    value: booked(http) / booked(raw),
                });
            }
            // What a request costs the database (a booking in spread, mostly a refusal in
            // hot), which the load on the machine moves far less than it moves requests/s.
            for phase in [engine, http] {
                for raw in others.iter().filter(|p| is_beside_http(&p.name)) {
                    if let (Some(phase_cost), Some(raw_cost)) =
                        (db_cpu_per_request(phase), db_cpu_per_request(raw))
                    {
                        self.ratios.push(Ratio {
                            name: format!(
                                "{} ÷ {} (PostgreSQL CPU per request)",
                                phase.name, raw.name
                            ),
                            value: phase_cost / raw_cost,
                        });
                    }
                }
            }
        }
    }

    /// Whether every phase's invariant held.
    pub fn holds(&self) -> bool {
        self.phases
            .iter()
            .all(|p| p.invariant.is_none_or(|i| i.holds()))
    }

    /// The results as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading());
        let widths = [34, 16, 9, 12, 9, 12, 8, 8, 8, 9, 6];
        let header = [
            "phase",
            "request",
            "attempts",
            "attempts/s",
            "ok",
            "ok/s",
            "p50 µs",
            "p95 µs",
            "p99 µs",
            "max µs",
            "errors",
        ];
        let line = |cells: &[String]| {
            let mut row = String::new();
            for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if i < 2 {
                    let _ = write!(row, "{cell:<width$} ");
                } else {
                    let _ = write!(row, "{cell:>width$} ");
                }
            }
            row.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(&header.map(str::to_owned)));
        for phase in &self.phases {
            for op in &phase.ops {
                let _ = writeln!(out, "{}", line(&row(phase, op)));
                if !op.rejections.is_empty() {
                    let _ = writeln!(out, "{:>36}rejected: {}", "", rejections(op));
                }
            }
            let _ = writeln!(out, "{:>36}{}", "", phase_footer(phase));
        }
        for ratio in &self.ratios {
            let _ = writeln!(out, "ratio  {:.3}  {}", ratio.value, ratio.name);
        }
        for (path, trips) in &self.round_trips {
            let _ = writeln!(out, "round trips per attempt  {trips:.2}  {path}");
        }
        let _ = writeln!(out, "{}", self.verdict());
        out
    }

    /// The results as a Markdown table.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.heading());
        let _ = writeln!(
            out,
            "| phase | request | attempts | attempts/s | ok | ok/s | p50 µs | p95 µs | p99 µs | max µs | rejections | errors |"
        );
        let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|");
        for phase in &self.phases {
            for op in &phase.ops {
                let cells = row(phase, op);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    cells[0],
                    cells[1],
                    cells[2],
                    cells[3],
                    cells[4],
                    cells[5],
                    cells[6],
                    cells[7],
                    cells[8],
                    cells[9],
                    rejections(op),
                    cells[10]
                );
            }
        }
        let _ = writeln!(out);
        for phase in &self.phases {
            let _ = writeln!(out, "- {}: {}", phase.name, phase_footer(phase));
        }
        for ratio in &self.ratios {
            let _ = writeln!(out, "- ratio **{:.3}**: {}", ratio.value, ratio.name);
        }
        for (path, trips) in &self.round_trips {
            let _ = writeln!(out, "- round trips per attempt **{trips:.2}**: {path}");
        }
        let _ = writeln!(out, "\n{}", self.verdict());
        out
    }

    /// Writes `<stamp>-<store>-<scenario>.json` and `.md` into `dir`; returns their paths.
    ///
    /// # Errors
    /// When the directory or a file cannot be written.
    pub fn write(&self, dir: &Path) -> Result<[PathBuf; 2], crate::BenchError> {
        std::fs::create_dir_all(dir)?;
        let stem = format!(
            "{}-{}-{}",
            self.started_at.format("%Y%m%dT%H%M%SZ"),
            serde_json::to_value(self.store)?
                .as_str()
                .unwrap_or("store"),
            serde_json::to_value(self.scenario)?
                .as_str()
                .unwrap_or("scenario"),
        );
        let json = dir.join(format!("{stem}.json"));
        let md = dir.join(format!("{stem}.md"));
        std::fs::write(&json, serde_json::to_string_pretty(self)?)?;
        std::fs::write(&md, self.markdown())?;
        Ok([json, md])
    }

    fn heading(&self) -> String {
        let load =
            |l: Option<[f64; 3]>| l.map_or_else(|| "?".to_owned(), |l| format!("{:.2}", l[0]));
        format!(
            "slot rush: store {:?}, scenario {:?}, {} clients, pool {}, {:.1} s per phase, {} (load {} → {})",
            self.store,
            self.scenario,
            self.clients,
            self.pool_size,
            self.duration_s,
            self.started_at.format("%Y-%m-%d %H:%M UTC"),
            load(self.load_before),
            load(self.load_after),
        )
        .to_lowercase()
    }

    fn verdict(&self) -> String {
        if self.holds() {
            "invariant held in every phase".to_owned()
        } else {
            let failed: Vec<&str> = self
                .phases
                .iter()
                .filter(|p| p.invariant.is_some_and(|i| !i.holds()))
                .map(|p| p.name.as_str())
                .collect();
            format!("INVARIANT VIOLATED in: {}", failed.join(", "))
        }
    }
}

fn row(phase: &PhaseReport, op: &OpFigures) -> Vec<String> {
    vec![
        phase.name.clone(),
        op.kind.name().to_owned(),
        op.attempts.to_string(),
        format!("{:.0}", op.attempts_per_s),
        op.successes.to_string(),
        format!("{:.0}", op.successes_per_s),
        op.p50_us.to_string(),
        op.p95_us.to_string(),
        op.p99_us.to_string(),
        op.max_us.to_string(),
        op.errors.to_string(),
    ]
}

fn rejections(op: &OpFigures) -> String {
    op.rejections
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn phase_footer(phase: &PhaseReport) -> String {
    let mut parts = vec![format!(
        "{:.1} s, {:.0} requests/s",
        phase.elapsed_s,
        phase.throughput()
    )];
    if phase.rounds > 0 {
        parts.push(format!("{} calendar(s)", phase.rounds));
    }
    if let Some(cpu) = phase.cpu_s {
        let attempts: u64 = phase.ops.iter().map(|o| o.attempts).sum();
        parts.push(format!(
            "{cpu:.1} CPU s in this process ({:.0} requests per CPU second)",
            attempts as f64 / cpu
        ));
    }
    if let (Some(cpu), Some(per_request)) = (phase.db_cpu_s, db_cpu_per_request(phase)) {
        parts.push(format!(
            "{cpu:.1} CPU s in PostgreSQL ({:.0} µs per request)",
            per_request * 1e6
        ));
    }
    if let Some(i) = phase.invariant {
        parts.push(format!(
            "invariant {}: {} active, {} expected, {} doubled slots",
            if i.holds() { "ok" } else { "VIOLATED" },
            i.active,
            i.expected_active,
            i.doubled_slots
        ));
    }
    parts.extend(phase.notes.iter().cloned());
    parts.join("; ")
}

/// PostgreSQL's CPU seconds per request in a phase, where both are known.
fn db_cpu_per_request(phase: &PhaseReport) -> Option<f64> {
    let requests: u64 = phase.ops.iter().map(|o| o.attempts).sum();
    (requests > 0).then(|| phase.db_cpu_s.map(|cpu| cpu / requests as f64))?
}

/// The load average from `/proc/loadavg`, where there is one.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(name: &str, invariant: Option<Invariant>) -> PhaseReport {
        PhaseReport {
            name: name.to_owned(),
            rounds: 1,
            elapsed_s: 1.0,
            ops: Vec::new(),
            invariant,
            cpu_s: None,
            db_cpu_s: None,
            notes: Vec::new(),
        }
    }

    fn booked(name: &str, successes: u64, db_cpu_s: f64) -> PhaseReport {
        let mut phase = phase(name, Some(Invariant::new(successes, successes, 0)));
        phase.ops.push(OpFigures {
            kind: OpKind::Book,
            attempts: successes,
            successes,
            rejections: Default::default(),
            errors: 0,
            first_error: None,
            attempts_per_s: successes as f64,
            successes_per_s: successes as f64,
            p50_us: 0,
            p95_us: 0,
            p99_us: 0,
            max_us: 0,
        });
        phase.db_cpu_s = Some(db_cpu_s);
        phase
    }

    #[test]
    fn database_cpu_per_request_is_compared_with_the_raw_loops_beside_http() {
        let options = Options::new(StoreKind::Pg, Scenario::Spread);
        let mut report = Report::start(&options);
        report.phases.push(booked("engine (PgStore)", 1000, 1.5));
        report.phases.push(booked("http (100 in flight)", 500, 1.0));
        report.phases.push(booked(&beside_http(100), 2000, 1.6));
        report.finish();
        let ratio = |name: &str| {
            report
                .ratios
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.value)
        };
        let raw = beside_http(100);
        // 1.5 ms and 2 ms per request against 0.8 ms.
        let engine = ratio(&format!(
            "engine (PgStore) ÷ {raw} (PostgreSQL CPU per request)"
        ));
        let http = ratio(&format!(
            "http (100 in flight) ÷ {raw} (PostgreSQL CPU per request)"
        ));
        assert!((engine.unwrap() - 1.875).abs() < 1e-9, "{engine:?}");
        assert!((http.unwrap() - 2.5).abs() < 1e-9, "{http:?}");
    }

    #[test]
    fn a_doubled_slot_or_a_lost_success_fails_the_run_and_names_the_phase() {
        let options = Options::new(StoreKind::Memory, Scenario::Hot);
        let mut report = Report::start(&options);
        report
            .phases
            .push(phase("engine", Some(Invariant::new(100, 100, 0))));
        report.phases.push(phase("ceiling", None));
        assert!(report.holds());
        report
            .phases
            .push(phase("raw doubled", Some(Invariant::new(101, 101, 1))));
        report
            .phases
            .push(phase("raw lost", Some(Invariant::new(99, 100, 0))));
        assert!(!report.holds());
        assert!(report
            .table()
            .contains("INVARIANT VIOLATED in: raw doubled, raw lost"));
    }
}
