//! Slots: the time ranges doctors publish, and how a slot's availability is read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::{Booking, BookingState};
use crate::error::{Error, Result};
use crate::ids::{DoctorId, SlotId};
use crate::instant;
use crate::page::Cursor;
use crate::text;

/// A half-open time range `[starts_at, ends_at)` whose end is after its start.
///
/// Deserializing checks it as [`TimeRange::new`] does, so no invalid range exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "UncheckedRange")]
pub struct TimeRange {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// A range as read, before [`TimeRange::new`] checks it.
#[derive(Deserialize)]
struct UncheckedRange {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

impl TryFrom<UncheckedRange> for TimeRange {
    type Error = Error;

    fn try_from(range: UncheckedRange) -> Result<Self> {
        TimeRange::new(range.starts_at, range.ends_at)
    }
}

impl TimeRange {
    /// A range from `starts_at` to `ends_at`, both truncated to whole microseconds: the
    /// precision every store keeps, so a slot reads back (and pages) exactly as it was made.
    ///
    /// # Errors
    /// [`Error::Validation`] on `starts_at` or `ends_at` when it lies outside the instants every
    /// store can represent (see [`instant`](crate::instant)), on `ends_at` unless it is after
    /// `starts_at`.
    pub fn new(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<Self> {
        let starts_at = instant::check("starts_at", to_micros(starts_at))?;
        let ends_at = instant::check("ends_at", to_micros(ends_at))?;
        if ends_at <= starts_at {
            return Err(Error::validation("ends_at", "must be after starts_at"));
        }
        Ok(Self { starts_at, ends_at })
    }

    /// Start (inclusive).
    pub const fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    /// End (exclusive).
    pub const fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }

    /// Whether the two ranges share any instant. Ranges that only touch do not overlap.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.starts_at < other.ends_at && other.starts_at < self.ends_at
    }
}

/// `at` without its sub-microsecond part.
pub(crate) fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.timestamp_subsec_nanos();
    at - chrono::Duration::nanoseconds(i64::from(nanos % 1_000))
}

/// A published slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The slot's id.
    pub id: SlotId,
    /// The doctor who offers it.
    pub doctor_id: DoctorId,
    /// When it takes place.
    pub range: TimeRange,
    /// When it was published.
    pub created_at: DateTime<Utc>,
}

/// How a slot reads at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum SlotStatus {
    /// Free to book.
    Available,
    /// Held by a patient until `until`.
    Held {
        /// When the hold lapses.
        until: DateTime<Utc>,
    },
    /// Booked.
    Booked,
    /// Out of the pool after an admin's cancellation, until `until`.
    Buffer {
        /// When the slot returns to the pool.
        until: DateTime<Utc>,
    },
    /// Already started; it can no longer be booked.
    Started,
}

impl SlotStatus {
    /// Reads a slot's status at `now` from its occupying booking, if any.
    ///
    /// `occupant` is the slot's booking in a status that may occupy it (see
    /// [`BookingStatus::may_occupy_slot`](crate::BookingStatus::may_occupy_slot)); a lapsed hold
    /// or ended buffer is treated as free.
    pub fn at(slot: &Slot, occupant: Option<&Booking>, now: DateTime<Utc>) -> Self {
        match occupant.map(|b| &b.state) {
            Some(BookingState::Confirmed) => SlotStatus::Booked,
            Some(BookingState::Pending { hold_until }) if *hold_until > now => {
                SlotStatus::Held { until: *hold_until }
            }
            Some(BookingState::Buffer { buffer_until, .. }) if *buffer_until > now => {
                SlotStatus::Buffer {
                    until: *buffer_until,
                }
            }
            Some(
                BookingState::Pending { .. }
                | BookingState::Buffer { .. }
                | BookingState::Cancelled { .. }
                | BookingState::Expired { .. }
                | BookingState::Rescheduled { .. },
            )
            | None => {
                if slot.range.starts_at() > now {
                    SlotStatus::Available
                } else {
                    SlotStatus::Started
                }
            }
        }
    }

    /// Whether a patient can book the slot now.
    pub const fn is_available(&self) -> bool {
        matches!(self, SlotStatus::Available)
    }
}

/// A slot with its status at the instant it was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotView {
    /// The slot.
    pub slot: Slot,
    /// Its status when read.
    pub status: SlotStatus,
}

/// Where a page of slots ends: slots are ordered by start time, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotCursor {
    /// Start of the last slot on the previous page.
    pub starts_at: DateTime<Utc>,
    /// Id of the last slot on the previous page.
    pub id: SlotId,
}

