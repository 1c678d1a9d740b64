//! The check every round ends with: no slot holds two active bookings, and every booking a
//! client was told succeeded (and did not cancel as its patient) is the one holding its slot.

use std::collections::HashMap;

use chrono::Utc;
use medislot_core::{BookingQuery, DoctorId, SlotStore, MAX_PAGE_SIZE};
use serde::Serialize;

use crate::BenchError;

/// What the store holds after a phase, against what the clients were told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Invariant {
    /// Bookings occupying a slot now.
    pub active: u64,
    /// Successful bookings minus successful patient cancels, as the clients counted them.
    pub expected_active: u64,
    /// Slots with more than one occupying booking (must be 0).
    pub doubled_slots: u64,
}

impl Invariant {
    pub(crate) fn new(active: u64, expected_active: u64, doubled_slots: u64) -> Self {
        Self {
            active,
            expected_active,
            doubled_slots,
        }
    }

    /// Whether the invariant holds.
    pub fn holds(&self) -> bool {
        self.doubled_slots == 0 && self.active == self.expected_active
    }

    /// Adds another round's figures.
    pub(crate) fn add(&mut self, other: Invariant) {
        self.active += other.active;
        self.expected_active += other.expected_active;
        self.doubled_slots += other.doubled_slots;
    }
}

/// Reads the invariant of one doctor's slots through the store's own listing (for stores with
/// no SQL to ask).
pub(crate) async fn through_store(
    store: &dyn SlotStore,
    doctor: DoctorId,
    expected_active: u64,
) -> Result<Invariant, BenchError> {
    let now = Utc::now();
    let mut per_slot: HashMap<_, u64> = HashMap::new();
    let mut query = BookingQuery {
        doctor_id: Some(doctor),
        limit: MAX_PAGE_SIZE,
        ..BookingQuery::default()
    };
    loop {
        let page = store.list_bookings(&query, now).await?;
        for view in &page.items {
            if view.booking.state.occupies_slot_at(now) {
                *per_slot.entry(view.booking.slot_id).or_default() += 1;
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let active = per_slot.values().sum();
    let doubled = per_slot.values().filter(|n| **n > 1).count() as u64;
    Ok(Invariant::new(active, expected_active, doubled))
}
