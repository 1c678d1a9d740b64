//! Checks on doctors and slots: publishing, overlap, withdrawal, deletion and listing.

use std::sync::Arc;

use chrono::Duration;

use super::support::Fixture;
use crate::{
    DoctorFilter, DoctorId, Error, PatientId, SlotQuery, SlotStatus, SlotStore, TimeRange,
};

fn range(f: &Fixture, start_min: i64, end_min: i64) -> TimeRange {
    let base = f.now() + Duration::days(2);
    TimeRange::new(
        base + Duration::minutes(start_min),
        base + Duration::minutes(end_min),
    )
    .expect("valid range")
}

/// Doctors are stored, found by id, listed by name and filtered by specialization and name.
pub async fn creates_lists_and_filters_doctors<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let c = f.doctor("Dr Carla Heart", "Cardiology").await;
    let a = f.doctor("Dr Anna Beat", "Cardiology").await;
    let d = f.doctor("Dr Dora Skin", "Dermatology").await;

    assert_eq!(f.engine.doctor(c.id).await.unwrap(), c);
    let all = f.engine.doctors(&DoctorFilter::default()).await.unwrap();
    assert_eq!(
        all,
        vec![a.clone(), c.clone(), d.clone()],
        "ordered by name"
    );

    let cardio = DoctorFilter {
        specialization: Some("cardiology".into()),
        ..DoctorFilter::default()
    };
    assert_eq!(
        f.engine.doctors(&cardio).await.unwrap(),
        vec![a.clone(), c.clone()]
    );
    let by_name = DoctorFilter {
        name_contains: Some("skin".into()),
        ..DoctorFilter::default()
    };
    assert_eq!(f.engine.doctors(&by_name).await.unwrap(), vec![d.clone()]);

    // Paged one by one, the pages follow each other without gap or repeat, filters included.
    let twin = f.doctor("Dr Anna Beat", "Cardiology").await;
    let mut expected = vec![a.clone(), twin.clone()];
    expected.sort_by_key(|doctor| doctor.id);
    expected.extend([c.clone(), d.clone()]);
    let mut seen = Vec::new();
    let mut filter = DoctorFilter::default();
    loop {
        let page = f.engine.doctors_page(&filter, 1).await.unwrap();
        seen.extend(page.items);
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected, "pages of one, by name then id");
    let page = f.engine.doctors_page(&cardio, 2).await.unwrap();
    assert_eq!(page.items, expected[..2].to_vec());
    let rest = DoctorFilter {
        after: page.next,
        ..cardio.clone()
    };
    let last = f.engine.doctors_page(&rest, 2).await.unwrap();
    assert_eq!((last.items, last.next), (vec![c], None));
    assert!(matches!(
        f.engine.doctors_page(&cardio, 0).await,
        Err(Error::Validation { field: "limit", .. })
    ));

    let unknown = DoctorId::new();
    assert!(matches!(
        f.engine.doctor(unknown).await,
        Err(Error::DoctorNotFound(id)) if id == unknown
    ));
}

/// A publish request that overlaps itself or an existing slot stores nothing and names the
/// first offending slot.
pub async fn publishing_is_all_or_nothing_and_refuses_overlap<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Overlap", "Cardiology").await;
    let first = range(&f, 0, 30);
    let clashing = range(&f, 15, 45);

    let err = f
        .engine
        .publish_slots(doc.id, &[first, clashing])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotOverlap { doctor_id, starts_at, .. }
            if doctor_id == doc.id && starts_at == clashing.starts_at()),
        "got {err:?}"
    );
    let query = SlotQuery {
        doctor_id: Some(doc.id),
        ..SlotQuery::default()
    };
    assert!(
        f.all_slots(query.clone(), 10).await.is_empty(),
        "nothing stored"
    );

    f.engine.publish_slots(doc.id, &[first]).await.unwrap();
    let free = range(&f, 60, 90);
    let err = f
        .engine
        .publish_slots(doc.id, &[free, clashing])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SlotOverlap { starts_at, .. } if starts_at == clashing.starts_at()),
        "got {err:?}"
    );
    let stored = f.all_slots(query, 10).await;
    assert_eq!(
        stored.len(),
        1,
        "the free slot of the refused request was not stored"
    );
    assert_eq!(stored[0].slot.range, first);

    // Another doctor may use the same time.
    let other = f.doctor("Dr Elsewhere", "Cardiology").await;
    f.engine.publish_slots(other.id, &[first]).await.unwrap();
}

