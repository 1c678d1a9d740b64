//! Checks on the booking life cycle: book, hold, confirm, both cancels, expiry, idempotency and
//! listings.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{
    BookingId, BookingOrder, BookingQuery, BookingState, BookingStatus, CancelledBy, Error,
    EventKind, IdempotencyKey, PatientId, SlotId, SlotStatus, SlotStore,
};

/// Booking a free slot gives a confirmed booking that reads back whole, and the slot reads as
/// booked.
pub async fn booking_a_free_slot_confirms_it<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.unwrap();
    assert_eq!(booking.state, BookingState::Confirmed);
    assert_eq!((booking.slot_id, booking.patient_id), (slot, patient));
    assert_eq!(booking.created_at, f.now());

    let view = f.engine.booking(booking.id).await.unwrap();
    assert_eq!(view.booking, booking);
    assert_eq!(view.slot.id, slot);
    assert_eq!(view.doctor.id, view.slot.doctor_id);
    assert_eq!(f.status(slot).await, SlotStatus::Booked);
    let unknown = BookingId::new();
    assert!(matches!(
        f.engine.booking(unknown).await,
        Err(Error::BookingNotFound(id)) if id == unknown
    ));
}

/// A second patient cannot book a booked slot.
pub async fn booking_a_taken_slot_is_refused_as_unavailable<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    f.engine.book(slot, PatientId::new(), None).await.unwrap();
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(id)) if id == slot
    ));
    assert!(matches!(
        f.engine.hold(slot, PatientId::new()).await,
        Err(Error::SlotUnavailable(_))
    ));
    assert_eq!(f.bookings_of(slot).await.len(), 1);
}

/// Unknown slots are not found and started slots are in the past.
pub async fn booking_a_started_or_unknown_slot_is_refused<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let unknown = SlotId::new();
    assert!(matches!(
        f.engine.book(unknown, PatientId::new(), None).await,
        Err(Error::SlotNotFound(id)) if id == unknown
    ));
    let slot = f.slot().await;
    f.clock.advance(Duration::days(1));
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotInPast(id)) if id == slot
    ));
    assert_eq!(f.status(slot).await, SlotStatus::Started);
    assert!(f.bookings_of(slot).await.is_empty());
}

/// The patient's cancel is final and frees the slot for the next patient at once.
pub async fn patient_cancel_frees_the_slot_at_once<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.unwrap();
    f.clock.advance(Duration::seconds(1));
    let cancelled = f
        .engine
        .cancel_as_patient(booking.id, patient, Some("feeling better".into()))
        .await
        .unwrap();
    assert_eq!(
        cancelled.state,
        BookingState::Cancelled {
            by: CancelledBy::Patient,
            reason: Some("feeling better".into()),
            buffer_until: None,
        }
    );
    assert_eq!(cancelled.updated_at, f.now());
    assert_eq!(f.status(slot).await, SlotStatus::Available);
    f.engine.book(slot, PatientId::new(), None).await.unwrap();
    f.assert_at_most_one_occupant(slot).await;
}

/// A second cancel is refused and leaves the booking exactly as it was.
pub async fn cancelling_twice_is_refused_and_changes_nothing<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.unwrap();
    f.engine
        .cancel_as_patient(booking.id, patient, None)
        .await
        .unwrap();
    let before = f.engine.booking(booking.id).await.unwrap();
    f.clock.advance(Duration::seconds(5));
    let err = f
        .engine
        .cancel_as_patient(booking.id, patient, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: BookingStatus::Cancelled,
                event: EventKind::CancelByPatient
            }
        ),
        "got {err:?}"
    );
    assert!(matches!(
        f.engine.cancel_as_admin(booking.id, None).await,
        Err(Error::InvalidTransition { .. })
    ));
    assert_eq!(f.engine.booking(booking.id).await.unwrap(), before);
    let unknown = BookingId::new();
    assert!(matches!(
        f.engine.cancel_as_admin(unknown, None).await,
        Err(Error::BookingNotFound(id)) if id == unknown
    ));
}

