//! The scenarios: the calendar each round publishes, and the loop each client runs on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use medislot_core::{BookingId, DoctorId, PatientId, SlotId};
use uuid::Uuid;

use crate::options::Scenario;
use crate::stats::{OpKind, Outcome, Tally};
use crate::target::Target;

/// Slots in a spread round.
pub(crate) const SPREAD_SLOTS: usize = 100_000;
/// Slots in a hot round.
pub(crate) const HOT_SLOTS: usize = 100;
/// Patients racing in a hot round, one attempt each.
pub(crate) const HOT_PATIENTS: usize = 10_000;
/// Slots in the mixed scenario.
pub(crate) const MIXED_SLOTS: usize = 10_000;
/// Length of every benchmark slot.
pub(crate) const SLOT_MINUTES: i64 = 15;

/// One doctor's published slots, in the order spread clients take them.
#[derive(Debug)]
pub(crate) struct Calendar {
    pub(crate) doctor: DoctorId,
    /// (slot, start), shuffled.
    pub(crate) slots: Vec<(SlotId, DateTime<Utc>)>,
}

impl Calendar {
    /// Slot ranges for a round: back to back from tomorrow, `count` of them.
    pub(crate) fn starts(count: usize) -> Vec<DateTime<Utc>> {
        let tomorrow = Utc::now() + chrono::Duration::days(1);
        // Whole minutes, so that every store keeps the instants exactly.
        let base = tomorrow
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(tomorrow);
        (0..count)
            .map(|i| {
                let i = i64::try_from(i).unwrap_or(i64::MAX);
                base + chrono::Duration::minutes(SLOT_MINUTES * i)
            })
            .collect()
    }

    /// Puts the slots in a random order: spread clients take them one after another, which is
    /// every patient picking a random slot among those still free.
    pub(crate) fn shuffle(&mut self) {
        fastrand::shuffle(&mut self.slots);
    }
}

/// How many slots a round of `scenario` publishes, unless `custom` says otherwise.
pub(crate) fn slot_count(scenario: Scenario, custom: Option<usize>) -> usize {
    if let Some(count) = custom {
        return count.max(1);
    }
    match scenario {
        Scenario::Spread => SPREAD_SLOTS,
        Scenario::Hot => HOT_SLOTS,
        Scenario::Mixed => MIXED_SLOTS,
    }
}

/// What the clients of one round share.
#[derive(Debug)]
pub(crate) struct Rush {
    pub(crate) scenario: Scenario,
    pub(crate) target: Target,
    pub(crate) calendar: Calendar,
    /// The next attempt's number; spread and hot rounds end when it reaches `attempts`.
    next: AtomicUsize,
    attempts: usize,
    /// Distinguishes this round's patient ids from other rounds'.
    round: u64,
    deadline: Instant,
}

impl Rush {
    pub(crate) fn new(
        scenario: Scenario,
        target: Target,
        calendar: Calendar,
        round: u64,
        deadline: Instant,
        start: usize,
    ) -> Self {
        let attempts = match scenario {
            Scenario::Spread => calendar.slots.len(),
            Scenario::Hot => HOT_PATIENTS,
            Scenario::Mixed => usize::MAX,
        };
        Self {
            scenario,
            target,
            calendar,
            next: AtomicUsize::new(start),
            attempts,
            round,
            deadline,
        }
    }

    /// A patient id for attempt `i` of this round (hot: patient `i` of 10,000).
    fn patient(&self, i: usize) -> PatientId {
        PatientId::from_uuid(Uuid::from_u64_pair(self.round, i as u64))
    }
}

/// What one client did in a round.
#[derive(Debug, Default)]
pub(crate) struct ClientResult {
    pub(crate) tally: Tally,
    /// Bookings made minus bookings its patients cancelled: what should still hold a slot.
    pub(crate) active: u64,
}

/// Runs one client until the round's attempts are used up or its deadline passes.
pub(crate) async fn client(rush: Arc<Rush>) -> ClientResult {
    match rush.scenario {
        Scenario::Spread | Scenario::Hot => rush_client(&rush).await,
        Scenario::Mixed => mixed_client(&rush).await,
    }
}

