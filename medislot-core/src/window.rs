//! The booking window: how soon and how far ahead a patient may book. A clinic sets it in its
//! [`Policy`](crate::Policy) (`min_notice`, `horizon`); at an instant it becomes the range of
//! slot starts a patient may book, hold or reschedule to, and the range "finding a time"
//! searches in, so what is offered can be booked.

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::slot::Slot;

/// The slot starts a patient may book at one instant: from `now + min_notice` to
/// `now + horizon`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingWindow {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
}

impl BookingWindow {
    /// The window at `now` of a policy with this minimum notice and horizon (as
    /// [`Policy::window`](crate::Policy::window) gives it). An instant past the representable
    /// range is clamped to it.
    pub fn at(now: DateTime<Utc>, min_notice: Duration, horizon: Duration) -> Self {
        let after = |span: Duration| {
            now.checked_add_signed(span)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        Self {
            earliest: after(min_notice),
            latest: after(horizon),
        }
    }

    /// The earliest start a patient may book (included).
    pub fn earliest(&self) -> DateTime<Utc> {
        self.earliest
    }

    /// The latest start a patient may book (included).
    pub fn latest(&self) -> DateTime<Utc> {
        self.latest
    }

    /// Whether a slot starting at `starts_at` may be booked.
    pub fn contains(&self, starts_at: DateTime<Utc>) -> bool {
        self.earliest <= starts_at && starts_at <= self.latest
    }

    /// Decides whether a patient may book, hold or move a booking to `slot` now.
    ///
    /// # Errors
    /// [`Error::TooSoon`] naming the earliest allowed start when the slot starts before it;
    /// [`Error::TooFarAhead`] naming the latest allowed start when the slot starts after it.
    pub fn check(&self, slot: &Slot) -> Result<()> {
        let starts_at = slot.range.starts_at();
        if starts_at < self.earliest {
            Err(Error::TooSoon {
                slot: slot.id,
                earliest: self.earliest,
            })
        } else if starts_at > self.latest {
            Err(Error::TooFarAhead {
                slot: slot.id,
                latest: self.latest,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DoctorId, SlotId};
    use crate::slot::TimeRange;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn slot_at(minutes: i64) -> Slot {
        Slot {
            id: SlotId::new(),
            doctor_id: DoctorId::new(),
            range: TimeRange::new(at(minutes), at(minutes + 30)).unwrap(),
            created_at: at(0),
        }
    }

    #[test]
    fn both_ends_of_the_window_are_included_and_refusals_name_them() {
        let window = BookingWindow::at(at(0), Duration::minutes(60), Duration::minutes(600));
        assert!(window.check(&slot_at(60)).is_ok());
        assert!(window.check(&slot_at(600)).is_ok());
        assert!(matches!(
            window.check(&slot_at(59)),
            Err(Error::TooSoon { earliest, .. }) if earliest == at(60)
        ));
        assert!(matches!(
            window.check(&slot_at(601)),
            Err(Error::TooFarAhead { latest, .. }) if latest == at(600)
        ));
    }

    #[test]
    fn a_horizon_past_the_last_instant_is_clamped() {
        let window = BookingWindow::at(
            DateTime::<Utc>::MAX_UTC,
            Duration::zero(),
            Duration::days(1),
        );
        assert_eq!(window.latest(), DateTime::<Utc>::MAX_UTC);
    }
}