/// Cancelling an old booking after its slot was booked again never touches the new booking.
pub async fn stale_cancel_after_rebooking_never_frees_the_new_booking<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let (alice, bob) = (PatientId::new(), PatientId::new());
    let old = f.engine.book(slot, alice, None).await.unwrap();
    f.engine
        .cancel_as_patient(old.id, alice, None)
        .await
        .unwrap();
    let new = f.engine.book(slot, bob, None).await.unwrap();

    assert!(f
        .engine
        .cancel_as_patient(old.id, alice, None)
        .await
        .is_err());
    assert!(f.engine.cancel_as_admin(old.id, None).await.is_err());
    assert_eq!(f.status(slot).await, SlotStatus::Booked);
    assert_eq!(f.engine.booking(new.id).await.unwrap().booking, new);
    let occupant = f.assert_at_most_one_occupant(slot).await;
    assert_eq!(occupant.map(|b| b.id), Some(new.id));
}

/// Only the owner may confirm or cancel; a stranger's attempt changes nothing.
pub async fn another_patient_cannot_confirm_or_cancel<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let (owner, stranger) = (PatientId::new(), PatientId::new());
    let hold = f.engine.hold(slot, owner).await.unwrap();
    assert!(matches!(
        f.engine.confirm(hold.id, stranger).await,
        Err(Error::NotOwner(id)) if id == hold.id
    ));
    assert!(matches!(
        f.engine.cancel_as_patient(hold.id, stranger, None).await,
        Err(Error::NotOwner(_))
    ));
    assert_eq!(f.engine.booking(hold.id).await.unwrap().booking, hold);
}

/// An admin's cancel keeps the slot out of the pool for the buffer window, then frees it with
/// no sweeper run; the next booking tidies the old one to `CANCELLED` by admin.
pub async fn admin_cancel_holds_slot_until_buffer_ends<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let booking = f.engine.book(slot, PatientId::new(), None).await.unwrap();
    let buffered = f
        .engine
        .cancel_as_admin(booking.id, Some("doctor ill".into()))
        .await
        .unwrap();
    let until = f.now() + f.engine.policy().buffer;
    assert_eq!(
        buffered.state,
        BookingState::Buffer {
            buffer_until: until,
            reason: Some("doctor ill".into())
        }
    );
    assert_eq!(f.status(slot).await, SlotStatus::Buffer { until });
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));

    f.clock.set(until - Duration::seconds(1));
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    f.clock.set(until);
    assert_eq!(f.status(slot).await, SlotStatus::Available);
    let next = f.engine.book(slot, PatientId::new(), None).await.unwrap();
    let old = f.engine.booking(booking.id).await.unwrap().booking;
    assert_eq!(old.status(), BookingStatus::Cancelled);
    assert!(matches!(
        old.state,
        BookingState::Cancelled {
            by: CancelledBy::Admin,
            ..
        }
    ));
    let occupant = f.assert_at_most_one_occupant(slot).await;
    assert_eq!(occupant.map(|b| b.id), Some(next.id));
}

/// A patient cannot undo or shorten an admin's buffer.
pub async fn patient_cannot_cancel_an_admins_buffer<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.unwrap();
    let buffered = f.engine.cancel_as_admin(booking.id, None).await.unwrap();
    assert!(matches!(
        f.engine.cancel_as_patient(booking.id, patient, None).await,
        Err(Error::InvalidTransition {
            from: BookingStatus::Buffer,
            event: EventKind::CancelByPatient
        })
    ));
    assert_eq!(
        f.engine.booking(booking.id).await.unwrap().booking,
        buffered
    );
    assert!(matches!(f.status(slot).await, SlotStatus::Buffer { .. }));
}