async fn rush_client(rush: &Rush) -> ClientResult {
    let mut result = ClientResult::default();
    let slots = &rush.calendar.slots;
    let mut rng = fastrand::Rng::new();
    loop {
        let i = rush.next.fetch_add(1, Ordering::Relaxed);
        if i >= rush.attempts || slots.is_empty() {
            break;
        }
        let slot = match rush.scenario {
            Scenario::Hot => slots[rng.usize(..slots.len())].0,
            Scenario::Spread | Scenario::Mixed => slots[i % slots.len()].0,
        };
        let started = Instant::now();
        if started >= rush.deadline {
            break;
        }
        let (outcome, _) = rush.target.book(slot, rush.patient(i)).await;
        result
            .tally
            .record(OpKind::Book, outcome, started.elapsed());
    }
    result.active = result.tally.successes(OpKind::Book);
    result
}

async fn mixed_client(rush: &Rush) -> ClientResult {
    let mut result = ClientResult::default();
    let slots = &rush.calendar.slots;
    let mut rng = fastrand::Rng::new();
    // This client's bookings that may still be cancelled, with their patients.
    let mut mine: Vec<(BookingId, PatientId)> = Vec::new();
    let mut patient_cancels = 0;
    while !slots.is_empty() {
        let started = Instant::now();
        if started >= rush.deadline {
            break;
        }
        let dice = rng.u32(..100);
        if dice < 85 {
            let from = slots[rng.usize(..slots.len())].1;
            let outcome = rush.target.read(rush.calendar.doctor, from).await;
            result
                .tally
                .record(OpKind::Read, outcome, started.elapsed());
        } else if dice < 95 || mine.is_empty() {
            let slot = slots[rng.usize(..slots.len())].0;
            let i = rush.next.fetch_add(1, Ordering::Relaxed);
            let patient = rush.patient(i);
            let (outcome, booking) = rush.target.book(slot, patient).await;
            if let Some(booking) = booking {
                mine.push((booking, patient));
            }
            result
                .tally
                .record(OpKind::Book, outcome, started.elapsed());
        } else {
            let (booking, patient) = mine.swap_remove(rng.usize(..mine.len()));
            let by_admin = rng.bool();
            let outcome = rush.target.cancel(booking, patient, by_admin).await;
            let kind = if by_admin {
                OpKind::CancelAdmin
            } else {
                if matches!(outcome, Outcome::Ok) {
                    patient_cancels += 1;
                }
                OpKind::CancelPatient
            };
            result.tally.record(kind, outcome, started.elapsed());
        }
    }
    // An admin's cancel keeps the slot (BUFFER); a patient's frees it.
    result.active = result.tally.successes(OpKind::Book) - patient_cancels;
    result
}

/// What is left of a round that its deadline cut short: the calendar and the next attempt.
pub(crate) type Unfinished = Option<(Target, Calendar, usize)>;

/// Runs `clients` clients on a round; returns their merged results, the time they took, and
/// the round itself when attempts are left for a later slice.
pub(crate) async fn run_round(rush: Rush, clients: usize) -> (ClientResult, Duration, Unfinished) {
    let rush = Arc::new(rush);
    let started = Instant::now();
    let handles: Vec<_> = (0..clients.max(1))
        .map(|_| tokio::spawn(client(Arc::clone(&rush))))
        .collect();
    let mut merged = ClientResult::default();
    for handle in handles {
        match handle.await {
            Ok(result) => {
                merged.tally.merge(result.tally);
                merged.active += result.active;
            }
            Err(e) => {
                // A panicking client is a bug in the benchmark: make it fail the run.
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    let took = started.elapsed();
    // Every client was joined, so this is the last reference (were it not, the round would
    // simply not be continued).
    let unfinished = Arc::try_unwrap(rush).ok().and_then(|rush| {
        let next = rush.next.into_inner();
        (next < rush.attempts).then_some((rush.target, rush.calendar, next))
    });
    (merged, took, unfinished)
}

/// Whether a round ended by using up its attempts (so another round may follow).
pub(crate) fn rounds_repeat(scenario: Scenario) -> bool {
    match scenario {
        Scenario::Spread | Scenario::Hot => true,
        Scenario::Mixed => false,
    }
}