/// Slots cannot be published for a doctor that does not exist or was deleted.
pub async fn publishing_for_an_unknown_or_deleted_doctor_is_refused<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let unknown = DoctorId::new();
    let r = range(&f, 0, 30);
    assert!(matches!(
        f.engine.publish_slots(unknown, &[r]).await,
        Err(Error::DoctorNotFound(id)) if id == unknown
    ));
    let doc = f.doctor("Dr Gone", "Cardiology").await;
    f.engine.delete_doctor(doc.id).await.unwrap();
    assert!(matches!(
        f.engine.publish_slots(doc.id, &[r]).await,
        Err(Error::DoctorNotFound(_))
    ));
}

/// Back-to-back slots share an instant at the boundary but do not overlap.
pub async fn slots_that_only_touch_do_not_overlap<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Adjacent", "Cardiology").await;
    f.engine
        .publish_slots(doc.id, &[range(&f, 0, 30), range(&f, 30, 60)])
        .await
        .unwrap();
    f.engine
        .publish_slots(doc.id, &[range(&f, -30, 0)])
        .await
        .unwrap();
}

/// A withdrawn slot disappears from reads and listings, cannot be withdrawn again, and its
/// time can be published anew.
pub async fn a_withdrawn_slot_frees_its_time_for_new_slots<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Withdraw", "Cardiology").await;
    let r = range(&f, 0, 30);
    let slot = f.engine.publish_slots(doc.id, &[r]).await.unwrap()[0].id;
    f.engine.withdraw_slot(slot).await.unwrap();

    assert!(matches!(
        f.engine.slot(slot).await,
        Err(Error::SlotNotFound(_))
    ));
    assert!(matches!(
        f.engine.withdraw_slot(slot).await,
        Err(Error::SlotNotFound(_))
    ));
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotNotFound(_))
    ));
    let query = SlotQuery {
        doctor_id: Some(doc.id),
        ..SlotQuery::default()
    };
    assert!(f.all_slots(query.clone(), 10).await.is_empty());
    f.engine.publish_slots(doc.id, &[r]).await.unwrap();
    assert_eq!(f.all_slots(query, 10).await.len(), 1);
}

/// Listing pages through slots by start time with no gaps or repeats, and filters by doctor,
/// specialization, time window and availability.
pub async fn slot_listing_filters_and_pages_by_keyset<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let heart = f.doctor("Dr Heart", "Cardiology").await;
    let skin = f.doctor("Dr Skin", "Dermatology").await;
    let heart_slots = f.slots(&heart, 5, Duration::zero()).await;
    let skin_slots = f.slots(&skin, 5, Duration::minutes(10)).await;

    let all = f.all_slots(SlotQuery::default(), 3).await;
    assert_eq!(all.len(), 10);
    let keys: Vec<_> = all
        .iter()
        .map(|v| (v.slot.range.starts_at(), v.slot.id))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "ordered by start then id, no repeats");

    let by_doctor = f
        .all_slots(
            SlotQuery {
                doctor_id: Some(skin.id),
                ..SlotQuery::default()
            },
            2,
        )
        .await;
    let ids: Vec<_> = by_doctor.iter().map(|v| v.slot.id).collect();
    assert_eq!(ids, skin_slots);

    let by_specialization = f
        .all_slots(
            SlotQuery {
                specialization: Some("CARDIOLOGY".into()),
                ..SlotQuery::default()
            },
            4,
        )
        .await;
    let ids: Vec<_> = by_specialization.iter().map(|v| v.slot.id).collect();
    assert_eq!(ids, heart_slots);

    // Window: the second and third heart slots start in [start1, start3).
    let start = |i: usize| {
        all.iter()
            .find(|v| v.slot.id == heart_slots[i])
            .unwrap()
            .slot
            .range
            .starts_at()
    };
    let window = f
        .all_slots(
            SlotQuery {
                doctor_id: Some(heart.id),
                from: Some(start(1)),
                to: Some(start(3)),
                ..SlotQuery::default()
            },
            10,
        )
        .await;
    let ids: Vec<_> = window.iter().map(|v| v.slot.id).collect();
    assert_eq!(ids, heart_slots[1..3].to_vec());

    // Availability and statuses.
    f.engine
        .book(heart_slots[0], PatientId::new(), None)
        .await
        .unwrap();
    let hold = f
        .engine
        .hold(heart_slots[1], PatientId::new())
        .await
        .unwrap();
    let heart_only = SlotQuery {
        doctor_id: Some(heart.id),
        ..SlotQuery::default()
    };
    let available = f
        .all_slots(
            SlotQuery {
                available: Some(true),
                ..heart_only.clone()
            },
            2,
        )
        .await;
    let ids: Vec<_> = available.iter().map(|v| v.slot.id).collect();
    assert_eq!(ids, heart_slots[2..].to_vec());
    assert!(available.iter().all(|v| v.status == SlotStatus::Available));
    let taken = f
        .all_slots(
            SlotQuery {
                available: Some(false),
                ..heart_only
            },
            1,
        )
        .await;
    let statuses: Vec<_> = taken.iter().map(|v| (v.slot.id, v.status)).collect();
    let hold_until = match hold.state {
        crate::BookingState::Pending { hold_until } => hold_until,
        other => panic!("a hold is pending, got {other:?}"),
    };
    assert_eq!(
        statuses,
        vec![
            (heart_slots[0], SlotStatus::Booked),
            (heart_slots[1], SlotStatus::Held { until: hold_until }),
        ]
    );
}

