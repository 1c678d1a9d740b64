//! Checks on the clinic's cut-offs: until when a patient may cancel or reschedule, and that a
//! slot that has started can no longer be booked, held or confirmed. Time is moved with the
//! fixture's clock, never waited for.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{BookingStatus, Error, PatientId, Policy, SlotStatus, SlotStore};

fn two_hours_cutoff() -> Policy {
    Policy {
        change_cutoff: Duration::hours(2),
        ..Policy::default()
    }
}

/// With a two-hour cut-off, a patient may cancel or reschedule a confirmed booking until two
/// hours before its slot starts, not from then on; the refusal says until when it was allowed
/// and changes nothing.
pub async fn patient_may_cancel_or_reschedule_only_until_the_cutoff<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, two_hours_cutoff());
    let doctor = f.doctor("Dr Cutoff", "Cardiology").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let starts_at = f
        .engine
        .slot(slots[0])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    let deadline = starts_at - Duration::hours(2);
    let patient = PatientId::new();
    let early = f.engine.book(slots[0], patient, None).await.unwrap();
    let late = f.engine.book(slots[1], patient, None).await.unwrap();
    let late_start = f
        .engine
        .slot(slots[1])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();

    // Just before the deadline of the first slot: both a move and a cancel are allowed.
    f.clock.set(deadline - Duration::microseconds(1));
    let moved = f
        .engine
        .reschedule_as_patient(early.id, patient, slots[2], None)
        .await
        .unwrap();
    f.assert_moved(&early, &moved, slots[2]).await;

    // At the deadline of the second slot (its start minus two hours): refused, naming it.
    f.clock.set(late_start - Duration::hours(2));
    let too_late = |r: &crate::Result<crate::Booking>| {
        matches!(r, Err(Error::TooLateToChange { booking, allowed_until })
            if *booking == late.id && *allowed_until == late_start - Duration::hours(2))
    };
    let r = f.engine.cancel_as_patient(late.id, patient, None).await;
    assert!(too_late(&r), "{r:?}");
    let r = f
        .engine
        .reschedule_as_patient(late.id, patient, slots[3], None)
        .await;
    assert!(too_late(&r), "{r:?}");
    assert_eq!(f.engine.booking(late.id).await.unwrap().booking, late);
    assert_eq!(f.status(slots[3]).await, SlotStatus::Available);
    // A stranger is still told it is not theirs, not when it was allowed.
    let r = f
        .engine
        .cancel_as_patient(late.id, PatientId::new(), None)
        .await;
    assert!(matches!(r, Err(Error::NotOwner(_))), "{r:?}");
    // The moved booking's own deadline has not passed yet: the patient may still cancel it.
    let moved_start = f
        .engine
        .slot(slots[2])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    assert!(f.now() < moved_start - Duration::hours(2));
    f.engine
        .cancel_as_patient(moved.id, patient, None)
        .await
        .unwrap();
}

/// An admin may cancel or reschedule after the patient's cut-off and after the slot started.
pub async fn admin_may_cancel_or_reschedule_after_the_cutoff<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, two_hours_cutoff());
    let doctor = f.doctor("Dr Late", "Cardiology").await;
    let slots = f.slots(&doctor, 3, Duration::zero()).await;
    let patient = PatientId::new();
    let first = f.engine.book(slots[0], patient, None).await.unwrap();
    let second = f.engine.book(slots[1], patient, None).await.unwrap();
    let starts_at = f
        .engine
        .slot(slots[0])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    // Inside the cut-off of both slots, after the first one started.
    f.clock.set(starts_at + Duration::minutes(1));
    let moved = f
        .engine
        .reschedule_as_admin(second.id, slots[2], None)
        .await
        .unwrap();
    f.assert_moved(&second, &moved, slots[2]).await;
    let cancelled = f.engine.cancel_as_admin(first.id, None).await.unwrap();
    assert_eq!(cancelled.status(), BookingStatus::Buffer);
}

/// Once a slot has started it cannot be booked or held, a hold of it cannot be confirmed, and
/// (with no cut-off) its patient can no longer cancel it: the deadline is its start.
pub async fn a_started_slot_cannot_be_booked_held_confirmed_or_cancelled_by_its_patient<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Started", "Cardiology").await;
    let slots = f.slots(&doctor, 2, Duration::zero()).await;
    let starts_at = f
        .engine
        .slot(slots[0])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    let patient = PatientId::new();
    let booked = f.engine.book(slots[1], patient, None).await.unwrap();
    // A hold made a minute before the first slot starts is still live a minute after.
    f.clock.set(starts_at - Duration::minutes(1));
    let hold = f.engine.hold(slots[0], patient).await.unwrap();
    f.clock.set(starts_at + Duration::minutes(1));
    let r = f.engine.confirm(hold.id, patient).await;
    assert!(
        matches!(r, Err(Error::SlotInPast(id)) if id == slots[0]),
        "{r:?}"
    );
    // Letting go of the hold is still allowed; then nobody can book or hold the slot.
    f.engine
        .cancel_as_patient(hold.id, patient, None)
        .await
        .unwrap();
    let r = f.engine.book(slots[0], PatientId::new(), None).await;
    assert!(matches!(r, Err(Error::SlotInPast(_))), "{r:?}");
    let r = f.engine.hold(slots[0], PatientId::new()).await;
    assert!(matches!(r, Err(Error::SlotInPast(_))), "{r:?}");
    assert_eq!(f.status(slots[0]).await, SlotStatus::Started);
    // The booked slot starts; its patient's cancel is refused from that instant.
    let second_start = f
        .engine
        .slot(slots[1])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    f.clock.set(second_start);
    let r = f.engine.cancel_as_patient(booked.id, patient, None).await;
    assert!(
        matches!(r, Err(Error::TooLateToChange { allowed_until, .. }) if allowed_until == second_start),
        "{r:?}"
    );
}