impl SlotCursor {
    /// The cursor that continues after `slot`.
    pub fn after(slot: &Slot) -> Self {
        Self {
            starts_at: slot.range.starts_at(),
            id: slot.id,
        }
    }

    /// Whether `slot` comes after this cursor in listing order.
    pub fn precedes(&self, slot: &Slot) -> bool {
        (slot.range.starts_at(), slot.id) > (self.starts_at, self.id)
    }
}

impl Cursor for SlotCursor {
    fn encode(&self) -> String {
        format!("{}_{}", self.starts_at.timestamp_micros(), self.id)
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let starts_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        // No slot starts outside the representable range, so no cursor points there.
        instant::is_representable(starts_at).then_some(())?;
        Some(Self {
            starts_at,
            id: id.parse().ok()?,
        })
    }
}

/// Which slots to list. Withdrawn slots are never listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotQuery {
    /// Only this doctor's slots.
    pub doctor_id: Option<DoctorId>,
    /// Only slots of doctors with this specialization (ignoring case).
    pub specialization: Option<String>,
    /// Only slots starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only slots starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// `Some(true)`: only bookable slots; `Some(false)`: only slots that are not; `None`: all.
    pub available: Option<bool>,
    /// Continue after this cursor.
    pub after: Option<SlotCursor>,
    /// At most this many slots (1 to [`crate::page::MAX_PAGE_SIZE`]).
    pub limit: u32,
}

impl SlotQuery {
    /// Checks that the filters hold only what every store can search with: text without
    /// control characters (see [`text`](crate::text)) and instants in the representable range
    /// (see [`instant`](crate::instant)). The engine calls it before listing.
    ///
    /// # Errors
    /// [`Error::Validation`] on `specialization`, `from` or `to`.
    pub fn validate(&self) -> Result<()> {
        text::check_filter("specialization", self.specialization.as_deref())?;
        instant::check_filter("from", self.from)?;
        instant::check_filter("to", self.to)?;
        if let Some(after) = &self.after {
            instant::check("cursor", after.starts_at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_whole_microseconds_so_cursors_are_exact() {
        let start = DateTime::from_timestamp(1_900_000_000, 123_456_789).unwrap();
        let range = TimeRange::new(start, start + chrono::Duration::minutes(30)).unwrap();
        assert_eq!(range.starts_at().timestamp_subsec_nanos(), 123_456_000);
        let slot = Slot {
            id: SlotId::new(),
            doctor_id: DoctorId::new(),
            range,
            created_at: start,
        };
        let cursor = SlotCursor::after(&slot);
        assert_eq!(SlotCursor::decode(&cursor.encode()), Some(cursor));
        assert!(
            !cursor.precedes(&slot),
            "the slot itself is not on the next page"
        );
    }

    #[test]
    fn a_range_shorter_than_a_microsecond_is_refused() {
        let start = DateTime::from_timestamp(1_900_000_000, 100).unwrap();
        let end = start + chrono::Duration::nanoseconds(500);
        assert!(TimeRange::new(start, end).is_err());
        assert!(TimeRange::new(start, start - chrono::Duration::seconds(1)).is_err());
    }

    #[test]
    fn deserializing_checks_the_range_as_new_does() {
        use serde::de::value::{Error as DeError, MapDeserializer};
        let read = |starts_at: &'static str, ends_at: &'static str| {
            let fields = [("starts_at", starts_at), ("ends_at", ends_at)];
            TimeRange::deserialize(MapDeserializer::<_, DeError>::new(fields.into_iter()))
        };
        let range = read("2030-01-01T09:00:00Z", "2030-01-01T09:30:00Z").unwrap();
        assert_eq!(
            range.ends_at() - range.starts_at(),
            chrono::Duration::minutes(30)
        );
        assert!(read("2030-01-01T09:30:00Z", "2030-01-01T09:00:00Z").is_err());
        assert!(read("+10000-01-01T00:00:00Z", "+10000-01-01T00:30:00Z").is_err());
    }

    #[test]
    fn touching_ranges_do_not_overlap() {
        let t = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let m = chrono::Duration::minutes(30);
        let a = TimeRange::new(t, t + m).unwrap();
        let b = TimeRange::new(t + m, t + m + m).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        let c = TimeRange::new(t + chrono::Duration::minutes(29), t + m + m).unwrap();
        assert!(a.overlaps(&c));
    }
}
