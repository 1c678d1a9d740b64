//! Checks on rescheduling: a confirmed booking moves to another slot in one step, or nothing
//! changes.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{
    Booking, BookingId, BookingQuery, BookingState, BookingStatus, Error, EventKind,
    IdempotencyKey, PatientId, SlotId, SlotStatus, SlotStore,
};

/// A patient moves their confirmed booking: a new confirmed booking takes the target, the old
/// one is `RESCHEDULED`, the two link to each other, and the old slot is free at once.
pub async fn rescheduling_moves_a_booking_to_another_slot_in_one_step<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Move", "Cardiology").await;
    let slots = f.slots(&doctor, 3, Duration::zero()).await;
    let patient = PatientId::new();
    let old = f.engine.book(slots[0], patient, None).await.unwrap();
    f.clock.advance(Duration::minutes(1));
    let new = f
        .engine
        .reschedule_as_patient(old.id, patient, slots[1], None)
        .await
        .unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(new.created_at, f.now());
    f.assert_moved(&old, &new, slots[1]).await;
    assert_eq!(f.status(slots[0]).await, SlotStatus::Available);
    assert_eq!(f.status(slots[1]).await, SlotStatus::Booked);
    let stored_old = f.engine.booking(old.id).await.unwrap().booking;
    assert_eq!(stored_old.updated_at, f.now());
    // The patient's listing shows both, and the status filter finds the old one.
    let mine = f
        .engine
        .patient_bookings(
            patient,
            &BookingQuery {
                limit: 10,
                ..BookingQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 2);
    let moved = f
        .engine
        .bookings(&BookingQuery {
            status: Some(BookingStatus::Rescheduled),
            limit: 10,
            ..BookingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        moved.items.iter().map(|v| v.booking.id).collect::<Vec<_>>(),
        vec![old.id]
    );
    // The freed slot can be booked by someone else, and a moved booking moves no more.
    f.engine
        .book(slots[0], PatientId::new(), None)
        .await
        .unwrap();
    assert!(matches!(
        f.engine
            .reschedule_as_patient(old.id, patient, slots[2], None)
            .await,
        Err(Error::InvalidTransition {
            from: BookingStatus::Rescheduled,
            event: EventKind::RescheduleByPatient
        })
    ));
}

/// An admin moves any patient's booking to another doctor's slot, onto a slot whose hold has
/// lapsed (tidied on the way); the new booking stays the patient's.
pub async fn admin_may_reschedule_any_booking_to_any_doctors_slot<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let from = f.slot().await;
    let other = f.doctor("Dr Elsewhere", "Dermatology").await;
    let target = f.slots(&other, 1, Duration::hours(3)).await[0];
    let lapsed = f.engine.hold(target, PatientId::new()).await.unwrap();
    let patient = PatientId::new();
    let old = f.engine.book(from, patient, None).await.unwrap();
    f.clock.advance(f.engine.policy().hold);
    let new = f
        .engine
        .reschedule_as_admin(old.id, target, None)
        .await
        .unwrap();
    f.assert_moved(&old, &new, target).await;
    let tidied = f.engine.booking(lapsed.id).await.unwrap().booking;
    assert_eq!(tidied.status(), BookingStatus::Expired);
}

