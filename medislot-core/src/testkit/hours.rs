//! Checks of a doctor's stored working hours: kept and replaced whole, a change withdraws the
//! free slots that no longer fit and never an occupied one, and the rolling horizon extends
//! once however many instances extend it at the same time.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use super::support::{race, Fixture};
use crate::schedule::{slots_between, Exception, WallInterval, WorkingHours};
use crate::{
    BookingStatus, Doctor, DoctorHours, Error, NewDoctor, PatientId, SlotId, SlotQuery, SlotStore,
    TimeRange,
};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

/// Every day from `from` to `until`, in 30-minute slots, from 2026-01-01 on.
fn daily(from: NaiveTime, until: NaiveTime) -> WorkingHours {
    let interval = WallInterval::new(from, until).expect("valid interval");
    WorkingHours::new(
        std::array::from_fn(|_| vec![interval]),
        Duration::minutes(30),
        Duration::zero(),
        day(2026, 1, 1),
        None,
    )
    .expect("valid hours")
}

/// A fixture whose clock reads Monday 2026-01-05 00:00 UTC, and a doctor in Kolkata
/// (UTC+05:30 all year, so the counts below do not depend on daylight saving time).
async fn fixture(store: Arc<dyn SlotStore>) -> (Fixture, Doctor) {
    let f = Fixture::new(store);
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
    let new = NewDoctor::new("Dr Hours", "General practice", "Asia/Kolkata").expect("valid");
    let doctor = f.engine.create_doctor(new).await.expect("create doctor");
    (f, doctor)
}

/// The doctor's live slots as stored, in start order.
async fn stored(f: &Fixture, doctor: &Doctor) -> Vec<(SlotId, TimeRange)> {
    let query = SlotQuery {
        doctor_id: Some(doctor.id),
        ..SlotQuery::default()
    };
    f.all_slots(query, 100)
        .await
        .into_iter()
        .map(|view| (view.slot.id, view.slot.range))
        .collect()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid instant")
        .to_utc()
}

/// Saved hours read back as saved, are replaced whole by the next save, and a preview writes
/// neither hours nor slots; a doctor that does not exist has none to save.
pub async fn saved_hours_are_stored_replaced_and_read_back(store: Arc<dyn SlotStore>) {
    let (f, doctor) = fixture(store).await;
    assert_eq!(
        f.engine.doctor_hours(doctor.id).await.expect("read"),
        DoctorHours::default(),
        "no hours before the first save"
    );
    let first = DoctorHours::new(
        vec![
            daily(time(9, 0), time(12, 0)),
            daily(time(14, 0), time(15, 0)),
        ],
        vec![
            Exception::DayOff(day(2026, 1, 6)),
            Exception::TimeOff {
                date: day(2026, 1, 7),
                interval: WallInterval::new(time(10, 0), time(11, 0)).expect("valid"),
            },
            Exception::extra_hours(
                day(2026, 1, 10),
                WallInterval::new(time(18, 0), time(19, 0)).expect("valid"),
                Duration::minutes(20),
            )
            .expect("valid"),
        ],
    )
    .expect("valid hours");
    let previewed = f
        .engine
        .preview_hours(doctor.id, first.clone(), 1)
        .await
        .expect("preview");
    assert!(!previewed.created.is_empty());
    assert_eq!(
        f.engine.doctor_hours(doctor.id).await.expect("read"),
        DoctorHours::default(),
        "a preview saves nothing"
    );
    assert!(
        stored(&f, &doctor).await.is_empty(),
        "a preview creates nothing"
    );

    let saved = f
        .engine
        .save_hours(doctor.id, first.clone(), 1)
        .await
        .expect("save");
    let ranges = |slots: &[crate::Slot]| slots.iter().map(|s| s.range).collect::<Vec<_>>();
    assert_eq!(ranges(&saved.created), ranges(&previewed.created));
    assert_eq!(f.engine.doctor_hours(doctor.id).await.expect("read"), first);
    assert_eq!(
        f.engine
            .store()
            .doctor_hours(doctor.id)
            .await
            .expect("read"),
        Some(first.clone())
    );

    let second = DoctorHours::new(vec![daily(time(8, 0), time(9, 0))], Vec::new()).expect("valid");
    f.engine
        .save_hours(doctor.id, second.clone(), 1)
        .await
        .expect("replace");
    assert_eq!(
        f.engine.doctor_hours(doctor.id).await.expect("read"),
        second
    );

    let unknown = crate::DoctorId::new();
    for result in [
        f.engine
            .save_hours(unknown, second.clone(), 1)
            .await
            .map(|_| ()),
        f.engine
            .preview_hours(unknown, second.clone(), 1)
            .await
            .map(|_| ()),
        f.engine.doctor_hours(unknown).await.map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(Error::DoctorNotFound(id)) if id == unknown),
            "{result:?}"
        );
    }
    assert!(matches!(
        f.engine.save_hours(doctor.id, second, 0).await,
        Err(Error::Validation {
            field: "horizon_weeks",
            ..
        })
    ));
}

