//! Finding a time: how many free slots each day of a range holds in a time zone, and the first
//! free slot on or after an instant. "Free" means exactly what the slot listing's
//! `available: Some(true)` means ([`SlotStatus::at`](crate::SlotStatus::at)): not started, and
//! no booking that occupies the slot now (a lapsed hold or an ended buffer is free). Both
//! answers keep to the booking window ([`Policy::window`](crate::Policy::window)): a slot a
//! patient may not book now is not offered.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::ids::DoctorId;
use crate::slot::{SlotView, TimeRange};
use crate::window::BookingWindow;
use crate::{instant, text};

/// The most days one availability summary covers.
pub const MAX_SUMMARY_DAYS: i64 = 62;

/// Which slots a search looks at: one doctor's, one specialization's (ignoring case), both
/// (the doctor's, if the specialization is theirs) or every doctor's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreeSlotFilter {
    /// Only this doctor's slots.
    pub doctor_id: Option<DoctorId>,
    /// Only slots of doctors with this specialization (ignoring case, as the listing compares).
    pub specialization: Option<String>,
}

impl FreeSlotFilter {
    /// Checks that the filter holds only text every store can search with.
    ///
    /// # Errors
    /// [`Error::Validation`] on `specialization`.
    pub fn validate(&self) -> Result<()> {
        text::check_filter("specialization", self.specialization.as_deref())
    }
}

/// What one range of time holds: how many free slots start in it, and the first of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreeCount {
    /// How many free slots start in the range.
    pub free: u64,
    /// The earliest start among them.
    pub first: Option<DateTime<Utc>>,
}

/// One day of an availability summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayAvailability {
    /// The day, in the summary's zone.
    pub date: NaiveDate,
    /// Free slots starting that day (inside the booking window).
    pub free: u64,
    /// The first of them.
    pub first_free: Option<DateTime<Utc>>,
}

/// An availability summary: one entry per day asked for, in order, and the booking window it
/// kept to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    /// The days, from the first asked for to the last.
    pub days: Vec<DayAvailability>,
    /// The slot starts a patient may book now; slots outside are not counted.
    pub window: BookingWindow,
}

/// The first free slot on or after an instant, and the booking window it kept to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextAvailable {
    /// The slot, or `None` when the window holds no free slot on or after the instant.
    pub slot: Option<SlotView>,
    /// The slot starts a patient may book now; no slot outside is offered.
    pub window: BookingWindow,
}

/// The instants each day from `first` to `last` (both included) spans in `zone`: from its
/// first instant (midnight, or the end of a gap that swallowed midnight) to the next day's.
/// Consecutive days meet, so the ranges cover the whole span once.
///
/// # Errors
/// [`Error::Validation`] on `to` when `last` is before `first` or the span is longer than
/// [`MAX_SUMMARY_DAYS`]; on `from` or `to` when a day lies outside the representable instants.
pub fn day_ranges(first: NaiveDate, last: NaiveDate, zone: Tz) -> Result<Vec<TimeRange>> {
    if last < first {
        return Err(Error::validation("to", "must not be before from"));
    }
    if (last - first).num_days() >= MAX_SUMMARY_DAYS {
        return Err(Error::validation(
            "to",
            format!("must be at most {MAX_SUMMARY_DAYS} days from from, both included"),
        ));
    }
    let start_of = |day: NaiveDate| crate::schedule::instant(zone, day.and_time(NaiveTime::MIN));
    let after_last = last
        .succ_opt()
        .ok_or_else(|| Error::validation("to", "is past the last representable day"))?;
    instant::check("from", start_of(first))?;
    instant::check("to", start_of(after_last))?;
    first
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| {
            // `after_last` exists, so every day up to `last` has a next day.
            let next = day.succ_opt().unwrap_or(after_last);
            TimeRange::new(start_of(day), start_of(next))
        })
        .collect()
}

/// The part of each of `days` inside `window`, with the index of the day it came from; days
/// wholly outside are left out. The parts still meet one another.
pub(crate) fn within_window(days: &[TimeRange], window: &BookingWindow) -> Vec<(usize, TimeRange)> {
    // The window's last start is included: its exclusive end is one microsecond later.
    let end = window
        .latest()
        .checked_add_signed(Duration::microseconds(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    days.iter()
        .enumerate()
        .filter_map(|(i, day)| {
            let from = day.starts_at().max(window.earliest());
            let to = day.ends_at().min(end);
            TimeRange::new(from, to).ok().map(|range| (i, range))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn days_meet_and_follow_daylight_saving_time() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let days = day_ranges(d(2031, 3, 29), d(2031, 3, 31), zone).unwrap();
        let hours: Vec<i64> = days
            .iter()
            .map(|r| (r.ends_at() - r.starts_at()).num_hours())
            .collect();
        assert_eq!(
            hours,
            [24, 23, 24],
            "the spring-forward day is 23 hours long"
        );
        assert_eq!(
            days[0].starts_at().to_rfc3339(),
            "2031-03-28T23:00:00+00:00"
        );
        assert!(days.windows(2).all(|w| w[0].ends_at() == w[1].starts_at()));
    }

    #[test]
    fn a_day_whose_midnight_was_skipped_starts_when_the_clocks_jumped() {
        // Santiago skipped 2022-09-11 00:00..01:00.
        let zone: Tz = "America/Santiago".parse().unwrap();
        let days = day_ranges(d(2022, 9, 11), d(2022, 9, 11), zone).unwrap();
        assert_eq!(
            days[0].starts_at().to_rfc3339(),
            "2022-09-11T04:00:00+00:00"
        );
    }

    #[test]
    fn spans_backwards_or_too_long_are_refused_naming_to() {
        let zone = Tz::UTC;
        for (first, last) in [
            (d(2031, 3, 2), d(2031, 3, 1)),
            (d(2031, 3, 1), d(2031, 5, 2)),
        ] {
            assert!(matches!(
                day_ranges(first, last, zone),
                Err(Error::Validation { field: "to", .. })
            ));
        }
        assert_eq!(
            day_ranges(d(2031, 3, 1), d(2031, 5, 1), zone)
                .unwrap()
                .len(),
            62
        );
    }

    #[test]
    fn the_window_clips_the_first_and_last_days_and_drops_the_rest() {
        let zone = Tz::UTC;
        let days = day_ranges(d(2031, 3, 1), d(2031, 3, 5), zone).unwrap();
        let noon = days[1].starts_at() + Duration::hours(12);
        let window = BookingWindow::at(noon, Duration::zero(), Duration::days(1));
        let parts = within_window(&days, &window);
        let indexes: Vec<usize> = parts.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [1, 2]);
        assert_eq!(parts[0].1.starts_at(), noon);
        assert_eq!(parts[0].1.ends_at(), parts[1].1.starts_at());
        assert_eq!(
            parts[1].1.ends_at(),
            noon + Duration::days(1) + Duration::microseconds(1)
        );
    }
}
