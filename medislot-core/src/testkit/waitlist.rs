//! The waitlist: who is offered a freed slot, when, and that an offer is as exclusive as any
//! hold, whether or not a sweeper runs.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::support::{race, Fixture};
use crate::{
    Booking, BookingState, BookingStatus, Doctor, EntryKind, EntryState, EntryStatus, Error,
    JournalQuery, NewEntry, PatientId, SlotId, SlotStore, TimeOfDay, TimeRange, WaitlistEntry,
    WaitlistTarget,
};

/// A window from now to `days` days ahead.
fn days(f: &Fixture, days: i64) -> TimeRange {
    TimeRange::new(f.now(), f.now() + Duration::days(days)).expect("valid window")
}

async fn join(f: &Fixture, patient: PatientId, target: WaitlistTarget) -> WaitlistEntry {
    let request = NewEntry::new(target, days(f, 7), None).expect("valid entry");
    f.engine
        .join_waitlist(patient, request)
        .await
        .expect("join the waitlist")
}

async fn entry(f: &Fixture, e: &WaitlistEntry) -> WaitlistEntry {
    f.engine
        .waitlist_entry(e.id, e.patient_id)
        .await
        .expect("read entry")
}

/// The booking an entry's live offer is, read back.
async fn offer_of(f: &Fixture, e: &WaitlistEntry) -> Booking {
    let state = entry(f, e).await.state;
    let EntryState::Offered { booking, until } = state else {
        panic!("entry {} holds no offer: {state:?}", e.id);
    };
    let booking = f.engine.booking(booking).await.expect("offer").booking;
    assert_eq!(booking.state, BookingState::Pending { hold_until: until });
    assert_eq!(
        booking.patient_id, e.patient_id,
        "an offer is the patient's hold"
    );
    booking
}

/// A doctor with one booked slot: (doctor, slot, the booking).
async fn booked(f: &Fixture) -> (Doctor, SlotId, Booking) {
    let doctor = f.doctor("Dr Wait", "Neurology").await;
    let slot = f.slots(&doctor, 1, Duration::zero()).await[0];
    let booking = f
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    (doctor, slot, booking)
}

fn kinds_of(entries: &[crate::JournalEntry]) -> Vec<EntryKind> {
    entries.iter().map(|e| e.kind).collect()
}

async fn journal_of(f: &Fixture, booking: &Booking) -> Vec<EntryKind> {
    let page = f
        .engine
        .journal(&JournalQuery {
            booking_id: Some(booking.id),
            limit: 100,
            ..JournalQuery::default()
        })
        .await
        .expect("journal");
    kinds_of(&page.items)
}

/// A patient's cancel hands the slot to the first waiting patient, in join order, as a hold in
/// their name for the offer window; nobody else can book it meanwhile; their confirm books it.
pub async fn a_freed_slot_is_offered_to_the_first_waiting_patient<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let first = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    let second = join(
        &f,
        PatientId::new(),
        WaitlistTarget::Specialization("NEUROLOGY".into()),
    )
    .await;
    f.engine
        .cancel_as_patient(booking.id, booking.patient_id, None)
        .await
        .expect("cancel");
    let offer = offer_of(&f, &first).await;
    assert_eq!(offer.slot_id, slot);
    assert_eq!(
        offer.state,
        BookingState::Pending {
            hold_until: f.now() + f.engine.policy().offer_window
        }
    );
    assert_eq!(entry(&f, &second).await.state, EntryState::Waiting);
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    assert_eq!(
        journal_of(&f, &offer).await,
        [EntryKind::WaitlistOfferMade],
        "the offer is told once, as the waitlist's"
    );
    let confirmed = f
        .engine
        .confirm(offer.id, first.patient_id)
        .await
        .expect("confirm the offer");
    assert_eq!(confirmed.state, BookingState::Confirmed);
    assert_eq!(
        entry(&f, &first).await.state,
        EntryState::Booked { booking: offer.id }
    );
    assert_eq!(
        f.engine.patient_waitlist(first.patient_id).await.unwrap(),
        []
    );
    assert_eq!(entry(&f, &second).await.state, EntryState::Waiting);
    assert_eq!(
        f.assert_at_most_one_occupant(slot).await.map(|b| b.id),
        Some(offer.id)
    );
}