/// A hold keeps the slot for its owner; confirming it makes it a booking.
pub async fn hold_then_confirm_keeps_the_slot<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let hold = f.engine.hold(slot, patient).await.unwrap();
    let until = f.now() + f.engine.policy().hold;
    assert_eq!(hold.state, BookingState::Pending { hold_until: until });
    assert_eq!(f.status(slot).await, SlotStatus::Held { until });
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    f.clock.advance(Duration::minutes(4));
    let confirmed = f.engine.confirm(hold.id, patient).await.unwrap();
    assert_eq!(confirmed.state, BookingState::Confirmed);
    assert_eq!(f.status(slot).await, SlotStatus::Booked);
    assert!(matches!(
        f.engine.confirm(hold.id, patient).await,
        Err(Error::InvalidTransition {
            from: BookingStatus::Confirmed,
            ..
        })
    ));
}

/// A hold that lapses frees the slot by time alone and can no longer be confirmed.
pub async fn lapsed_hold_frees_the_slot_and_cannot_be_confirmed<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let hold = f.engine.hold(slot, patient).await.unwrap();
    f.clock.advance(f.engine.policy().hold);
    assert_eq!(f.status(slot).await, SlotStatus::Available);
    assert!(matches!(
        f.engine.confirm(hold.id, patient).await,
        Err(Error::HoldExpired(id)) if id == hold.id
    ));
    let other = f.engine.book(slot, PatientId::new(), None).await.unwrap();
    let old = f.engine.booking(hold.id).await.unwrap().booking;
    assert_eq!(old.status(), BookingStatus::Expired);
    assert!(f.engine.confirm(hold.id, patient).await.is_err());
    let occupant = f.assert_at_most_one_occupant(slot).await;
    assert_eq!(occupant.map(|b| b.id), Some(other.id));
}

/// The sweeper only rewrites statuses that time has already decided.
pub async fn release_expired_tidies_statuses_without_changing_availability<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Sweep", "Cardiology").await;
    let slots = f.slots(&doc, 3, Duration::zero()).await;
    let hold = f.engine.hold(slots[0], PatientId::new()).await.unwrap();
    let buffered = f
        .engine
        .book(slots[1], PatientId::new(), None)
        .await
        .unwrap();
    f.engine.cancel_as_admin(buffered.id, None).await.unwrap();
    let kept = f
        .engine
        .book(slots[2], PatientId::new(), None)
        .await
        .unwrap();
    assert_eq!(
        f.engine.release_expired().await.unwrap(),
        0,
        "nothing lapsed yet"
    );

    f.clock
        .advance(f.engine.policy().buffer + Duration::minutes(1));
    assert_eq!(f.status(slots[0]).await, SlotStatus::Available);
    assert_eq!(f.status(slots[1]).await, SlotStatus::Available);
    assert_eq!(f.engine.release_expired().await.unwrap(), 2);
    assert_eq!(
        f.engine.booking(hold.id).await.unwrap().booking.status(),
        BookingStatus::Expired
    );
    assert_eq!(
        f.engine
            .booking(buffered.id)
            .await
            .unwrap()
            .booking
            .status(),
        BookingStatus::Cancelled
    );
    assert_eq!(f.engine.booking(kept.id).await.unwrap().booking, kept);
    assert_eq!(f.status(slots[0]).await, SlotStatus::Available);
    assert_eq!(f.status(slots[2]).await, SlotStatus::Booked);
    assert_eq!(f.engine.release_expired().await.unwrap(), 0);
}

/// A retried request with the same key returns the first booking; the key is per patient and
/// cannot be reused for another slot.
pub async fn idempotency_key_replays_the_first_booking<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Retry", "Cardiology").await;
    let slots = f.slots(&doc, 2, Duration::zero()).await;
    let patient = PatientId::new();
    let key = IdempotencyKey::new("req-42").unwrap();
    let first = f
        .engine
        .book_or_replay(
            slots[0],
            patient,
            Some(key.clone()),
            Some("Check-up".into()),
        )
        .await
        .unwrap();
    assert!(!first.replayed, "the first request is not a replay");
    f.clock.advance(Duration::seconds(3));
    let again = f
        .engine
        .book_or_replay(slots[0], patient, Some(key.clone()), Some("Other".into()))
        .await
        .unwrap();
    assert!(again.replayed, "the retry says it is a replay");
    assert_eq!(
        again.booking, first.booking,
        "the first request's reason is kept"
    );
    assert!(matches!(
        f.engine
            .book(slots[0], PatientId::new(), Some(key.clone()))
            .await,
        Err(Error::SlotUnavailable(_))
    ));
    assert!(matches!(
        f.engine.book(slots[1], patient, Some(key)).await,
        Err(Error::Validation {
            field: "Idempotency-Key",
            ..
        })
    ));
    assert_eq!(f.bookings_of(slots[0]).await.len(), 1);
    assert!(f.bookings_of(slots[1]).await.is_empty());
}

