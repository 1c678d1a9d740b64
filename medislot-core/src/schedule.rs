//! Working hours: a doctor's recurring availability, written in wall-clock time in the doctor's
//! zone, and the slots it makes over a range of days.
//!
//! [`slots_between`] is a pure function of the rules, the exceptions, the zone and the days: the
//! same input always makes the same slots, so generating twice (or from two processes) can
//! compare what it makes with what exists and create only what is missing.
//!
//! Daylight saving time is exact. Each slot's wall-clock start is mapped to an instant in the
//! doctor's zone for that day, and the slot lasts exactly its length in real time:
//! - a wall-clock start that does not exist (the hour skipped when clocks go forward) makes no
//!   slot;
//! - a wall-clock start that exists twice (the hour repeated when clocks go back) is taken at
//!   its first occurrence;
//! - a slot that would overlap one already made that day is dropped, so the repeated hour is
//!   used once and no two slots ever overlap.

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::slot::TimeRange;

/// The shortest slot working hours may make.
pub const MIN_SLOT_MINUTES: i64 = 5;
/// The longest slot working hours may make.
pub const MAX_SLOT_MINUTES: i64 = 12 * 60;

/// A wall-clock interval within one day, `[from, until)`, in whole minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallInterval {
    from: NaiveTime,
    until: NaiveTime,
}

impl WallInterval {
    /// The interval from `from` to `until` on the same day.
    ///
    /// # Errors
    /// [`Error::Validation`] on `from` or `until` when it is not a whole minute, on `until`
    /// unless it is after `from`.
    pub fn new(from: NaiveTime, until: NaiveTime) -> Result<Self> {
        whole_minute("from", from)?;
        whole_minute("until", until)?;
        if until <= from {
            return Err(Error::validation("until", "must be after from"));
        }
        Ok(Self { from, until })
    }

    /// Start (inclusive).
    pub const fn from(&self) -> NaiveTime {
        self.from
    }

    /// End (exclusive).
    pub const fn until(&self) -> NaiveTime {
        self.until
    }

    fn overlaps(&self, other: &WallInterval) -> bool {
        self.from < other.until && other.from < self.until
    }
}

fn check_slot_length(slot_length: Duration) -> Result<()> {
    let minutes = slot_length.num_minutes();
    if Duration::minutes(minutes) != slot_length
        || !(MIN_SLOT_MINUTES..=MAX_SLOT_MINUTES).contains(&minutes)
    {
        return Err(Error::validation(
            "slot_length",
            "must be a whole number of minutes from 5 to 720",
        ));
    }
    Ok(())
}

fn whole_minute(field: &'static str, time: NaiveTime) -> Result<()> {
    if time.with_second(0).and_then(|t| t.with_nanosecond(0)) == Some(time) {
        Ok(())
    } else {
        Err(Error::validation(field, "must be a whole minute"))
    }
}

/// One rule of a doctor's working hours: the intervals of each weekday, cut into slots of one
/// length with an optional gap between them, valid over a range of dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingHours {
    /// Intervals per weekday, Monday first (index `Weekday::num_days_from_monday`).
    week: [Vec<WallInterval>; 7],
    slot_length: Duration,
    gap: Duration,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
}

impl WorkingHours {
    /// A rule that makes slots of `slot_length`, `gap` apart, within each weekday's intervals
    /// (`week[0]` is Monday), on every date from `valid_from` to `valid_until` (inclusive; open
    /// ended when `None`).
    ///
    /// # Errors
    /// [`Error::Validation`] on `slot_length` unless it is a whole number of minutes from
    /// [`MIN_SLOT_MINUTES`] to [`MAX_SLOT_MINUTES`]; on `gap` unless it is a whole, non-negative
    /// number of minutes no longer than a day; on `valid_until` when it is before
    /// `valid_from`; on `week` when two intervals of one day overlap.
    pub fn new(
        week: [Vec<WallInterval>; 7],
        slot_length: Duration,
        gap: Duration,
        valid_from: NaiveDate,
        valid_until: Option<NaiveDate>,
    ) -> Result<Self> {
        check_slot_length(slot_length)?;
        let gap_minutes = gap.num_minutes();
        if Duration::minutes(gap_minutes) != gap || !(0..=24 * 60).contains(&gap_minutes) {
            return Err(Error::validation(
                "gap",
                "must be a whole number of minutes from 0 to 1440",
            ));
        }
        if valid_until.is_some_and(|until| until < valid_from) {
            return Err(Error::validation(
                "valid_until",
                "must not be before valid_from",
            ));
        }
        for day in &week {
            for (i, a) in day.iter().enumerate() {
                if day[i + 1..].iter().any(|b| a.overlaps(b)) {
                    return Err(Error::validation(
                        "week",
                        "two intervals of one day overlap",
                    ));
                }
            }
        }
        Ok(Self {
            week,
            slot_length,
            gap,
            valid_from,
            valid_until,
        })
    }