/// A declined offer passes to the next waiting patient; a lapsed one too, and a confirm after
/// the lapse is refused; when nobody else waits the slot is public again.
pub async fn a_declined_or_lapsed_offer_passes_to_the_next_then_to_the_public<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let first = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    let second = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    f.engine
        .cancel_as_patient(booking.id, booking.patient_id, None)
        .await
        .expect("cancel");
    let declined = offer_of(&f, &first).await;
    f.engine
        .cancel_as_patient(declined.id, first.patient_id, None)
        .await
        .expect("decline");
    assert_eq!(
        entry(&f, &first).await.state,
        EntryState::Declined {
            booking: declined.id
        }
    );
    let lapsing = offer_of(&f, &second).await;
    f.clock.advance(f.engine.policy().offer_window);
    assert!(matches!(
        f.engine.confirm(lapsing.id, second.patient_id).await,
        Err(Error::HoldExpired(_))
    ));
    assert_eq!(
        entry(&f, &second).await.state.status_at(f.now()),
        EntryStatus::Lapsed,
        "a lapsed offer reads as lapsed before anything writes it"
    );
    // Nobody else waits: a public booker gets the slot, and the lapse is recorded.
    let public = f
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("the slot is public again");
    assert_eq!(
        entry(&f, &second).await.state,
        EntryState::Lapsed {
            booking: lapsing.id
        }
    );
    assert_eq!(
        journal_of(&f, &lapsing).await,
        [EntryKind::WaitlistOfferMade, EntryKind::WaitlistOfferLapsed]
    );
    assert_eq!(
        f.assert_at_most_one_occupant(slot).await.map(|b| b.id),
        Some(public.id)
    );
}

/// With no sweeper running, a lapsed offer is not lost: the next mutation that touches the
/// slot (here a public booker's attempt, which is refused) makes the next offer first; the
/// sweeper (`release_expired`) does the same when it runs.
pub async fn with_the_sweeper_stopped_a_lapsed_offer_passes_on_at_the_next_touch<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let entries = [
        join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await,
        join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await,
        join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await,
    ];
    f.engine
        .cancel_as_patient(booking.id, booking.patient_id, None)
        .await
        .expect("cancel");
    let first = offer_of(&f, &entries[0]).await;
    f.clock.advance(f.engine.policy().offer_window);
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    assert_eq!(
        entry(&f, &entries[0]).await.state,
        EntryState::Lapsed { booking: first.id }
    );
    let second = offer_of(&f, &entries[1]).await;
    f.clock.advance(f.engine.policy().offer_window);
    assert_eq!(f.engine.release_expired().await.expect("sweep"), 1);
    let third = offer_of(&f, &entries[2]).await;
    assert_eq!(
        entry(&f, &entries[1]).await.state,
        EntryState::Lapsed { booking: second.id }
    );
    assert_eq!(
        f.assert_at_most_one_occupant(slot).await.map(|b| b.id),
        Some(third.id)
    );
}

