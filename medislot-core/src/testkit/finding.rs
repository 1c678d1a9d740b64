//! Checks on finding a time: the availability summary per day in a zone and "next available".
//! Free must mean what the listing's `available=true` means, and both answers keep to the
//! booking window. Time is moved with the fixture's clock, never waited for.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::support::Fixture;
use crate::{
    DayAvailability, Doctor, FreeSlotFilter, PatientId, Policy, SlotId, SlotQuery, SlotStore,
    TimeRange,
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

fn day(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

/// Publishes one 30-minute slot per start for `doctor`.
async fn publish(f: &Fixture, doctor: &Doctor, starts: &[&str]) -> Vec<SlotId> {
    let ranges: Vec<TimeRange> = starts
        .iter()
        .map(|s| TimeRange::new(at(s), at(s) + Duration::minutes(30)).expect("valid range"))
        .collect();
    let slots = f
        .engine
        .publish_slots(doctor.id, &ranges)
        .await
        .expect("publish slots");
    slots.into_iter().map(|s| s.id).collect()
}

fn by_doctor(doctor: &Doctor) -> FreeSlotFilter {
    FreeSlotFilter {
        doctor_id: Some(doctor.id),
        ..FreeSlotFilter::default()
    }
}

/// The summary's days as (date, free, first free).
async fn summary(
    f: &Fixture,
    filter: &FreeSlotFilter,
    first: &str,
    last: &str,
    zone: Tz,
) -> Vec<(NaiveDate, u64, Option<DateTime<Utc>>)> {
    let availability = f
        .engine
        .availability(filter, day(first), day(last), zone)
        .await
        .expect("availability");
    availability
        .days
        .iter()
        .map(|d: &DayAvailability| (d.date, d.free, d.first_free))
        .collect()
}

/// Each day of the summary counts, in the zone asked for, the slots the listing calls
/// available: a booked, held or buffered slot is not free, a lapsed hold or an ended buffer is,
/// a withdrawn slot or another doctor's is not counted, and a day's first free time is its
/// earliest free start. Across a daylight saving change, a slot lands on its local day.
pub async fn the_availability_summary_counts_what_the_listing_calls_available<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    f.clock.set(at("2031-03-27T12:00:00Z"));
    let doctor = f.doctor("Dr Summary", "Cardiology").await;
    let other = f.doctor("Dr Other", "Dermatology").await;
    // Paris is UTC+1 until 2031-03-30T01:00Z, UTC+2 after.
    let s = publish(
        &f,
        &doctor,
        &[
            "2031-03-29T08:00:00Z", // 0: the 29th, free
            "2031-03-29T23:30:00Z", // 1: 00:30 on the 30th in Paris (the 29th in UTC), free
            "2031-03-30T09:00:00Z", // 2: booked
            "2031-03-30T10:00:00Z", // 3: held, live
            "2031-03-30T11:00:00Z", // 4: held, lapsed by the time of the summary
            "2031-03-31T08:00:00Z", // 5: cancelled by an admin: buffered, then free
            "2031-03-31T09:00:00Z", // 6: withdrawn
            "2031-03-31T10:00:00Z", // 7: free
        ],
    )
    .await;
    publish(&f, &other, &["2031-03-31T07:00:00Z"]).await;
    let patient = PatientId::new();
    f.engine.book(s[2], patient, None).await.unwrap();
    let buffered = f.engine.book(s[5], patient, None).await.unwrap();
    f.engine.cancel_as_admin(buffered.id, None).await.unwrap();
    f.engine.withdraw_slot(s[6]).await.unwrap();
    f.engine.hold(s[4], patient).await.unwrap();
    // The first hold lapses (five minutes) before the second is taken.
    f.clock.advance(Duration::minutes(6));
    f.engine.hold(s[3], patient).await.unwrap();

    let paris: Tz = "Europe/Paris".parse().unwrap();
    let days = summary(&f, &by_doctor(&doctor), "2031-03-29", "2031-03-31", paris).await;
    assert_eq!(
        days,
        [
            (day("2031-03-29"), 1, Some(at("2031-03-29T08:00:00Z"))),
            (day("2031-03-30"), 2, Some(at("2031-03-29T23:30:00Z"))),
            (day("2031-03-31"), 1, Some(at("2031-03-31T10:00:00Z"))),
        ],
        "the buffered slot is not free yet"
    );
    // In UTC, slot 1 is on the 29th.
    let utc = summary(&f, &by_doctor(&doctor), "2031-03-29", "2031-03-31", Tz::UTC).await;
    assert_eq!(utc[0].1, 2);
    assert_eq!(
        utc[1],
        (day("2031-03-30"), 1, Some(at("2031-03-30T11:00:00Z")))
    );

    // Once the buffer has ended (ten minutes), the slot is free again, tidied or not.
    f.clock.advance(Duration::minutes(11));
    let after = summary(&f, &by_doctor(&doctor), "2031-03-31", "2031-03-31", paris).await;
    assert_eq!(
        after,
        [(day("2031-03-31"), 2, Some(at("2031-03-31T08:00:00Z")))]
    );

    // Every day agrees with the listing's `available=true`, by doctor, by specialization
    // (ignoring case), and over every doctor.
    let filters = [
        by_doctor(&doctor),
        FreeSlotFilter {
            specialization: Some("cardiology".into()),
            ..FreeSlotFilter::default()
        },
        FreeSlotFilter::default(),
    ];
    let days = crate::day_ranges(day("2031-03-28"), day("2031-04-01"), paris).unwrap();
    for filter in &filters {
        let got = summary(&f, filter, "2031-03-28", "2031-04-01", paris).await;
        for (range, (date, free, first)) in days.iter().zip(&got) {
            let listed = f
                .all_slots(
                    SlotQuery {
                        doctor_id: filter.doctor_id,
                        specialization: filter.specialization.clone(),
                        from: Some(range.starts_at()),
                        to: Some(range.ends_at()),
                        available: Some(true),
                        ..SlotQuery::default()
                    },
                    50,
                )
                .await;
            assert_eq!(*free, listed.len() as u64, "{filter:?} on {date}");
            assert_eq!(
                *first,
                listed.first().map(|v| v.slot.range.starts_at()),
                "{filter:?} on {date}"
            );
        }
    }
    let everyone = summary(
        &f,
        &FreeSlotFilter::default(),
        "2031-03-31",
        "2031-03-31",
        paris,
    )
    .await;
    assert_eq!(
        everyone[0].1, 3,
        "the other doctor's slot counts without a filter"
    );
}

/// "Next available" is the first slot the listing calls available on or after the instant,
/// by doctor or by specialization; `None` when there is none.
pub async fn next_available_is_the_first_free_slot_on_or_after_an_instant<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    f.clock.set(at("2031-03-27T12:00:00Z"));
    let doctor = f.doctor("Dr Next", "Neurology").await;
    let other = f.doctor("Dr Else", "Neurology").await;
    let s = publish(
        &f,
        &doctor,
        &[
            "2031-03-28T08:00:00Z",
            "2031-03-28T09:00:00Z",
            "2031-03-28T10:00:00Z",
        ],
    )
    .await;
    let o = publish(&f, &other, &["2031-03-28T09:30:00Z"]).await;
    let patient = PatientId::new();
    f.engine.book(s[0], patient, None).await.unwrap();
    f.engine.hold(s[1], patient).await.unwrap();
    let next = |filter: FreeSlotFilter, after: &'static str| {
        let f = f.clone();
        async move {
            f.engine
                .next_available(&filter, at(after))
                .await
                .expect("next available")
                .slot
                .map(|v| v.slot.id)
        }
    };
    let neurology = FreeSlotFilter {
        specialization: Some("NEUROLOGY".into()),
        ..FreeSlotFilter::default()
    };
    assert_eq!(
        next(by_doctor(&doctor), "2031-03-27T12:00:00Z").await,
        Some(s[2])
    );
    assert_eq!(
        next(neurology.clone(), "2031-03-27T12:00:00Z").await,
        Some(o[0])
    );
    assert_eq!(
        next(neurology.clone(), "2031-03-28T09:30:00.000001Z").await,
        Some(s[2])
    );
    assert_eq!(
        next(by_doctor(&doctor), "2031-03-28T10:00:00Z").await,
        Some(s[2]),
        "on or after"
    );
    assert_eq!(
        next(by_doctor(&doctor), "2031-03-28T10:00:00.000001Z").await,
        None
    );
    // The hold lapses: its slot is next again.
    f.clock.advance(Duration::minutes(6));
    assert_eq!(
        next(by_doctor(&doctor), "2031-03-27T12:00:00Z").await,
        Some(s[1])
    );
    let unknown = FreeSlotFilter {
        specialization: Some("Podiatry".into()),
        ..FreeSlotFilter::default()
    };
    assert_eq!(next(unknown, "2031-03-27T12:00:00Z").await, None);
}