/// A change of hours withdraws the free future slots it no longer makes, never a booked or
/// held one, and reports each of those as outside the hours; saving the same hours again
/// changes nothing.
pub async fn a_rule_change_never_withdraws_a_booked_slot(store: Arc<dyn SlotStore>) {
    let (f, doctor) = fixture(store).await;
    let nine_to_noon =
        DoctorHours::new(vec![daily(time(9, 0), time(12, 0))], Vec::new()).expect("valid hours");
    let first = f
        .engine
        .save_hours(doctor.id, nine_to_noon, 1)
        .await
        .expect("save");
    // 2026-01-05 to 2026-01-12 in Kolkata: 8 days of 6 slots, all in the future.
    assert_eq!(first.created.len(), 8 * 6);
    assert_eq!(first.last_day, Some(day(2026, 1, 12)));
    assert_eq!(stored(&f, &doctor).await.len(), 8 * 6);

    // Wednesday 2026-01-07, 09:00 and 09:30 in Kolkata (03:30 and 04:00 UTC).
    let slot_at = |at: &str| {
        first
            .created
            .iter()
            .find(|s| s.range.starts_at() == utc(at))
            .expect("a slot at that time")
            .id
    };
    let booked_slot = slot_at("2026-01-07T03:30:00Z");
    let held_slot = slot_at("2026-01-07T04:00:00Z");
    let booked = f
        .engine
        .book(booked_slot, PatientId::new(), None)
        .await
        .expect("book");
    let held = f
        .engine
        .hold(held_slot, PatientId::new())
        .await
        .expect("hold");

    // Now 09:00 to 11:00, and Wednesday off.
    let shorter = DoctorHours::new(
        vec![daily(time(9, 0), time(11, 0))],
        vec![Exception::DayOff(day(2026, 1, 7))],
    )
    .expect("valid hours");
    let preview = f
        .engine
        .preview_hours(doctor.id, shorter.clone(), 1)
        .await
        .expect("preview");
    let mut outside: Vec<_> = preview.outside.iter().map(|(s, b)| (s.id, b.id)).collect();
    outside.sort();
    let mut expected_outside = vec![(booked_slot, booked.id), (held_slot, held.id)];
    expected_outside.sort();
    assert_eq!(outside, expected_outside);
    // 7 days lose 11:00 and 11:30; Wednesday loses its 4 free slots.
    assert_eq!(
        preview.withdrawn.len(),
        7 * 2 + 4,
        "{:?}",
        preview.withdrawn
    );
    assert!(preview.created.is_empty());
    assert_eq!(
        stored(&f, &doctor).await.len(),
        8 * 6,
        "a preview withdraws nothing"
    );

    let saved = f
        .engine
        .save_hours(doctor.id, shorter.clone(), 1)
        .await
        .expect("save");
    let ids = |slots: &[crate::Slot]| slots.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(&saved.withdrawn), ids(&preview.withdrawn));
    assert_eq!(saved.outside.len(), 2);
    let live = stored(&f, &doctor).await;
    assert_eq!(live.len(), 8 * 6 - (7 * 2 + 4));
    for kept in [booked_slot, held_slot] {
        assert!(
            live.iter().any(|(id, _)| *id == kept),
            "{kept} was withdrawn"
        );
    }
    assert!(!live
        .iter()
        .any(|(id, _)| saved.withdrawn.iter().any(|w| w.id == *id)));
    let still = f.engine.booking(booked.id).await.expect("booking");
    assert_eq!(still.booking.state.status(), BookingStatus::Confirmed);
    assert_eq!(
        f.assert_at_most_one_occupant(held_slot).await.map(|b| b.id),
        Some(held.id)
    );

    let again = f
        .engine
        .save_hours(doctor.id, shorter, 1)
        .await
        .expect("save again");
    assert!(again.created.is_empty() && again.withdrawn.is_empty());
    assert_eq!(again.outside.len(), 2);
    assert_eq!(again.existing, 7 * 4);
}

/// Extending the horizon from the stored hours: once time has moved on, eight extensions at
/// once (several server instances sweeping together) create each new slot exactly once, and a
/// doctor without hours gets none.
pub async fn extending_the_horizon_at_once_creates_each_slot_once(store: Arc<dyn SlotStore>) {
    let (f, doctor) = fixture(store).await;
    let hours = DoctorHours::new(vec![daily(time(9, 0), time(12, 0))], Vec::new()).expect("valid");
    f.engine
        .save_hours(doctor.id, hours.clone(), 1)
        .await
        .expect("save");
    f.clock.set(utc("2026-01-09T00:00:00Z"));
    let created = race(8, |_| {
        let engine = f.engine.clone();
        async move {
            engine
                .extend_hours(doctor.id, 2)
                .await
                .expect("extend")
                .created
                .len()
        }
    })
    .await;
    // Up to 2026-01-23 in Kolkata now: 2026-01-13 to 2026-01-23 are new.
    assert_eq!(created.iter().sum::<usize>(), 11 * 6, "{created:?}");
    let wanted: Vec<TimeRange> = slots_between(
        hours.rules(),
        hours.exceptions(),
        doctor.timezone,
        day(2026, 1, 9),
        day(2026, 1, 23),
    );
    let live: Vec<TimeRange> = stored(&f, &doctor)
        .await
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.starts_at() > f.now())
        .collect();
    assert_eq!(live, wanted, "the future holds exactly what the hours make");

    let (_, idle) = fixture(Arc::clone(f.engine.store())).await;
    let nothing = f.engine.extend_hours(idle.id, 2).await.expect("extend");
    assert!(nothing.created.is_empty());
    assert!(stored(&f, &idle).await.is_empty());
}