/// Booking listings are newest first, page by keyset and filter by patient, doctor, status
/// (as read now) and slot time.
pub async fn booking_listings_filter_by_patient_doctor_and_status_and_page<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let heart = f.doctor("Dr Heart", "Cardiology").await;
    let skin = f.doctor("Dr Skin", "Dermatology").await;
    let heart_slots = f.slots(&heart, 4, Duration::zero()).await;
    let skin_slots = f.slots(&skin, 2, Duration::hours(3)).await;
    let (alice, bob) = (PatientId::new(), PatientId::new());

    let mut alice_ids = Vec::new();
    for slot in &heart_slots[..3] {
        alice_ids.push(f.engine.book(*slot, alice, None).await.unwrap().id);
        f.clock.advance(Duration::seconds(1));
    }
    let bob_booking = f.engine.book(skin_slots[0], bob, None).await.unwrap();
    let bob_hold = f.engine.hold(skin_slots[1], bob).await.unwrap();
    f.engine.cancel_as_admin(alice_ids[1], None).await.unwrap();

    // Alice's bookings, newest first, two per page.
    let mut query = BookingQuery {
        limit: 2,
        ..BookingQuery::default()
    };
    let page1 = f.engine.patient_bookings(alice, &query).await.unwrap();
    assert_eq!(page1.items.len(), 2);
    query.after = page1.next;
    assert!(query.after.is_some(), "a second page exists");
    let page2 = f.engine.patient_bookings(alice, &query).await.unwrap();
    assert!(page2.next.is_none());
    let ids: Vec<BookingId> = page1
        .items
        .iter()
        .chain(&page2.items)
        .map(|v| v.booking.id)
        .collect();
    let mut newest_first = alice_ids.clone();
    newest_first.reverse();
    assert_eq!(ids, newest_first);

    let all = |query: BookingQuery| {
        let engine = f.engine.clone();
        async move {
            let query = BookingQuery {
                limit: 100,
                ..query
            };
            let page = engine.bookings(&query).await.unwrap();
            page.items
                .into_iter()
                .map(|v| v.booking.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        all(BookingQuery {
            doctor_id: Some(skin.id),
            ..BookingQuery::default()
        })
        .await,
        vec![bob_hold.id, bob_booking.id]
    );
    assert_eq!(
        all(BookingQuery {
            status: Some(BookingStatus::Buffer),
            ..BookingQuery::default()
        })
        .await,
        vec![alice_ids[1]]
    );
    let skin_start = f
        .engine
        .slot(skin_slots[0])
        .await
        .unwrap()
        .slot
        .range
        .starts_at();
    assert_eq!(
        all(BookingQuery {
            from: Some(skin_start),
            ..BookingQuery::default()
        })
        .await,
        vec![bob_hold.id, bob_booking.id]
    );
    assert_eq!(
        all(BookingQuery {
            to: Some(skin_start),
            patient_id: Some(bob),
            ..BookingQuery::default()
        })
        .await,
        Vec::<BookingId>::new()
    );

    // Status is read at the listing instant: once the hold and buffer lapse, they list as
    // EXPIRED and CANCELLED even though no sweeper ran.
    f.clock.advance(Duration::minutes(30));
    assert_eq!(
        all(BookingQuery {
            status: Some(BookingStatus::Expired),
            ..BookingQuery::default()
        })
        .await,
        vec![bob_hold.id]
    );
    assert_eq!(
        all(BookingQuery {
            status: Some(BookingStatus::Cancelled),
            ..BookingQuery::default()
        })
        .await,
        vec![alice_ids[1]]
    );
    assert!(all(BookingQuery {
        status: Some(BookingStatus::Pending),
        ..BookingQuery::default()
    })
    .await
    .is_empty());
}

/// Listings in an appointment order come sorted by the slot's start (then the booking id, so a
/// cancelled booking and the rebooking of its slot keep one order), both ways, and page through
/// the cursor without a gap or a repeat, with the filters still applied.
pub async fn booking_listings_come_in_appointment_order_and_page<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Order", "Cardiology").await;
    let other = f.doctor("Dr Other", "Dermatology").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let elsewhere = f.slots(&other, 1, Duration::minutes(45)).await;
    let (alice, bob) = (PatientId::new(), PatientId::new());
    // Booked out of order: slot 2, slot 0, slot 3, slot 1; then slot 0 cancelled and rebooked.
    let mut by_slot = vec![Vec::new(); slots.len()];
    for (i, who) in [(2, alice), (0, alice), (3, bob), (1, alice)] {
        by_slot[i].push(f.engine.book(slots[i], who, None).await.unwrap().id);
        f.clock.advance(Duration::seconds(1));
    }
    f.engine
        .cancel_as_patient(by_slot[0][0], alice, None)
        .await
        .unwrap();
    by_slot[0].push(f.engine.book(slots[0], bob, None).await.unwrap().id);
    let between = f.engine.book(elsewhere[0], alice, None).await.unwrap().id;
    let soonest: Vec<BookingId> = by_slot.concat();

    let pages = |query: BookingQuery, patient: Option<PatientId>| {
        let engine = f.engine.clone();
        async move {
            let mut query = BookingQuery { limit: 2, ..query };
            let mut ids = Vec::new();
            for _ in 0..10 {
                let page = match patient {
                    Some(p) => engine.patient_bookings(p, &query).await.unwrap(),
                    None => engine.bookings(&query).await.unwrap(),
                };
                assert!(page.items.len() <= 2);
                ids.extend(page.items.iter().map(|v| v.booking.id));
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => return ids,
                }
            }
            panic!("the listing did not end");
        }
    };
    let doctor_only = BookingQuery {
        doctor_id: Some(doctor.id),
        order: BookingOrder::SoonestAppointment,
        ..BookingQuery::default()
    };
    assert_eq!(pages(doctor_only.clone(), None).await, soonest);
    let mut latest = soonest.clone();
    latest.reverse();
    assert_eq!(
        pages(
            BookingQuery {
                order: BookingOrder::LatestAppointment,
                ..doctor_only.clone()
            },
            None
        )
        .await,
        latest
    );
    // One patient's, soonest first: slot 0 (cancelled), slot 1, the other doctor's (45 minutes
    // in), slot 2.
    let alices = pages(
        BookingQuery {
            order: BookingOrder::SoonestAppointment,
            ..BookingQuery::default()
        },
        Some(alice),
    )
    .await;
    assert_eq!(
        alices,
        vec![by_slot[0][0], by_slot[1][0], between, by_slot[2][0]]
    );
    // The default order is still newest first.
    let newest = pages(
        BookingQuery {
            doctor_id: Some(doctor.id),
            ..BookingQuery::default()
        },
        None,
    )
    .await;
    assert_eq!(
        newest,
        vec![
            by_slot[0][1],
            by_slot[1][0],
            by_slot[3][0],
            by_slot[0][0],
            by_slot[2][0]
        ]
    );
}

