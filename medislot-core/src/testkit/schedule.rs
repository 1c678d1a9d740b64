//! Checks of slots made from working hours: exact across daylight saving time on the store,
//! idempotent, and safe when two generations race.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::support::{race, Fixture};
use crate::schedule::{slots_between, WallInterval, WorkingHours};
use crate::{Doctor, NewDoctor, SlotQuery, SlotStore, TimeRange};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// Every day 01:00 to 04:00 (the hours clocks change in), in 30-minute slots.
fn night_hours() -> WorkingHours {
    let interval = WallInterval::new(
        NaiveTime::from_hms_opt(1, 0, 0).expect("valid time"),
        NaiveTime::from_hms_opt(4, 0, 0).expect("valid time"),
    )
    .expect("valid interval");
    WorkingHours::new(
        std::array::from_fn(|_| vec![interval]),
        Duration::minutes(30),
        Duration::zero(),
        day(2026, 1, 1),
        None,
    )
    .expect("valid hours")
}

/// A fixture whose clock reads 2026-01-01, before every transition these checks cross.
fn fixture(store: Arc<dyn SlotStore>) -> Fixture {
    let f = Fixture::new(store);
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    f
}

async fn doctor_in(f: &Fixture, zone: &str) -> Doctor {
    let new =
        NewDoctor::new(&format!("Dr {zone}"), "General practice", zone).expect("valid doctor");
    f.engine.create_doctor(new).await.expect("create doctor")
}

/// The doctor's live slots as stored, in start order.
async fn stored(f: &Fixture, doctor: &Doctor) -> Vec<TimeRange> {
    let query = SlotQuery {
        doctor_id: Some(doctor.id),
        ..SlotQuery::default()
    };
    f.all_slots(query, 100)
        .await
        .into_iter()
        .map(|view| view.slot.range)
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .to_utc()
}

/// Working hours through both 2026 transitions of Berlin, New York, Lord Howe (a 30-minute
/// shift) and Kolkata (none) make, on the store, exactly the slots the schedule says: the
/// skipped hour makes none, the repeated hour is used once, and none overlaps another.
pub async fn working_hours_make_exact_slots_across_daylight_saving_time(store: Arc<dyn SlotStore>) {
    let f = fixture(store);
    let zones = [
        ("Europe/Berlin", [day(2026, 3, 29), day(2026, 10, 25)]),
        ("America/New_York", [day(2026, 3, 8), day(2026, 11, 1)]),
        ("Australia/Lord_Howe", [day(2026, 4, 5), day(2026, 10, 4)]),
        ("Asia/Kolkata", [day(2026, 3, 29), day(2026, 10, 25)]),
    ];
    let hours = [night_hours()];
    for (zone, days) in zones {
        let doctor = doctor_in(&f, zone).await;
        let mut expected = Vec::new();
        for transition in days {
            let generated = f
                .engine
                .generate_slots(doctor.id, &hours, &[], transition, transition)
                .await
                .expect("generate");
            let made = slots_between(&hours, &[], doctor.timezone, transition, transition);
            let created: Vec<TimeRange> = generated.created.iter().map(|s| s.range).collect();
            assert_eq!(created, made, "{zone} {transition}");
            expected.extend(made);
        }
        let found = stored(&f, &doctor).await;
        assert_eq!(found, expected, "{zone}: the store holds what was made");
        for pair in found.windows(2) {
            assert!(pair[0].ends_at() <= pair[1].starts_at(), "{zone}: {pair:?}");
        }
    }
    // Spot checks of the instants themselves, for a store that rounds or shifts them.
    let berlin = doctor_in(&f, "Europe/Berlin").await;
    let spring = day(2026, 3, 29);
    f.engine
        .generate_slots(berlin.id, &hours, &[], spring, spring)
        .await
        .expect("generate");
    let starts: Vec<DateTime<Utc>> = stored(&f, &berlin)
        .await
        .iter()
        .map(TimeRange::starts_at)
        .collect();
    assert_eq!(
        starts,
        [
            utc("2026-03-29T00:00:00Z"),
            utc("2026-03-29T00:30:00Z"),
            utc("2026-03-29T01:00:00Z"),
            utc("2026-03-29T01:30:00Z"),
        ],
        "01:00, 01:30 CET, then 03:00, 03:30 CEST"
    );
}

/// Generating again creates nothing and counts what exists; a slot published by hand that
/// overlaps the hours is left alone and reported; slots in the past are never made.
pub async fn generating_twice_creates_each_slot_once(store: Arc<dyn SlotStore>) {
    let f = fixture(store);
    let doctor = doctor_in(&f, "Europe/Berlin").await;
    let hours = [night_hours()];
    let (first, last) = (day(2026, 2, 2), day(2026, 2, 4));
    // By hand: 01:15-01:45 Berlin time on the first day, overlapping two of the hours' slots.
    let by_hand = TimeRange::new(utc("2026-02-02T00:15:00Z"), utc("2026-02-02T00:45:00Z"))
        .expect("valid range");
    f.engine
        .publish_slots(doctor.id, &[by_hand])
        .await
        .expect("publish by hand");

    let once = f
        .engine
        .generate_slots(doctor.id, &hours, &[], first, last)
        .await
        .expect("generate");
    assert_eq!(once.created.len(), 3 * 6 - 2);
    assert_eq!(once.existing, 0);
    assert_eq!(once.clashing.len(), 2, "{:?}", once.clashing);

    let twice = f
        .engine
        .generate_slots(doctor.id, &hours, &[], first, last)
        .await
        .expect("generate again");
    assert!(twice.created.is_empty(), "{:?}", twice.created);
    assert_eq!(twice.existing, 3 * 6 - 2);
    assert_eq!(twice.clashing, once.clashing);
    assert_eq!(stored(&f, &doctor).await.len(), 3 * 6 - 2 + 1);

    // Slots that have started are left out: only the future is generated.
    f.clock.set(utc("2026-02-02T23:00:00Z"));
    let later = f
        .engine
        .generate_slots(doctor.id, &hours, &[], first, last)
        .await
        .expect("generate later");
    assert!(later.created.is_empty());
    assert_eq!(later.existing, 2 * 6);
    assert!(later.clashing.is_empty());
}

/// Eight generations of the same hours at once (several server instances rolling the horizon
/// forward together) create each slot exactly once.
pub async fn racing_generations_create_each_slot_once(store: Arc<dyn SlotStore>) {
    let f = fixture(store);
    let doctor = doctor_in(&f, "America/New_York").await;
    let (first, last) = (day(2026, 3, 6), day(2026, 3, 10));
    let wanted = slots_between(&[night_hours()], &[], doctor.timezone, first, last);
    let created = race(8, |_| {
        let engine = f.engine.clone();
        async move {
            engine
                .generate_slots(doctor.id, &[night_hours()], &[], first, last)
                .await
                .expect("generate")
                .created
                .len()
        }
    })
    .await;
    assert_eq!(created.iter().sum::<usize>(), wanted.len(), "{created:?}");
    assert_eq!(stored(&f, &doctor).await, wanted);
}