/// A doctor with a booked upcoming slot cannot be deleted; once free, deleting keeps every
/// booking readable and withdraws the doctor's slots.
pub async fn deleting_a_doctor_with_active_bookings_is_refused_and_keeps_history<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Busy", "Cardiology").await;
    let slots = f.slots(&doc, 2, Duration::zero()).await;
    let patient = PatientId::new();
    let booking = f.engine.book(slots[0], patient, None).await.unwrap();

    assert!(matches!(
        f.engine.delete_doctor(doc.id).await,
        Err(Error::DoctorHasActiveBookings(id)) if id == doc.id
    ));
    assert_eq!(f.engine.doctor(doc.id).await.unwrap(), doc, "still there");
    assert_eq!(
        f.status(slots[1]).await,
        SlotStatus::Available,
        "slots kept"
    );

    f.engine
        .cancel_as_patient(booking.id, patient, None)
        .await
        .unwrap();
    f.engine.delete_doctor(doc.id).await.unwrap();

    assert!(matches!(
        f.engine.doctor(doc.id).await,
        Err(Error::DoctorNotFound(_))
    ));
    assert!(f
        .engine
        .doctors(&DoctorFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        f.engine.slot(slots[1]).await,
        Err(Error::SlotNotFound(_))
    ));
    assert!(f.all_slots(SlotQuery::default(), 10).await.is_empty());
    let view = f.engine.booking(booking.id).await.unwrap();
    assert_eq!(view.doctor.id, doc.id);
    assert_eq!(view.slot.id, slots[0]);
    assert!(matches!(
        f.engine.delete_doctor(doc.id).await,
        Err(Error::DoctorNotFound(_))
    ));
}

/// A booked or held slot cannot be withdrawn; once cancelled, it can.
pub async fn withdrawing_a_booked_slot_is_refused<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Keep", "Cardiology").await;
    let slots = f.slots(&doc, 2, Duration::zero()).await;
    let patient = PatientId::new();
    let booking = f.engine.book(slots[0], patient, None).await.unwrap();
    f.engine.hold(slots[1], patient).await.unwrap();
    for slot in &slots {
        assert!(matches!(
            f.engine.withdraw_slot(*slot).await,
            Err(Error::SlotHasActiveBooking(id)) if id == *slot
        ));
    }
    f.engine
        .cancel_as_patient(booking.id, patient, None)
        .await
        .unwrap();
    f.engine.withdraw_slot(slots[0]).await.unwrap();
}

/// A cursor from beyond the requested window (a client mixing pages of two queries) gives an
/// empty last page, never a failure.
pub async fn a_cursor_past_the_window_gives_an_empty_page<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doc = f.doctor("Dr Window", "Cardiology").await;
    let slots = f.slots(&doc, 3, Duration::zero()).await;
    let all = f.all_slots(SlotQuery::default(), 10).await;
    let last = all.last().expect("three slots").slot.clone();
    let first_start = all[0].slot.range.starts_at();
    for doctor_id in [None, Some(doc.id)] {
        let query = SlotQuery {
            doctor_id,
            to: Some(first_start + Duration::minutes(1)),
            after: Some(crate::SlotCursor::after(&last)),
            limit: 10,
            ..SlotQuery::default()
        };
        let page = f.engine.slots(&query).await.unwrap();
        assert!(page.items.is_empty() && page.next.is_none(), "{page:?}");
    }
    let at_window_end = SlotQuery {
        to: Some(first_start),
        after: Some(crate::SlotCursor {
            starts_at: first_start,
            id: slots[0],
        }),
        limit: 10,
        ..SlotQuery::default()
    };
    assert!(f
        .engine
        .slots(&at_window_end)
        .await
        .unwrap()
        .items
        .is_empty());
    let bookings = crate::BookingQuery {
        patient_id: Some(PatientId::new()),
        after: Some(crate::BookingCursor(crate::BookingId::from_uuid(
            uuid::Uuid::nil(),
        ))),
        limit: 10,
        ..crate::BookingQuery::default()
    };
    assert!(f.engine.bookings(&bookings).await.unwrap().items.is_empty());
}
