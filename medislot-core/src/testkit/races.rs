//! Races: many tasks at once against one store, then the invariant checked afterwards.

use std::sync::Arc;

use chrono::Duration;

use super::support::{race, Fixture};
use crate::{BookingState, Error, PatientId, SlotQuery, SlotStatus, SlotStore, TimeRange};

/// 64 patients press "book" on one slot at the same instant: exactly one wins and every other
/// is told the slot is unavailable.
pub async fn many_tasks_racing_for_one_slot_yield_one_booking<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let results = race(64, |_| {
        let engine = f.engine.clone();
        async move { engine.book(slot, PatientId::new(), None).await }
    })
    .await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "exactly one booking wins");
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(Error::SlotUnavailable(_))),
            "a loser must be told the slot is unavailable, got {r:?}"
        );
    }
    assert!(f.assert_at_most_one_occupant(slot).await.is_some());
    assert_eq!(f.bookings_of(slot).await.len(), 1);
}

/// 1000 tasks over 100 slots: every slot ends with exactly one booking, and the number of
/// successful answers equals the number of bookings stored.
pub async fn a_thousand_tasks_over_a_hundred_slots_never_double_book<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Rush", "Cardiology").await;
    let slots = Arc::new(f.slots(&doc, 100, Duration::zero()).await);
    let results = race(1000, |i| {
        let engine = f.engine.clone();
        let slot = slots[(i * 37) % slots.len()];
        async move { engine.book(slot, PatientId::new(), None).await }
    })
    .await;
    let successes = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(Error::SlotUnavailable(_))),
            "got {r:?}"
        );
    }
    assert_eq!(successes, 100, "each slot booked once");
    let mut stored = 0;
    for slot in slots.iter() {
        assert!(f.assert_at_most_one_occupant(*slot).await.is_some());
        stored += f.bookings_of(*slot).await.len();
    }
    assert_eq!(stored, successes);
    let free = f
        .all_slots(
            SlotQuery {
                available: Some(true),
                ..SlotQuery::default()
            },
            50,
        )
        .await;
    assert!(free.is_empty());
}

/// The same cancel sent twice at once while 30 patients try to book the slot it frees: one
/// cancel wins, the other is refused, and at most one new booking is made.
pub async fn double_cancel_racing_with_bookers_frees_the_slot_once<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let owner = PatientId::new();
    let booking = f.engine.book(slot, owner, None).await.unwrap();
    let results = race(32, |i| {
        let engine = f.engine.clone();
        async move {
            if i < 2 {
                (
                    true,
                    engine.cancel_as_patient(booking.id, owner, None).await,
                )
            } else {
                (false, engine.book(slot, PatientId::new(), None).await)
            }
        }
    })
    .await;
    let cancels: Vec<_> = results.iter().filter(|(c, _)| *c).map(|(_, r)| r).collect();
    assert_eq!(
        cancels.iter().filter(|r| r.is_ok()).count(),
        1,
        "{cancels:?}"
    );
    assert!(cancels
        .iter()
        .any(|r| matches!(r, Err(Error::InvalidTransition { .. }))));
    let new_bookings: Vec<_> = results
        .iter()
        .filter(|(c, r)| !*c && r.is_ok())
        .map(|(_, r)| r.as_ref().unwrap().id)
        .collect();
    assert!(new_bookings.len() <= 1, "the slot was freed once");
    let occupant = f.assert_at_most_one_occupant(slot).await.map(|b| b.id);
    assert_eq!(occupant, new_bookings.first().copied());
    let expected = if new_bookings.is_empty() {
        SlotStatus::Available
    } else {
        SlotStatus::Booked
    };
    assert_eq!(f.status(slot).await, expected);
}

/// An admin's and the patient's cancel of one booking at once: exactly one wins and the
/// booking ends in that winner's state. Repeated so that both orders occur.
pub async fn admin_and_patient_cancel_racing_one_wins<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Contested", "Cardiology").await;
    let slots = f.slots(&doc, 20, Duration::zero()).await;
    for slot in slots {
        let patient = PatientId::new();
        let booking = f.engine.book(slot, patient, None).await.unwrap();
        let results = race(2, |i| {
            let engine = f.engine.clone();
            async move {
                if i == 0 {
                    engine.cancel_as_admin(booking.id, None).await
                } else {
                    engine.cancel_as_patient(booking.id, patient, None).await
                }
            }
        })
        .await;
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(Error::InvalidTransition { .. }))));
        let stored = f.engine.booking(booking.id).await.unwrap().booking;
        assert_eq!(&stored, winners[0]);
        match stored.state {
            BookingState::Buffer { .. } => {
                assert!(matches!(f.status(slot).await, SlotStatus::Buffer { .. }));
            }
            BookingState::Cancelled { .. } => {
                assert_eq!(f.status(slot).await, SlotStatus::Available);
            }
            other => panic!("a cancel ends in BUFFER or CANCELLED, got {other:?}"),
        }
        f.assert_at_most_one_occupant(slot).await;
    }
}

/// Ten admins publish the same time for one doctor at once: one succeeds, nine are told it
/// overlaps, and the calendar holds one slot.
pub async fn concurrent_publishes_never_overlap<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Popular", "Cardiology").await;
    let start = f.now() + Duration::days(3);
    let results = race(10, |i| {
        let engine = f.engine.clone();
        // Each request is a different but overlapping range.
        let offset = Duration::minutes(i as i64);
        let range = TimeRange::new(start + offset, start + offset + Duration::minutes(30))
            .expect("valid range");
        async move { engine.publish_slots(doc.id, &[range]).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(Error::SlotOverlap { .. })),
            "got {r:?}"
        );
    }
    let stored = f
        .all_slots(
            SlotQuery {
                doctor_id: Some(doc.id),
                ..SlotQuery::default()
            },
            10,
        )
        .await;
    assert_eq!(stored.len(), 1);
}