    /// The intervals of each weekday, Monday first.
    pub fn week(&self) -> &[Vec<WallInterval>; 7] {
        &self.week
    }

    /// How long each slot lasts.
    pub const fn slot_length(&self) -> Duration {
        self.slot_length
    }

    /// The pause between one slot's end and the next one's start.
    pub const fn gap(&self) -> Duration {
        self.gap
    }

    /// The first date the rule applies to.
    pub const fn valid_from(&self) -> NaiveDate {
        self.valid_from
    }

    /// The last date the rule applies to, if it ends.
    pub const fn valid_until(&self) -> Option<NaiveDate> {
        self.valid_until
    }

    fn applies_on(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }
}

/// A change to the working hours on one date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// No slots at all that day (a holiday).
    DayOff(NaiveDate),
    /// No slots that overlap this interval of that day (a half day, an errand).
    TimeOff {
        /// The day.
        date: NaiveDate,
        /// The time off, in the doctor's wall-clock time.
        interval: WallInterval,
    },
    /// Slots of `slot_length` within this interval of that day, besides the rules' own.
    ExtraHours {
        /// The day.
        date: NaiveDate,
        /// The extra hours, in the doctor's wall-clock time.
        interval: WallInterval,
        /// How long each of these slots lasts (checked as [`WorkingHours::new`] checks it).
        slot_length: Duration,
    },
}

impl Exception {
    /// Extra hours on `date`: slots of `slot_length` within `interval`.
    ///
    /// # Errors
    /// [`Error::Validation`] on `slot_length` unless it is a whole number of minutes from
    /// [`MIN_SLOT_MINUTES`] to [`MAX_SLOT_MINUTES`].
    pub fn extra_hours(
        date: NaiveDate,
        interval: WallInterval,
        slot_length: Duration,
    ) -> Result<Self> {
        check_slot_length(slot_length)?;
        Ok(Exception::ExtraHours {
            date,
            interval,
            slot_length,
        })
    }

    /// The day the exception applies to.
    pub fn date(&self) -> NaiveDate {
        match self {
            Exception::DayOff(date)
            | Exception::TimeOff { date, .. }
            | Exception::ExtraHours { date, .. } => *date,
        }
    }
}