/// An admin's cancel: when someone waits, the buffer is theirs (the booking is cancelled at
/// once and the slot offered); when nobody does, the slot stays in `BUFFER`, and whoever joins
/// meanwhile is offered it when the buffer ends, before the public.
pub async fn an_admins_cancel_offers_the_slot_to_the_waitlist_first<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let waiting = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    let cancelled = f
        .engine
        .cancel_as_admin(booking.id, Some("clinic closed".into()))
        .await
        .expect("admin cancel");
    let stored = f.engine.booking(booking.id).await.unwrap().booking;
    assert_eq!(
        stored.state,
        BookingState::Cancelled {
            by: crate::CancelledBy::Admin,
            reason: Some("clinic closed".into()),
            buffer_until: Some(f.now()),
        }
    );
    assert_eq!(
        cancelled.state, stored.state,
        "the answer is what was written"
    );
    let offer = offer_of(&f, &waiting).await;
    assert_eq!(offer.slot_id, slot);

    // Nobody waits: the buffer as before; a patient joining during it is offered the slot
    // when it ends, even by a public booker's touch.
    let slot2 = f.slots(&doctor, 1, Duration::hours(2)).await[0];
    let booking2 = f.engine.book(slot2, PatientId::new(), None).await.unwrap();
    let buffered = f.engine.cancel_as_admin(booking2.id, None).await.unwrap();
    assert_eq!(
        f.engine.booking(booking2.id).await.unwrap().booking.state,
        buffered.state
    );
    let late = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    assert_eq!(entry(&f, &late).await.state, EntryState::Waiting);
    f.clock.advance(f.engine.policy().buffer);
    assert!(matches!(
        f.engine.book(slot2, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    assert_eq!(offer_of(&f, &late).await.slot_id, slot2);
}

/// A reschedule away from a slot and a newly published slot are offered too; an entry only
/// gets slots it wants (doctor or specialization, window, time of day).
pub async fn reschedules_and_new_slots_are_offered_to_matching_entries_only<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let target = f.slots(&doctor, 1, Duration::hours(3)).await[0];
    let start = f.engine.slot(slot).await.unwrap().slot.range.starts_at();
    let minute = crate::waitlist::minute_of_day(start);
    // Wrong time of day, wrong window, wrong doctor, wrong specialization: never offered.
    let other_minute = (minute + 180) % 1440;
    let wrong_time = f
        .engine
        .join_waitlist(
            PatientId::new(),
            NewEntry::new(
                WaitlistTarget::Doctor(doctor.id),
                days(&f, 7),
                Some(TimeOfDay::new(other_minute, other_minute + 1).unwrap()),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let wrong_window = f
        .engine
        .join_waitlist(
            PatientId::new(),
            NewEntry::new(
                WaitlistTarget::Doctor(doctor.id),
                TimeRange::new(start + Duration::minutes(1), start + Duration::days(1)).unwrap(),
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let other = f.doctor("Dr Other", "Dermatology").await;
    let wrong_doctor = join(&f, PatientId::new(), WaitlistTarget::Doctor(other.id)).await;
    let wrong_specialty = join(
        &f,
        PatientId::new(),
        WaitlistTarget::Specialization("Dermatology".into()),
    )
    .await;
    let right = f
        .engine
        .join_waitlist(
            PatientId::new(),
            NewEntry::new(
                WaitlistTarget::Specialization("neurology".into()),
                days(&f, 7),
                Some(TimeOfDay::new(minute, minute + 1).unwrap()),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    f.engine
        .reschedule_as_patient(booking.id, booking.patient_id, target, None)
        .await
        .expect("reschedule away");
    assert_eq!(offer_of(&f, &right).await.slot_id, slot);
    for e in [&wrong_time, &wrong_window, &wrong_doctor, &wrong_specialty] {
        assert_eq!(entry(&f, e).await.state, EntryState::Waiting, "{e:?}");
    }
    // A new slot of the other doctor goes to the first entry that wants it.
    let published = f.slots(&other, 1, Duration::hours(5)).await[0];
    assert_eq!(offer_of(&f, &wrong_doctor).await.slot_id, published);
    assert_eq!(entry(&f, &wrong_specialty).await.state, EntryState::Waiting);
    let listed = f.engine.doctor_waitlist(other.id, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id).collect::<Vec<_>>(),
        [wrong_doctor.id, wrong_specialty.id],
        "the doctor's waitlist, in join order, with its specialization's"
    );
}

/// A patient has at most the policy's limit of active entries; leaving frees a place; only
/// the patient's own waiting entry can be left.
pub async fn joining_is_limited_per_patient_and_only_a_waiting_entry_can_be_left<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let (doctor, _slot, booking) = booked(&f).await;
    let patient = PatientId::new();
    let limit = f.engine.policy().waitlist_limit;
    let mut mine = Vec::new();
    for _ in 0..limit {
        mine.push(join(&f, patient, WaitlistTarget::Doctor(doctor.id)).await);
    }
    let request = NewEntry::new(WaitlistTarget::Doctor(doctor.id), days(&f, 7), None).unwrap();
    assert!(matches!(
        f.engine.join_waitlist(patient, request.clone()).await,
        Err(Error::WaitlistFull { .. })
    ));
    assert!(matches!(
        f.engine.leave_waitlist(mine[1].id, PatientId::new()).await,
        Err(Error::WaitlistEntryNotFound(_))
    ));
    f.engine
        .leave_waitlist(mine[1].id, patient)
        .await
        .expect("leave");
    assert_eq!(entry(&f, &mine[1]).await.state, EntryState::Left);
    assert!(matches!(
        f.engine.leave_waitlist(mine[1].id, patient).await,
        Err(Error::WaitlistEntryNotWaiting { .. })
    ));
    f.engine
        .join_waitlist(patient, request)
        .await
        .expect("a place was freed");
    f.engine
        .cancel_as_patient(booking.id, booking.patient_id, None)
        .await
        .unwrap();
    offer_of(&f, &mine[0]).await;
    assert!(matches!(
        f.engine.leave_waitlist(mine[0].id, patient).await,
        Err(Error::WaitlistEntryNotWaiting {
            status: EntryStatus::Offered,
            ..
        })
    ));
    assert!(matches!(
        f.engine
            .join_waitlist(
                patient,
                NewEntry::new(
                    WaitlistTarget::Doctor(crate::DoctorId::new()),
                    days(&f, 1),
                    None
                )
                .unwrap()
            )
            .await,
        Err(Error::DoctorNotFound(_))
    ));
}

/// While an offer is live, 30 patients try the slot at once (book or hold): none succeeds, and
/// the offer is still the slot's only occupant.
pub async fn thirty_patients_racing_a_live_offer_all_fail<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let (doctor, slot, booking) = booked(&f).await;
    let waiting = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    f.engine
        .cancel_as_patient(booking.id, booking.patient_id, None)
        .await
        .unwrap();
    let offer = offer_of(&f, &waiting).await;
    let results = race(30, |i| {
        let engine = f.engine.clone();
        async move {
            if i % 2 == 0 {
                engine.book(slot, PatientId::new(), None).await
            } else {
                engine.hold(slot, PatientId::new()).await
            }
        }
    })
    .await;
    for r in &results {
        assert!(matches!(r, Err(Error::SlotUnavailable(_))), "got {r:?}");
    }
    assert_eq!(
        f.assert_at_most_one_occupant(slot).await.map(|b| b.id),
        Some(offer.id)
    );
}

/// The offered patient confirms at the instant the offer lapses, racing the sweeper and a
/// public booker: the confirm is refused, the offer passes to the next patient, and the slot
/// is held by one booking only. A microsecond earlier the confirm wins and nobody else gets it.
pub async fn confirming_as_the_offer_lapses_is_refused_and_never_double_holds<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    for early in [false, true] {
        let f = Fixture::new(Arc::clone(&store) as Arc<dyn SlotStore>);
        let (doctor, slot, booking) = booked(&f).await;
        let first = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
        let next = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
        f.engine
            .cancel_as_patient(booking.id, booking.patient_id, None)
            .await
            .unwrap();
        let offer = offer_of(&f, &first).await;
        let until: DateTime<Utc> = match offer.state {
            BookingState::Pending { hold_until } => hold_until,
            _ => unreachable!("an offer is a hold"),
        };
        f.clock.set(if early {
            until - Duration::microseconds(1)
        } else {
            until
        });
        let results = race(3, |i| {
            let engine = f.engine.clone();
            let patient = first.patient_id;
            async move {
                match i {
                    0 => engine.confirm(offer.id, patient).await.map(|_| 1),
                    1 => engine.release_expired().await,
                    _ => engine.book(slot, PatientId::new(), None).await.map(|_| 2),
                }
            }
        })
        .await;
        let occupant = f.assert_at_most_one_occupant(slot).await;
        if early {
            assert!(results[0].is_ok(), "before the lapse the confirm wins");
            assert!(matches!(results[2], Err(Error::SlotUnavailable(_))));
            assert_eq!(occupant.map(|b| b.id), Some(offer.id));
            assert_eq!(entry(&f, &next).await.state, EntryState::Waiting);
        } else {
            // Refused as lapsed, or as expired when the sweeper wrote the lapse first.
            assert!(
                matches!(
                    results[0],
                    Err(Error::HoldExpired(_)
                        | Error::InvalidTransition {
                            from: BookingStatus::Expired,
                            ..
                        })
                ),
                "{:?}",
                results[0]
            );
            assert!(matches!(results[2], Err(Error::SlotUnavailable(_))));
            let second = offer_of(&f, &next).await;
            assert_eq!(occupant.map(|b| b.id), Some(second.id));
            assert_eq!(
                entry(&f, &first).await.state,
                EntryState::Lapsed { booking: offer.id }
            );
        }
    }
}

/// Two slots freed at once (two cancels racing) for one waiting patient: the entry gets one
/// offer, never two; the other slot goes to the next waiting patient.
pub async fn two_slots_freed_at_once_make_one_offer_per_entry<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Twice", "Neurology").await;
    let slots = f.slots(&doctor, 2, Duration::zero()).await;
    let mut bookings = Vec::new();
    for slot in &slots {
        bookings.push(f.engine.book(*slot, PatientId::new(), None).await.unwrap());
    }
    let only = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    let next = join(&f, PatientId::new(), WaitlistTarget::Doctor(doctor.id)).await;
    let bookings = Arc::new(bookings);
    let results = race(2, |i| {
        let engine = f.engine.clone();
        let bookings = Arc::clone(&bookings);
        async move {
            let b = &bookings[i];
            engine.cancel_as_patient(b.id, b.patient_id, None).await
        }
    })
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let offer = offer_of(&f, &only).await;
    let mut offers_to_only = 0;
    for slot in &slots {
        let occupant = f.assert_at_most_one_occupant(*slot).await;
        if occupant.as_ref().map(|b| b.patient_id) == Some(only.patient_id) {
            offers_to_only += 1;
        }
    }
    assert_eq!(offers_to_only, 1, "one offer at a time per entry");
    // The other slot: offered to the next patient, or (when the store skipped a locked entry)
    // public; never lost to an entry that already holds an offer.
    let other = slots
        .iter()
        .find(|s| **s != offer.slot_id)
        .copied()
        .unwrap();
    match entry(&f, &next).await.state {
        EntryState::Offered { .. } => assert_eq!(offer_of(&f, &next).await.slot_id, other),
        EntryState::Waiting => assert_eq!(f.assert_at_most_one_occupant(other).await, None),
        state => panic!("unexpected {state:?}"),
    }
}
