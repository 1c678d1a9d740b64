//! What every check starts from: an engine on the store under test, a clock the check controls,
//! and short ways to make doctors, slots and bookings.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::{
    Booking, BookingEngine, BookingQuery, BookingState, Doctor, ManualClock, NewDoctor, Page,
    Policy, SlotId, SlotQuery, SlotStatus, SlotStore, SlotView, TimeRange,
};

/// An engine on the store under test with a [`ManualClock`].
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The engine every check drives.
    pub engine: BookingEngine,
    /// The clock the engine reads; move it to test expiry.
    pub clock: ManualClock,
}

impl Fixture {
    /// An engine on `store` with the default policy and a clock frozen at the current time.
    pub fn new(store: Arc<dyn SlotStore>) -> Self {
        let clock = ManualClock::starting_now();
        let engine = BookingEngine::new(store).with_clock(Arc::new(clock.clone()));
        Self { engine, clock }
    }

    /// An engine on `store` with `policy` and a clock frozen at the current time.
    ///
    /// # Panics
    /// When `policy` is invalid.
    pub fn with_policy(store: Arc<dyn SlotStore>, policy: Policy) -> Self {
        let f = Self::new(store);
        let engine = f.engine.with_policy(policy).expect("valid policy");
        Self { engine, ..f }
    }

    /// The clock's current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.engine.now()
    }

    /// A new doctor with this specialization.
    pub async fn doctor(&self, name: &str, specialization: &str) -> Doctor {
        let new = NewDoctor::new(name, specialization, "Europe/Paris").expect("valid doctor");
        self.engine.create_doctor(new).await.expect("create doctor")
    }

    /// `count` consecutive 30-minute slots for `doctor`, the first starting `offset` after
    /// tomorrow at this time.
    pub async fn slots(&self, doctor: &Doctor, count: usize, offset: Duration) -> Vec<SlotId> {
        let first = self.now() + Duration::days(1) + offset;
        let ranges: Vec<TimeRange> = (0..count)
            .map(|i| {
                let start = first + Duration::minutes(30 * i as i64);
                TimeRange::new(start, start + Duration::minutes(30)).expect("valid range")
            })
            .collect();
        let slots = self
            .engine
            .publish_slots(doctor.id, &ranges)
            .await
            .expect("publish slots");
        slots.into_iter().map(|s| s.id).collect()
    }

    /// One free slot of a new doctor.
    pub async fn slot(&self) -> SlotId {
        let doctor = self.doctor("Dr Solo", "General practice").await;
        self.slots(&doctor, 1, Duration::zero()).await[0]
    }

    /// The slot's status now.
    pub async fn status(&self, slot: SlotId) -> SlotStatus {
        self.engine.slot(slot).await.expect("read slot").status
    }

    /// Every booking of `slot`, in any status, read page by page.
    pub async fn bookings_of(&self, slot: SlotId) -> Vec<Booking> {
        let mut all = Vec::new();
        let mut query = BookingQuery {
            slot_id: Some(slot),
            limit: 100,
            ..BookingQuery::default()
        };
        loop {
            let page = self.engine.bookings(&query).await.expect("list bookings");
            all.extend(page.items.into_iter().map(|v| v.booking));
            match page.next {
                Some(next) => query.after = Some(next),
                None => return all,
            }
        }
    }

    /// Asserts the invariant: the slot has at most one booking in an occupying status, and at
    /// most one that occupies it now. Returns the occupying one, if any.
    pub async fn assert_at_most_one_occupant(&self, slot: SlotId) -> Option<Booking> {
        let now = self.now();
        let bookings = self.bookings_of(slot).await;
        let stored: Vec<&Booking> = bookings
            .iter()
            .filter(|b| b.status().may_occupy_slot())
            .collect();
        assert!(
            stored.len() <= 1,
            "slot {slot} has {} bookings in an occupying status: {stored:?}",
            stored.len()
        );
        let live: Vec<&Booking> = bookings
            .iter()
            .filter(|b| b.state.occupies_slot_at(now))
            .collect();
        assert!(live.len() <= 1, "slot {slot} is occupied twice: {live:?}");
        live.first().map(|b| (*b).clone())
    }

    /// Asserts that a reschedule moved `old` to `new`: the old booking is `RESCHEDULED` and names
    /// the new one, the new one is `CONFIRMED`, the patient's, and names the old one; both read
    /// back so; the old slot is free, the new one booked.
    pub async fn assert_moved(&self, old: &Booking, new: &Booking, target: SlotId) {
        let stored_old = self
            .engine
            .booking(old.id)
            .await
            .expect("old booking")
            .booking;
        let stored_new = self
            .engine
            .booking(new.id)
            .await
            .expect("new booking")
            .booking;
        assert_eq!(stored_old.state, BookingState::Rescheduled { to: new.id });
        assert_eq!(stored_old.slot_id, old.slot_id);
        assert_eq!(&stored_new, new, "the answer is the stored booking");
        assert_eq!(stored_new.state, BookingState::Confirmed);
        assert_eq!(stored_new.slot_id, target);
        assert_eq!(stored_new.patient_id, old.patient_id);
        assert_eq!(stored_new.rescheduled_from, Some(old.id));
        assert_eq!(self.assert_at_most_one_occupant(old.slot_id).await, None);
        assert_eq!(
            self.assert_at_most_one_occupant(target).await.map(|b| b.id),
            Some(new.id)
        );
    }

    /// Every slot matching `query`, read page by page with `page_size`.
    pub async fn all_slots(&self, query: SlotQuery, page_size: u32) -> Vec<SlotView> {
        let mut query = SlotQuery {
            limit: page_size,
            ..query
        };
        let mut all = Vec::new();
        loop {
            let page: Page<_, _> = self.engine.slots(&query).await.expect("list slots");
            assert!(
                page.items.len() <= page_size as usize,
                "page larger than its limit"
            );
            all.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return all,
            }
        }
    }
}

/// Runs `f` on `count` tasks at once (spawned on the runtime, so they run in parallel) and
/// returns their results in task order.
pub(crate) async fn race<T, F, Fut>(count: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let fut = f(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for task in futures::future::join_all(tasks).await {
        results.push(task.expect("race task panicked"));
    }
    results
}