/// Both answers keep to the booking window: a slot sooner than the notice or past the horizon
/// is neither counted nor offered, and the summary says which window it kept to.
pub async fn finding_a_time_keeps_to_the_booking_window<S: SlotStore + 'static>(store: Arc<S>) {
    let policy = Policy {
        min_notice: Duration::hours(2),
        horizon: Duration::days(2),
        ..Policy::default()
    };
    let f = Fixture::with_policy(store, policy);
    f.clock.set(at("2031-03-27T12:00:00Z"));
    let doctor = f.doctor("Dr Window", "Cardiology").await;
    let s = publish(
        &f,
        &doctor,
        &[
            "2031-03-27T13:00:00Z", // inside the notice
            "2031-03-27T14:00:00Z", // exactly the notice: allowed
            "2031-03-29T12:00:00Z", // exactly the horizon: allowed
            "2031-03-29T12:30:00Z", // past the horizon
        ],
    )
    .await;
    let availability = f
        .engine
        .availability(
            &by_doctor(&doctor),
            day("2031-03-26"),
            day("2031-03-30"),
            Tz::UTC,
        )
        .await
        .unwrap();
    assert_eq!(availability.window.earliest(), at("2031-03-27T14:00:00Z"));
    assert_eq!(availability.window.latest(), at("2031-03-29T12:00:00Z"));
    let counts: Vec<(u64, Option<DateTime<Utc>>)> = availability
        .days
        .iter()
        .map(|d| (d.free, d.first_free))
        .collect();
    assert_eq!(
        counts,
        [
            (0, None),
            (1, Some(at("2031-03-27T14:00:00Z"))),
            (0, None),
            (1, Some(at("2031-03-29T12:00:00Z"))),
            (0, None),
        ]
    );
    let next = |after: &str| {
        let f = f.clone();
        let filter = by_doctor(&doctor);
        let after = at(after);
        async move {
            f.engine
                .next_available(&filter, after)
                .await
                .unwrap()
                .slot
                .map(|v| v.slot.id)
        }
    };
    assert_eq!(next("2031-03-27T12:00:00Z").await, Some(s[1]));
    assert_eq!(next("2031-03-27T14:00:00.000001Z").await, Some(s[2]));
    assert_eq!(next("2031-03-29T12:00:00.000001Z").await, None);
    // What is offered can be booked.
    f.engine.book(s[1], PatientId::new(), None).await.unwrap();
    f.engine.book(s[2], PatientId::new(), None).await.unwrap();
}
