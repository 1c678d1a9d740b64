//! Races: many tasks at once against one store, then the invariant checked afterwards.

use std::sync::Arc;

use chrono::Duration;

use super::support::{race, Fixture};
use crate::{
    BookingState, BookingStatus, Error, PatientId, SlotQuery, SlotStatus, SlotStore, TimeRange,
};

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

/// A reschedule takes slot B while 30 patients try to book B at the same instant, over several
/// rounds: exactly one of them wins B each round; when the reschedule lost, its booking is
/// intact (still `CONFIRMED` on A) and A is still booked.
pub async fn bookers_racing_a_reschedule_for_its_target_one_wins<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Target", "Cardiology").await;
    let rounds = 6;
    let slots = f.slots(&doc, 2 * rounds, Duration::zero()).await;
    for round in slots.chunks(2) {
        let (a, b) = (round[0], round[1]);
        let patient = PatientId::new();
        let old = f.engine.book(a, patient, None).await.unwrap();
        let results = race(31, |i| {
            let engine = f.engine.clone();
            async move {
                if i == 0 {
                    engine.reschedule_as_patient(old.id, patient, b, None).await
                } else {
                    engine.book(b, PatientId::new(), None).await
                }
            }
        })
        .await;
        for r in &results {
            assert!(
                matches!(r, Ok(_) | Err(Error::SlotUnavailable(_))),
                "got {r:?}"
            );
        }
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one wins slot B: {results:?}");
        let occupant = f.assert_at_most_one_occupant(b).await.map(|b| b.id);
        assert_eq!(occupant, Some(winners[0].id));
        assert_eq!(f.bookings_of(b).await.len(), 1);
        match &results[0] {
            Ok(new) => f.assert_moved(&old, new, b).await,
            Err(_) => {
                assert_eq!(f.engine.booking(old.id).await.unwrap().booking, old);
                assert_eq!(
                    f.assert_at_most_one_occupant(a).await.map(|b| b.id),
                    Some(old.id)
                );
            }
        }
    }
}

/// Patient 1 moves from A to B while patient 2 moves from B to A and cancels, on ten pairs of
/// slots at once: no deadlock (every answer is a rule's, never a store failure), no slot is
/// occupied twice, no patient holds two slots, and each booking was either moved whole (to a
/// confirmed booking that links back) or not at all.
pub async fn opposite_reschedules_at_once_never_deadlock_or_double_book<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Swap", "Cardiology").await;
    let pairs = 10;
    let slots = Arc::new(f.slots(&doc, 2 * pairs, Duration::zero()).await);
    let mut bookings = Vec::new();
    for pair in slots.chunks(2) {
        let (p1, p2) = (PatientId::new(), PatientId::new());
        let b1 = f.engine.book(pair[0], p1, None).await.unwrap();
        let b2 = f.engine.book(pair[1], p2, None).await.unwrap();
        bookings.push((b1, b2));
    }
    let bookings = Arc::new(bookings);
    let results = race(3 * pairs, |i| {
        let engine = f.engine.clone();
        let (b1, b2) = bookings[i / 3].clone();
        async move {
            match i % 3 {
                0 => engine
                    .reschedule_as_patient(b1.id, b1.patient_id, b2.slot_id, None)
                    .await
                    .map(|_| ()),
                1 => engine
                    .reschedule_as_patient(b2.id, b2.patient_id, b1.slot_id, None)
                    .await
                    .map(|_| ()),
                _ => engine
                    .cancel_as_patient(b2.id, b2.patient_id, None)
                    .await
                    .map(|_| ()),
            }
        }
    })
    .await;
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(()) | Err(Error::SlotUnavailable(_) | Error::InvalidTransition { .. })
            ),
            "got {r:?}"
        );
    }
    for (b1, b2) in bookings.iter() {
        for slot in [b1.slot_id, b2.slot_id] {
            f.assert_at_most_one_occupant(slot).await;
        }
        for booking in [b1, b2] {
            let stored = f.engine.booking(booking.id).await.unwrap().booking;
            let live = |b: &crate::Booking| b.state.occupies_slot_at(f.now());
            match stored.state {
                BookingState::Rescheduled { to } => {
                    let new = f.engine.booking(to).await.unwrap().booking;
                    assert_eq!(new.rescheduled_from, Some(booking.id));
                    assert_eq!(new.patient_id, booking.patient_id);
                    assert_ne!(new.slot_id, booking.slot_id);
                    assert!(live(&new));
                }
                BookingState::Confirmed => assert_eq!(stored, *booking),
                BookingState::Cancelled { .. } => assert_eq!(booking.id, b2.id),
                other => panic!("unexpected {other:?}"),
            }
        }
        // Each patient occupies at most one slot of the pair.
        for patient in [b1.patient_id, b2.patient_id] {
            let mut occupying = 0;
            for slot in [b1.slot_id, b2.slot_id] {
                occupying += f
                    .bookings_of(slot)
                    .await
                    .iter()
                    .filter(|b| b.patient_id == patient && b.state.occupies_slot_at(f.now()))
                    .count();
            }
            assert!(occupying <= 1, "patient {patient} holds {occupying} slots");
        }
    }
}

/// A patient's reschedule and an admin's cancel of the same booking at once, over twenty
/// rounds so that both orders occur: exactly one wins; after a move the old slot is free and
/// the target booked, after a cancel the old slot is in its buffer and the target untouched.
pub async fn reschedule_racing_the_admins_cancel_one_wins<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Either", "Cardiology").await;
    let slots = f.slots(&doc, 40, Duration::zero()).await;
    for round in slots.chunks(2) {
        let (a, b) = (round[0], round[1]);
        let patient = PatientId::new();
        let old = f.engine.book(a, patient, None).await.unwrap();
        let results = race(2, |i| {
            let engine = f.engine.clone();
            async move {
                if i == 0 {
                    engine.reschedule_as_patient(old.id, patient, b, None).await
                } else {
                    engine.cancel_as_admin(old.id, None).await
                }
            }
        })
        .await;
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::InvalidTransition { .. }))),
            "{results:?}"
        );
        match &results[0] {
            Ok(new) => f.assert_moved(&old, new, b).await,
            Err(_) => {
                let stored = f.engine.booking(old.id).await.unwrap().booking;
                assert_eq!(stored.status(), BookingStatus::Buffer);
                assert!(matches!(f.status(a).await, SlotStatus::Buffer { .. }));
                assert!(f.bookings_of(b).await.is_empty());
                assert_eq!(f.status(b).await, SlotStatus::Available);
            }
        }
    }
}