/// Deleting a doctor never hides its bookings from their patients or from admins.
pub async fn booking_view_keeps_history_after_doctor_is_deleted<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Retired", "Cardiology").await;
    let slot = f.slots(&doc, 1, Duration::zero()).await[0];
    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.unwrap();
    f.engine
        .cancel_as_patient(booking.id, patient, None)
        .await
        .unwrap();
    f.engine.delete_doctor(doc.id).await.unwrap();

    let view = f.engine.booking(booking.id).await.unwrap();
    assert_eq!(view.doctor.name, "Dr Retired");
    let page = f
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
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].booking.id, booking.id);
    assert_eq!(page.items[0].slot.id, slot);
}

/// The patient's reason for the visit is stored with a booking or a hold, read back by every
/// read (one booking, a patient's list, an admin's list), kept when the booking is rescheduled,
/// and trimmed; an overlong one or one with control characters is refused and writes nothing.
pub async fn the_reason_for_the_visit_is_kept_with_the_booking<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Reason", "Cardiology").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let patient = PatientId::new();
    let reason = "Chest pain when climbing stairs.\nSince March — «urgent»? 🫀";

    let booked = f
        .engine
        .book_or_replay(slots[0], patient, None, Some(format!("  {reason}\n ")))
        .await
        .unwrap()
        .booking;
    assert_eq!(booked.visit_reason.as_deref(), Some(reason), "trimmed");
    let held = f
        .engine
        .hold_with_reason(slots[1], patient, Some("Repeat prescription".into()))
        .await
        .unwrap();
    let blank = f
        .engine
        .book_or_replay(slots[2], PatientId::new(), None, Some(" \n ".into()))
        .await
        .unwrap()
        .booking;
    assert_eq!(blank.visit_reason, None, "a blank reason is none");

    assert_eq!(f.engine.booking(booked.id).await.unwrap().booking, booked);
    assert_eq!(
        f.engine
            .booking(held.id)
            .await
            .unwrap()
            .booking
            .visit_reason
            .as_deref(),
        Some("Repeat prescription")
    );
    let all = BookingQuery {
        limit: 10,
        ..BookingQuery::default()
    };
    let mine = f
        .engine
        .patient_bookings(patient, &all)
        .await
        .unwrap()
        .items;
    let everyone = f.engine.bookings(&all).await.unwrap().items;
    for listing in [&mine, &everyone] {
        let found = listing.iter().find(|v| v.booking.id == booked.id).unwrap();
        assert_eq!(found.booking.visit_reason.as_deref(), Some(reason));
    }

    // A reschedule keeps it on the new booking.
    let moved = f
        .engine
        .reschedule_as_patient(booked.id, patient, slots[3], None)
        .await
        .unwrap();
    assert_eq!(moved.visit_reason.as_deref(), Some(reason));
    assert_eq!(
        f.engine
            .booking(moved.id)
            .await
            .unwrap()
            .booking
            .visit_reason
            .as_deref(),
        Some(reason)
    );

    // Refused before the store: nothing is written.
    let free = f.slots(&doctor, 1, Duration::days(1)).await[0];
    for bad in [
        "x".repeat(crate::MAX_REASON_CHARS + 1),
        "bell \u{7}".to_owned(),
    ] {
        let refused = f
            .engine
            .book_or_replay(free, PatientId::new(), None, Some(bad.clone()))
            .await;
        assert!(
            matches!(
                &refused,
                Err(Error::Validation {
                    field: "visit_reason",
                    ..
                })
            ),
            "{refused:?}"
        );
        let refused = f
            .engine
            .hold_with_reason(free, PatientId::new(), Some(bad))
            .await;
        assert!(
            matches!(
                &refused,
                Err(Error::Validation {
                    field: "visit_reason",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert!(f.bookings_of(free).await.is_empty());
    let longest = "é".repeat(crate::MAX_REASON_CHARS);
    let kept = f
        .engine
        .book_or_replay(free, PatientId::new(), None, Some(longest.clone()))
        .await
        .unwrap()
        .booking;
    assert_eq!(
        f.engine
            .booking(kept.id)
            .await
            .unwrap()
            .booking
            .visit_reason,
        Some(longest),
        "500 characters of two bytes each are kept"
    );
}