/// The slots the rules and exceptions make on every day from `first_day` to `last_day`
/// (inclusive, dates in `zone`), in start order, none overlapping another.
///
/// Among slots that would overlap, the one starting first is kept (on a tie, the shorter one,
/// then the one of the earlier rule); rules are applied in the order given, extra hours after
/// them.
pub fn slots_between(
    rules: &[WorkingHours],
    exceptions: &[Exception],
    zone: Tz,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> Vec<TimeRange> {
    let mut slots = Vec::new();
    for day in first_day.iter_days().take_while(|day| *day <= last_day) {
        let today = exceptions.iter().filter(|e| e.date() == day);
        if today.clone().any(|e| matches!(e, Exception::DayOff(_))) {
            continue;
        }
        let mut candidates = Vec::new();
        let weekday = day.weekday().num_days_from_monday() as usize;
        for rule in rules.iter().filter(|rule| rule.applies_on(day)) {
            for interval in &rule.week[weekday] {
                cut(
                    &mut candidates,
                    zone,
                    day,
                    *interval,
                    rule.slot_length,
                    rule.gap,
                );
            }
        }
        let mut time_off = Vec::new();
        for exception in today {
            match exception {
                Exception::DayOff(_) => {}
                Exception::TimeOff { interval, .. } => {
                    let from = instant(zone, day.and_time(interval.from));
                    let until = instant(zone, day.and_time(interval.until));
                    time_off.push((from, until));
                }
                Exception::ExtraHours {
                    interval,
                    slot_length,
                    ..
                } => cut(
                    &mut candidates,
                    zone,
                    day,
                    *interval,
                    *slot_length,
                    Duration::zero(),
                ),
            }
        }
        // Stable: equal candidates keep the order of the rules that made them.
        candidates.sort_by_key(|range: &TimeRange| (range.starts_at(), range.ends_at()));
        let mut kept_until: Option<DateTime<Utc>> = None;
        for range in candidates {
            let clashes = kept_until.is_some_and(|until| range.starts_at() < until)
                || time_off
                    .iter()
                    .any(|(from, until)| range.starts_at() < *until && *from < range.ends_at());
            if !clashes {
                kept_until = Some(range.ends_at());
                slots.push(range);
            }
        }
    }
    slots
}

/// Cuts `interval` of `day` into slots of `length`, `gap` apart, as ranges in real time.
fn cut(
    out: &mut Vec<TimeRange>,
    zone: Tz,
    day: NaiveDate,
    interval: WallInterval,
    length: Duration,
    gap: Duration,
) {
    let end = instant(zone, day.and_time(interval.until));
    let mut wall = day.and_time(interval.from);
    let last = day.and_time(interval.until);
    while wall + length <= last {
        let starts_at = match zone.from_local_datetime(&wall) {
            LocalResult::Single(at) => Some(at),
            LocalResult::Ambiguous(first, _) => Some(first),
            // Skipped by the clocks going forward: no such time that day.
            LocalResult::None => None,
        };
        if let Some(starts_at) = starts_at {
            let starts_at = starts_at.with_timezone(&Utc);
            let ends_at = starts_at + length;
            if ends_at <= end {
                if let Ok(range) = TimeRange::new(starts_at, ends_at) {
                    out.push(range);
                }
            }
        }
        wall += length + gap;
    }
}

/// The instant a wall-clock time names in `zone`: its first occurrence when the clocks went
/// back; when the clocks skipped it, the instant they jumped (the first wall-clock time after
/// the gap).
pub(crate) fn instant(zone: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = wall;
    loop {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                return at.with_timezone(&Utc);
            }
            // No zone skips more than a day; one minute at a time reaches the gap's end.
            LocalResult::None => probe += Duration::minutes(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn every_day(from: NaiveTime, until: NaiveTime) -> [Vec<WallInterval>; 7] {
        std::array::from_fn(|_| vec![WallInterval::new(from, until).unwrap()])
    }

    fn rule(from: NaiveTime, until: NaiveTime, minutes: i64) -> WorkingHours {
        WorkingHours::new(
            every_day(from, until),
            Duration::minutes(minutes),
            Duration::zero(),
            d(2026, 1, 1),
            None,
        )
        .unwrap()
    }

    /// The slots of one day as UTC "HH:MM-HH:MM" strings.
    fn day_utc(rules: &[WorkingHours], zone: Tz, day: NaiveDate) -> Vec<String> {
        slots_between(rules, &[], zone, day, day)
            .iter()
            .map(|r| {
                format!(
                    "{}-{}",
                    r.starts_at().format("%H:%M"),
                    r.ends_at().format("%H:%M")
                )
            })
            .collect()
    }

    fn assert_well_formed(slots: &[TimeRange], length: Duration) {
        for pair in slots.windows(2) {
            assert!(pair[0].ends_at() <= pair[1].starts_at(), "{pair:?} overlap");
        }
        for slot in slots {
            assert_eq!(slot.ends_at() - slot.starts_at(), length, "{slot:?}");
        }
    }

    #[test]
    fn a_plain_day_is_cut_into_slots_with_the_gap_between() {
        let week = std::array::from_fn(|i| {
            if i == Weekday::Mon.num_days_from_monday() as usize {
                vec![
                    WallInterval::new(t(9, 0), t(12, 0)).unwrap(),
                    WallInterval::new(t(14, 0), t(15, 0)).unwrap(),
                ]
            } else {
                Vec::new()
            }
        });
        let rule = WorkingHours::new(
            week,
            Duration::minutes(40),
            Duration::minutes(10),
            d(2026, 1, 1),
            None,
        )
        .unwrap();
        // 2026-11-30 is a Monday; Kolkata has no daylight saving time (UTC+05:30).
        assert_eq!(
            day_utc(
                std::slice::from_ref(&rule),
                chrono_tz::Asia::Kolkata,
                d(2026, 11, 30)
            ),
            ["03:30-04:10", "04:20-05:00", "05:10-05:50", "08:30-09:10"]
        );
        assert!(day_utc(&[rule], chrono_tz::Asia::Kolkata, d(2026, 12, 1)).is_empty());
    }

    #[test]
    fn berlin_spring_forward_skips_the_missing_hour() {
        // 2026-03-29 02:00 CET → 03:00 CEST.
        let slots = day_utc(
            &[rule(t(1, 0), t(4, 0), 30)],
            chrono_tz::Europe::Berlin,
            d(2026, 3, 29),
        );
        assert_eq!(
            slots,
            ["00:00-00:30", "00:30-01:00", "01:00-01:30", "01:30-02:00"]
        );
    }

    #[test]
    fn berlin_fall_back_uses_the_repeated_hour_once() {
        // 2026-10-25 03:00 CEST → 02:00 CET: 02:00-03:00 happens twice.
        let slots = day_utc(
            &[rule(t(1, 0), t(4, 0), 30)],
            chrono_tz::Europe::Berlin,
            d(2026, 10, 25),
        );
        // 01:00, 01:30, 02:00 and 02:30 CEST; then 03:00 and 03:30 CET.
        assert_eq!(
            slots,
            [
                "23:00-23:30",
                "23:30-00:00",
                "00:00-00:30",
                "00:30-01:00",
                "02:00-02:30",
                "02:30-03:00"
            ]
        );
    }

    #[test]
    fn a_slot_longer_than_the_gap_before_it_never_overlaps_the_next() {
        // A 90-minute slot from 01:30 CET ends at 03:00 CET = 04:00 CEST in wall time; the rule's
        // next wall-clock start (03:00 CEST) would overlap it and is dropped.
        let slots = slots_between(
            &[rule(t(0, 0), t(6, 0), 90)],
            &[],
            chrono_tz::Europe::Berlin,
            d(2026, 3, 29),
            d(2026, 3, 29),
        );
        assert_well_formed(&slots, Duration::minutes(90));
        assert_eq!(slots.len(), 3);
    }

    #[test]
    fn new_york_both_transitions() {
        let zone = chrono_tz::America::New_York;
        // 2026-03-08 02:00 EST → 03:00 EDT.
        assert_eq!(
            day_utc(&[rule(t(1, 0), t(4, 0), 60)], zone, d(2026, 3, 8)),
            ["06:00-07:00", "07:00-08:00"]
        );
        // 2026-11-01 02:00 EDT → 01:00 EST: 01:00-02:00 happens twice.
        assert_eq!(
            day_utc(&[rule(t(0, 0), t(3, 0), 60)], zone, d(2026, 11, 1)),
            ["04:00-05:00", "05:00-06:00", "07:00-08:00"]
        );
    }

    #[test]
    fn lord_howe_shifts_by_half_an_hour() {
        let zone = chrono_tz::Australia::Lord_Howe;
        // 2026-10-04 02:00 (+10:30) → 02:30 (+11:00): 02:00-02:30 does not exist.
        assert_eq!(
            day_utc(&[rule(t(1, 0), t(4, 0), 30)], zone, d(2026, 10, 4)),
            [
                "14:30-15:00",
                "15:00-15:30",
                "15:30-16:00",
                "16:00-16:30",
                "16:30-17:00"
            ]
        );
        // 2026-04-05 02:00 (+11:00) → 01:30 (+10:30): 01:30-02:00 happens twice.
        assert_eq!(
            day_utc(&[rule(t(1, 0), t(3, 0), 30)], zone, d(2026, 4, 5)),
            ["14:00-14:30", "14:30-15:00", "15:30-16:00", "16:00-16:30"]
        );
    }

    #[test]
    fn days_off_time_off_and_extra_hours_change_one_date() {
        let zone = chrono_tz::Etc::UTC;
        let rules = [rule(t(9, 0), t(12, 0), 60)];
        let exceptions = [
            Exception::DayOff(d(2026, 12, 1)),
            Exception::TimeOff {
                date: d(2026, 12, 2),
                interval: WallInterval::new(t(9, 30), t(10, 0)).unwrap(),
            },
            Exception::ExtraHours {
                date: d(2026, 12, 3),
                interval: WallInterval::new(t(18, 0), t(19, 0)).unwrap(),
                slot_length: Duration::minutes(30),
            },
        ];
        let per_day = |day| {
            slots_between(&rules, &exceptions, zone, day, day)
                .iter()
                .map(|r| r.starts_at().format("%H:%M").to_string())
                .collect::<Vec<_>>()
        };
        assert!(per_day(d(2026, 12, 1)).is_empty());
        assert_eq!(per_day(d(2026, 12, 2)), ["10:00", "11:00"]);
        assert_eq!(
            per_day(d(2026, 12, 3)),
            ["09:00", "10:00", "11:00", "18:00", "18:30"]
        );
        assert_eq!(per_day(d(2026, 12, 4)), ["09:00", "10:00", "11:00"]);
    }

    #[test]
    fn rules_apply_only_within_their_dates_and_overlapping_rules_keep_the_first_start() {
        let zone = chrono_tz::Etc::UTC;
        let morning = WorkingHours::new(
            every_day(t(9, 0), t(10, 0)),
            Duration::minutes(15),
            Duration::zero(),
            d(2026, 12, 2),
            Some(d(2026, 12, 3)),
        )
        .unwrap();
        let long = rule(t(9, 30), t(11, 30), 60);
        let slots = slots_between(&[long, morning], &[], zone, d(2026, 12, 1), d(2026, 12, 4));
        let starts: Vec<String> = slots
            .iter()
            .map(|r| r.starts_at().format("%d %H:%M").to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "01 09:30", "01 10:30", // only the long rule
                // 09:30 is a tie: the shorter slot wins, and the long one is dropped.
                "02 09:00", "02 09:15", "02 09:30", "02 09:45", "02 10:30", "03 09:00", "03 09:15",
                "03 09:30", "03 09:45", "03 10:30", "04 09:30", "04 10:30",
            ]
        );
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let field = |r: Result<WorkingHours>| match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let make = |len, gap, until| {
            WorkingHours::new(every_day(t(9, 0), t(10, 0)), len, gap, d(2026, 1, 2), until)
        };
        assert_eq!(
            field(make(Duration::minutes(4), Duration::zero(), None)),
            "slot_length"
        );
        assert_eq!(
            field(make(Duration::seconds(90 * 60 + 1), Duration::zero(), None)),
            "slot_length"
        );
        assert_eq!(
            field(make(Duration::minutes(30), Duration::minutes(-1), None)),
            "gap"
        );
        assert_eq!(
            field(make(
                Duration::minutes(30),
                Duration::zero(),
                Some(d(2026, 1, 1))
            )),
            "valid_until"
        );
        let overlapping = std::array::from_fn(|_| {
            vec![
                WallInterval::new(t(9, 0), t(11, 0)).unwrap(),
                WallInterval::new(t(10, 0), t(12, 0)).unwrap(),
            ]
        });
        assert_eq!(
            field(WorkingHours::new(
                overlapping,
                Duration::minutes(30),
                Duration::zero(),
                d(2026, 1, 1),
                None
            )),
            "week"
        );
        assert!(WallInterval::new(t(10, 0), t(9, 0)).is_err());
        assert!(WallInterval::new(NaiveTime::from_hms_opt(9, 0, 1).unwrap(), t(10, 0)).is_err());
    }

    // proptest is not a dependency of the loom build.
    #[cfg(not(loom))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        const ZONES: [Tz; 5] = [
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
            chrono_tz::America::Santiago,
        ];

        fn interval() -> impl Strategy<Value = WallInterval> {
            (0u32..24 * 60 - 5, 5u32..8 * 60).prop_map(|(from, len)| {
                let until = (from + len).min(24 * 60 - 1);
                WallInterval::new(t(from / 60, from % 60), t(until / 60, until % 60)).unwrap()
            })
        }

        fn working_hours() -> impl Strategy<Value = WorkingHours> {
            (
                proptest::collection::vec(interval(), 0..3),
                MIN_SLOT_MINUTES..=120,
                0i64..30,
            )
                .prop_map(|(intervals, minutes, gap)| {
                    // One interval per weekday at most, so the rule is valid.
                    let week = std::array::from_fn(|i| {
                        intervals.get(i % 3).into_iter().copied().collect()
                    });
                    WorkingHours::new(
                        week,
                        Duration::minutes(minutes),
                        Duration::minutes(gap),
                        d(2026, 1, 1),
                        None,
                    )
                    .unwrap()
                })
        }

        proptest! {
            /// Around every transition of these zones in 2026, whatever the rules: slots come
            /// in order, never overlap, last exactly their rule's length, start at a wall-clock
            /// time that exists that day, and generating again gives the same slots.
            #[test]
            fn slots_never_overlap_and_keep_their_length_across_transitions(
                zone in proptest::sample::select(ZONES.to_vec()),
                rules in proptest::collection::vec(working_hours(), 1..3),
                first in 0u32..365,
                days in 0u32..10,
            ) {
                let first_day = d(2026, 1, 1) + Duration::days(first.into());
                let last_day = first_day + Duration::days(days.into());
                let slots = slots_between(&rules, &[], zone, first_day, last_day);
                for pair in slots.windows(2) {
                    prop_assert!(pair[0].ends_at() <= pair[1].starts_at(), "{:?}", pair);
                }
                for slot in &slots {
                    let length = slot.ends_at() - slot.starts_at();
                    prop_assert!(rules.iter().any(|r| r.slot_length() == length), "{:?}", slot);
                    let wall = slot.starts_at().with_timezone(&zone);
                    prop_assert!(wall.date_naive() >= first_day && wall.date_naive() <= last_day);
                }
                prop_assert_eq!(slots_between(&rules, &[], zone, first_day, last_day), slots);
            }
        }
    }
}
