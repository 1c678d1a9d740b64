//! What each client counts, and the figures a phase reports once the clients are merged.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The kinds of request a scenario makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Book a slot.
    Book,
    /// Read a page of available slots.
    Read,
    /// A patient cancels their own booking.
    CancelPatient,
    /// An admin cancels a booking (it goes to BUFFER).
    CancelAdmin,
    /// One-row UPDATE in its own transaction (the commit-rate ceiling).
    Commit,
}

impl OpKind {
    /// The name in tables.
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Book => "book",
            OpKind::Read => "read",
            OpKind::CancelPatient => "cancel (patient)",
            OpKind::CancelAdmin => "cancel (admin)",
            OpKind::Commit => "commit",
        }
    }
}

/// How one request ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Done as asked.
    Ok,
    /// Refused by a rule (or a lock strategy's own refusal); the reason names which.
    Rejected(&'static str),
    /// The store failed.
    Error(String),
}

/// The largest latency the histograms track: a minute, in microseconds.
const MAX_LATENCY_US: u64 = 60_000_000;

/// One client's counts for one kind of request.
#[derive(Debug)]
pub(crate) struct Counter {
    latency_us: Histogram<u64>,
    successes: u64,
    rejections: BTreeMap<&'static str, u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            // Three significant figures up to a minute: bounded, so recording cannot fail
            // except above the bound, which `saturating_record` clamps.
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|_| unreachable!("static bounds are valid")),
            successes: 0,
            rejections: BTreeMap::new(),
            errors: 0,
            first_error: None,
        }
    }

    pub(crate) fn record(&mut self, outcome: Outcome, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        match outcome {
            Outcome::Ok => self.successes += 1,
            Outcome::Rejected(reason) => *self.rejections.entry(reason).or_default() += 1,
            Outcome::Error(message) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    tracing::warn!(error = %message, "request failed");
                    self.first_error = Some(message);
                }
            }
        }
    }

    pub(crate) fn successes(&self) -> u64 {
        self.successes
    }

    fn merge(&mut self, other: Counter) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        self.successes += other.successes;
        for (reason, n) in other.rejections {
            *self.rejections.entry(reason).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One client's counts, by kind of request.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counters: BTreeMap<OpKind, Counter>,
}

impl Tally {
    pub(crate) fn record(&mut self, kind: OpKind, outcome: Outcome, latency: Duration) {
        self.counters
            .entry(kind)
            .or_insert_with(Counter::new)
            .record(outcome, latency);
    }

    pub(crate) fn successes(&self, kind: OpKind) -> u64 {
        self.counters.get(&kind).map_or(0, Counter::successes)
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        for (kind, counter) in other.counters {
            match self.counters.get_mut(&kind) {
                Some(mine) => mine.merge(counter),
                None => {
                    self.counters.insert(kind, counter);
                }
            }
        }
    }

    /// The figures of every kind of request over `elapsed`.
    pub(crate) fn figures(&self, elapsed: Duration) -> Vec<OpFigures> {
        self.counters
            .iter()
            .map(|(kind, c)| OpFigures::new(*kind, c, elapsed))
            .collect()
    }
}

/// The figures of one kind of request in one phase.
#[derive(Clone, Debug, Serialize)]
pub struct OpFigures {
    /// Which request.
    pub kind: OpKind,
    /// Requests made (successes, rejections and errors).
    pub attempts: u64,
    /// Requests that did what was asked.
    pub successes: u64,
    /// Refusals by reason.
    pub rejections: BTreeMap<String, u64>,
    /// Store failures.
    pub errors: u64,
    /// The first store failure's message, if any.
    pub first_error: Option<String>,
    /// Attempts per second.
    pub attempts_per_s: f64,
    /// Successes per second.
    pub successes_per_s: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 95th percentile latency, microseconds.
    pub p95_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Largest latency, microseconds.
    pub max_us: u64,
}

impl OpFigures {
    fn new(kind: OpKind, c: &Counter, elapsed: Duration) -> Self {
        let attempts = c.latency_us.len();
        let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        Self {
            kind,
            attempts,
            successes: c.successes,
            rejections: c
                .rejections
                .iter()
                .map(|(reason, n)| ((*reason).to_owned(), *n))
                .collect(),
            errors: c.errors,
            first_error: c.first_error.clone(),
            attempts_per_s: attempts as f64 / seconds,
            successes_per_s: c.successes as f64 / seconds,
            p50_us: c.latency_us.value_at_quantile(0.50),
            p95_us: c.latency_us.value_at_quantile(0.95),
            p99_us: c.latency_us.value_at_quantile(0.99),
            max_us: c.latency_us.max(),
        }
    }
}

/// The commit-rate ceiling's loop: `clients` tasks each run `commit(row)` (a one-row
/// transaction on its own row) back to back until `duration` has passed. Returns the merged
/// tally and the time taken.
pub(crate) async fn commit_loop<F, Fut, T>(
    clients: i64,
    duration: Duration,
    commit: F,
) -> (Tally, Duration)
where
    F: Fn(i64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    T: Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..clients)
        .map(|row| {
            let commit = commit.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let at = Instant::now();
                    if at >= deadline {
                        break;
                    }
                    let outcome = match commit(row).await {
                        Ok(_) => Outcome::Ok,
                        Err(e) => Outcome::Error(e.to_string()),
                    };
                    tally.record(OpKind::Commit, outcome, at.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut merged = Tally::default();
    for handle in handles {
        match handle.await {
            Ok(tally) => merged.merge(tally),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    (merged, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tallies_add_counts_and_keep_latencies() {
        let mut a = Tally::default();
        a.record(OpKind::Book, Outcome::Ok, Duration::from_micros(100));
        a.record(
            OpKind::Book,
            Outcome::Rejected("slot_unavailable"),
            Duration::from_micros(200),
        );
        let mut b = Tally::default();
        b.record(
            OpKind::Book,
            Outcome::Error("boom".into()),
            Duration::from_millis(10),
        );
        b.record(OpKind::Read, Outcome::Ok, Duration::from_micros(5));
        a.merge(b);
        let figures = a.figures(Duration::from_secs(1));
        let book = &figures[0];
        assert_eq!((book.attempts, book.successes, book.errors), (3, 1, 1));
        assert_eq!(book.rejections["slot_unavailable"], 1);
        assert_eq!(book.first_error.as_deref(), Some("boom"));
        assert!(book.max_us >= 9_990);
        assert_eq!(figures[1].kind, OpKind::Read);
    }
}
