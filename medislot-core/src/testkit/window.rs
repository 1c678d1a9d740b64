//! Checks on the booking window: how soon ([`Policy::min_notice`]) and how far ahead
//! ([`Policy::horizon`]) a patient may book, hold or move a booking. Time is moved with the
//! fixture's clock, never waited for.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{Error, IdempotencyKey, PatientId, Policy, SlotId, SlotStatus, SlotStore};

/// Two hours' notice, at most three days ahead.
fn narrow_window() -> Policy {
    Policy {
        min_notice: Duration::hours(2),
        horizon: Duration::days(3),
        ..Policy::default()
    }
}

async fn starts_at(f: &Fixture, slot: SlotId) -> chrono::DateTime<chrono::Utc> {
    f.engine.slot(slot).await.unwrap().slot.range.starts_at()
}

/// A patient may book or hold a slot that starts from `min_notice` to `horizon` from now, both
/// ends included; sooner is refused naming the earliest allowed start, later naming the latest,
/// and a refusal writes nothing.
pub async fn booking_outside_the_window_is_refused_naming_its_bounds<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, narrow_window());
    let doctor = f.doctor("Dr Window", "Cardiology").await;
    // Tomorrow, and four days ahead (past the three-day horizon).
    let near = f.slots(&doctor, 3, Duration::zero()).await;
    let far = f.slots(&doctor, 1, Duration::days(3)).await[0];
    let far_start = starts_at(&f, far).await;

    let r = f.engine.book(far, PatientId::new(), None).await;
    let latest = f.now() + Duration::days(3);
    assert!(
        matches!(r, Err(Error::TooFarAhead { slot, latest: l }) if slot == far && l == latest),
        "{r:?}"
    );
    let r = f.engine.hold(far, PatientId::new()).await;
    assert!(matches!(r, Err(Error::TooFarAhead { .. })), "{r:?}");
    assert_eq!(f.status(far).await, SlotStatus::Available);
    assert!(
        f.bookings_of(far).await.is_empty(),
        "a refusal writes nothing"
    );
    // Exactly at the horizon: allowed.
    f.clock.set(far_start - Duration::days(3));
    f.engine.hold(far, PatientId::new()).await.unwrap();

    // One microsecond inside the notice: refused, naming the earliest start allowed now.
    let first = starts_at(&f, near[0]).await;
    f.clock
        .set(first - Duration::hours(2) + Duration::microseconds(1));
    let earliest = f.now() + Duration::hours(2);
    let r = f.engine.book(near[0], PatientId::new(), None).await;
    assert!(
        matches!(r, Err(Error::TooSoon { slot, earliest: e }) if slot == near[0] && e == earliest),
        "{r:?}"
    );
    let r = f.engine.hold(near[0], PatientId::new()).await;
    assert!(matches!(r, Err(Error::TooSoon { .. })), "{r:?}");
    assert!(
        f.bookings_of(near[0]).await.is_empty(),
        "a refusal writes nothing"
    );
    // Exactly the notice ahead of the next slot: allowed.
    let second = starts_at(&f, near[1]).await;
    f.clock.set(second - Duration::hours(2));
    f.engine
        .book(near[1], PatientId::new(), None)
        .await
        .unwrap();
    // A slot that has started is still refused as started, not as too soon.
    f.clock.set(second + Duration::minutes(1));
    let r = f.engine.book(near[0], PatientId::new(), None).await;
    assert!(matches!(r, Err(Error::SlotInPast(_))), "{r:?}");
}

/// A retry with the idempotency key of a booking made inside the window answers with that
/// booking even after the slot has come within the notice; a new booking there is refused.
pub async fn a_retried_booking_replays_after_its_slot_left_the_window<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, narrow_window());
    let doctor = f.doctor("Dr Replay", "Cardiology").await;
    let slot = f.slots(&doctor, 1, Duration::zero()).await[0];
    let patient = PatientId::new();
    let key = IdempotencyKey::new("window-retry").unwrap();
    let first = f
        .engine
        .book(slot, patient, Some(key.clone()))
        .await
        .unwrap();
    f.clock.set(starts_at(&f, slot).await - Duration::hours(1));
    let again = f
        .engine
        .book_or_replay(slot, patient, Some(key), None)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.booking, first);
}

/// A patient's reschedule must land inside the window (the refusal changes nothing); an admin
/// may move a booking to any free slot, however soon or far ahead.
pub async fn a_patients_reschedule_stays_inside_the_window_an_admins_need_not<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, narrow_window());
    let doctor = f.doctor("Dr Move", "Cardiology").await;
    let near = f.slots(&doctor, 2, Duration::zero()).await;
    let far = f.slots(&doctor, 1, Duration::days(3)).await[0];
    let patient = PatientId::new();
    let booking = f.engine.book(near[0], patient, None).await.unwrap();

    let r = f
        .engine
        .reschedule_as_patient(booking.id, patient, far, None)
        .await;
    assert!(
        matches!(r, Err(Error::TooFarAhead { slot, .. }) if slot == far),
        "{r:?}"
    );
    assert_eq!(f.engine.booking(booking.id).await.unwrap().booking, booking);
    assert_eq!(f.status(far).await, SlotStatus::Available);

    let moved = f
        .engine
        .reschedule_as_admin(booking.id, far, None)
        .await
        .unwrap();
    f.assert_moved(&booking, &moved, far).await;

    // Back to a slot one hour away (inside the two-hour notice): refused for the patient,
    // allowed for an admin.
    f.clock
        .set(starts_at(&f, near[1]).await - Duration::hours(1));
    let r = f
        .engine
        .reschedule_as_patient(moved.id, patient, near[1], None)
        .await;
    assert!(matches!(r, Err(Error::TooSoon { .. })), "{r:?}");
    let back = f
        .engine
        .reschedule_as_admin(moved.id, near[1], None)
        .await
        .unwrap();
    f.assert_moved(&moved, &back, near[1]).await;
}