/// Every refusal leaves the booking confirmed on its slot and writes nothing: a stranger's
/// request, a booking that is not confirmed, a taken, withdrawn, started or unknown target, the
/// booking's own slot, an unknown booking.
pub async fn rescheduling_refusals_change_nothing<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Refuse", "Cardiology").await;
    let slots = f.slots(&doctor, 5, Duration::zero()).await;
    let (home, taken, withdrawn, free, held) = (slots[0], slots[1], slots[2], slots[3], slots[4]);
    let patient = PatientId::new();
    let booking = f.engine.book(home, patient, None).await.unwrap();
    f.engine.book(taken, PatientId::new(), None).await.unwrap();
    f.engine.withdraw_slot(withdrawn).await.unwrap();
    let hold = f.engine.hold(held, patient).await.unwrap();
    let soon = f.doctor("Dr Soon", "Cardiology").await;
    let started = f.slots(&soon, 1, Duration::hours(-2)).await[0];

    let unchanged = |f: Fixture, booking: Booking| async move {
        let stored = f.engine.booking(booking.id).await.unwrap().booking;
        assert_eq!(stored, booking, "a refused reschedule changed the booking");
        assert_eq!(f.status(booking.slot_id).await, SlotStatus::Booked);
    };
    let reschedule = |id: BookingId, target: SlotId| {
        let engine = f.engine.clone();
        async move {
            engine
                .reschedule_as_patient(id, patient, target, None)
                .await
        }
    };

    let stranger = f
        .engine
        .reschedule_as_patient(booking.id, PatientId::new(), free, None)
        .await;
    assert!(
        matches!(stranger, Err(Error::NotOwner(id)) if id == booking.id),
        "{stranger:?}"
    );
    let r = reschedule(booking.id, taken).await;
    assert!(
        matches!(r, Err(Error::SlotUnavailable(id)) if id == taken),
        "{r:?}"
    );
    let r = reschedule(booking.id, withdrawn).await;
    assert!(
        matches!(r, Err(Error::SlotNotFound(id)) if id == withdrawn),
        "{r:?}"
    );
    let r = reschedule(booking.id, SlotId::new()).await;
    assert!(matches!(r, Err(Error::SlotNotFound(_))), "{r:?}");
    let r = reschedule(booking.id, home).await;
    assert!(
        matches!(
            r,
            Err(Error::Validation {
                field: "slot_id",
                ..
            })
        ),
        "{r:?}"
    );
    let r = reschedule(hold.id, free).await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidTransition {
                from: BookingStatus::Pending,
                event: EventKind::RescheduleByPatient
            })
        ),
        "{r:?}"
    );
    let r = reschedule(BookingId::new(), free).await;
    assert!(matches!(r, Err(Error::BookingNotFound(_))), "{r:?}");
    let r = f
        .engine
        .reschedule_as_admin(BookingId::new(), free, None)
        .await;
    assert!(matches!(r, Err(Error::BookingNotFound(_))), "{r:?}");
    unchanged(f.clone(), booking.clone()).await;
    assert_eq!(f.status(free).await, SlotStatus::Available);
    // A cancelled booking cannot move, by patient or admin.
    f.engine
        .cancel_as_patient(hold.id, patient, None)
        .await
        .unwrap();
    let r = f.engine.reschedule_as_admin(hold.id, free, None).await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidTransition {
                from: BookingStatus::Cancelled,
                event: EventKind::RescheduleByAdmin
            })
        ),
        "{r:?}"
    );
    // A target that has started (the clock moved past it, but not past the booking's slot).
    f.clock.advance(Duration::hours(23));
    let r = reschedule(booking.id, started).await;
    assert!(
        matches!(r, Err(Error::SlotInPast(id)) if id == started),
        "{r:?}"
    );
    unchanged(f.clone(), booking.clone()).await;
    assert!(f.bookings_of(free).await.is_empty());
}

/// A reschedule retried with its idempotency key answers with the booking the first request
/// made and moves nothing again, for the patient and for an admin; the key used for another
/// request is refused.
pub async fn a_reschedule_retried_with_its_idempotency_key_moves_once<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Again", "Cardiology").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let patient = PatientId::new();
    let key = IdempotencyKey::new("move-1").unwrap();
    let old = f.engine.book(slots[0], patient, None).await.unwrap();
    let first = f
        .engine
        .reschedule_as_patient(old.id, patient, slots[1], Some(key.clone()))
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(5));
    let again = f
        .engine
        .reschedule_as_patient(old.id, patient, slots[1], Some(key.clone()))
        .await
        .unwrap();
    assert_eq!(again, first);
    f.assert_moved(&old, &first, slots[1]).await;
    assert_eq!(f.bookings_of(slots[1]).await.len(), 1);
    // The same key for another target, or for another booking, is refused.
    let r = f
        .engine
        .reschedule_as_patient(old.id, patient, slots[2], Some(key.clone()))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Validation {
                field: "Idempotency-Key",
                ..
            })
        ),
        "{r:?}"
    );
    let r = f
        .engine
        .reschedule_as_patient(first.id, patient, slots[2], Some(key))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::Validation {
                field: "Idempotency-Key",
                ..
            })
        ),
        "{r:?}"
    );
    assert!(f.bookings_of(slots[2]).await.is_empty());
    // An admin's retry replays too (the key is kept on the patient's new booking).
    let admin_key = IdempotencyKey::new("admin-move-1").unwrap();
    let moved = f
        .engine
        .reschedule_or_replay(first.id, None, slots[3], Some(admin_key.clone()))
        .await
        .unwrap();
    assert!(!moved.replayed, "the first move is not a replay");
    let moved = moved.booking;
    let replayed = f
        .engine
        .reschedule_or_replay(first.id, None, slots[3], Some(admin_key))
        .await
        .unwrap();
    assert!(replayed.replayed, "the retry says it is a replay");
    assert_eq!(replayed.booking, moved);
    assert_eq!(moved.patient_id, patient);
    assert_eq!(f.bookings_of(slots[3]).await.len(), 1);
    assert_eq!(
        f.engine.booking(first.id).await.unwrap().booking.state,
        BookingState::Rescheduled { to: moved.id }
    );
}
