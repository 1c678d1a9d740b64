//! Bookings: who holds which slot, in which status. The rules that move a booking from one status
//! to another live in [`crate::state`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, StoreError};
use crate::ids::{BookingId, PatientId, SlotId};

/// The status of a booking, as stored and as shown to users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatus {
    /// A hold on the slot for one patient, until `hold_until`; confirm it to keep the slot.
    Pending,
    /// The patient has the slot.
    Confirmed,
    /// Cancelled (by the patient, or by an admin once the buffer window ended); final.
    Cancelled,
    /// Cancelled by an admin; the slot stays out of the public pool until `buffer_until`.
    Buffer,
    /// The hold lapsed without a confirmation; final.
    Expired,
    /// Moved to another slot: a new `CONFIRMED` booking took its place; final.
    Rescheduled,
}

impl BookingStatus {
    /// Every status, for exhaustive tests and UI filters.
    pub const ALL: [BookingStatus; 6] = [
        BookingStatus::Pending,
        BookingStatus::Confirmed,
        BookingStatus::Cancelled,
        BookingStatus::Buffer,
        BookingStatus::Expired,
        BookingStatus::Rescheduled,
    ];

    /// The stored spelling: `PENDING`, `CONFIRMED`, `CANCELLED`, `BUFFER`, `EXPIRED` or
    /// `RESCHEDULED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Pending => "PENDING",
            BookingStatus::Confirmed => "CONFIRMED",
            BookingStatus::Cancelled => "CANCELLED",
            BookingStatus::Buffer => "BUFFER",
            BookingStatus::Expired => "EXPIRED",
            BookingStatus::Rescheduled => "RESCHEDULED",
        }
    }

    /// Whether a booking in this status may still keep its slot out of the pool (subject to
    /// its hold or buffer time). Stores index these statuses: at most one per slot.
    pub const fn may_occupy_slot(self) -> bool {
        match self {
            BookingStatus::Pending | BookingStatus::Confirmed | BookingStatus::Buffer => true,
            BookingStatus::Cancelled | BookingStatus::Expired | BookingStatus::Rescheduled => false,
        }
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BookingStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        BookingStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::validation(
                    "status",
                    format!(
                        "{s:?} is not a booking status (PENDING, CONFIRMED, CANCELLED, BUFFER, EXPIRED, RESCHEDULED)"
                    ),
                )
            })
    }
}

/// Who cancelled a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    /// The patient who owned the booking.
    Patient,
    /// A clinic administrator.
    Admin,
}

impl CancelledBy {
    /// The stored spelling: `patient` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelledBy::Patient => "patient",
            CancelledBy::Admin => "admin",
        }
    }
}

impl FromStr for CancelledBy {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "patient" => Ok(CancelledBy::Patient),
            "admin" => Ok(CancelledBy::Admin),
            other => Err(StoreError::Corrupt(format!("unknown canceller {other:?}"))),
        }
    }
}

/// A booking's status together with the data that status needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookingState {
    /// Held for the patient until `hold_until`.
    Pending {
        /// When the hold lapses.
        hold_until: DateTime<Utc>,
    },
    /// Booked.
    Confirmed,
    /// Cancelled by an admin; the slot is kept out of the pool until `buffer_until`.
    Buffer {
        /// When the slot returns to the public pool.
        buffer_until: DateTime<Utc>,
        /// The admin's reason, if given.
        reason: Option<String>,
    },
    /// Cancelled; final.
    Cancelled {
        /// Who cancelled.
        by: CancelledBy,
        /// The reason given, if any.
        reason: Option<String>,
        /// For an admin's cancellation: when its buffer window ended.
        buffer_until: Option<DateTime<Utc>>,
    },
    /// The hold lapsed; final.
    Expired {
        /// When the hold lapsed.
        hold_until: DateTime<Utc>,
    },
    /// Moved to another slot; final. The new booking links back with
    /// [`Booking::rescheduled_from`].
    Rescheduled {
        /// The booking that took this one's place.
        to: BookingId,
    },
}

impl BookingState {
    /// The stored status of this state.
    pub const fn status(&self) -> BookingStatus {
        match self {
            BookingState::Pending { .. } => BookingStatus::Pending,
            BookingState::Confirmed => BookingStatus::Confirmed,
            BookingState::Buffer { .. } => BookingStatus::Buffer,
            BookingState::Cancelled { .. } => BookingStatus::Cancelled,
            BookingState::Expired { .. } => BookingStatus::Expired,
            BookingState::Rescheduled { .. } => BookingStatus::Rescheduled,
        }
    }

    /// Whether this booking keeps its slot out of the public pool at instant `now`: confirmed,
    /// a hold that has not lapsed, or a buffer window that has not ended.
    pub fn occupies_slot_at(&self, now: DateTime<Utc>) -> bool {
        match self {
            BookingState::Confirmed => true,
            BookingState::Pending { hold_until } => *hold_until > now,
            BookingState::Buffer { buffer_until, .. } => *buffer_until > now,
            BookingState::Cancelled { .. }
            | BookingState::Expired { .. }
            | BookingState::Rescheduled { .. } => false,
        }
    }

    /// The status a reader should see at `now`: a lapsed hold reads as `EXPIRED` and an ended
    /// buffer as `CANCELLED`, whether or not a sweeper has tidied the stored status yet.
    pub fn status_at(&self, now: DateTime<Utc>) -> BookingStatus {
        match self {
            BookingState::Pending { hold_until } if *hold_until <= now => BookingStatus::Expired,
            BookingState::Buffer { buffer_until, .. } if *buffer_until <= now => {
                BookingStatus::Cancelled
            }
            state => state.status(),
        }
    }

    /// The state as flat columns, for stores that keep one column per field.
    pub fn to_parts(&self) -> StateParts {
        let mut parts = StateParts {
            status: self.status(),
            hold_until: None,
            buffer_until: None,
            cancelled_by: None,
            cancel_reason: None,
            rescheduled_to: None,
        };
        match self {
            BookingState::Pending { hold_until } | BookingState::Expired { hold_until } => {
                parts.hold_until = Some(*hold_until);
            }
            BookingState::Confirmed => {}
            BookingState::Buffer {
                buffer_until,
                reason,
            } => {
                parts.buffer_until = Some(*buffer_until);
                parts.cancelled_by = Some(CancelledBy::Admin);
                parts.cancel_reason.clone_from(reason);
            }
            BookingState::Cancelled {
                by,
                reason,
                buffer_until,
            } => {
                parts.cancelled_by = Some(*by);
                parts.cancel_reason.clone_from(reason);
                parts.buffer_until = *buffer_until;
            }
            BookingState::Rescheduled { to } => parts.rescheduled_to = Some(*to),
        }
        parts
    }

    /// Rebuilds a state from flat columns.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when a field the status needs is missing.
    pub fn from_parts(parts: StateParts) -> Result<Self, StoreError> {
        let missing = |field: &str| {
            StoreError::Corrupt(format!(
                "a {} booking has no {field}",
                parts.status.as_str()
            ))
        };
        Ok(match parts.status {
            BookingStatus::Pending => BookingState::Pending {
                hold_until: parts.hold_until.ok_or_else(|| missing("hold_until"))?,
            },
            BookingStatus::Confirmed => BookingState::Confirmed,
            BookingStatus::Buffer => BookingState::Buffer {
                buffer_until: parts.buffer_until.ok_or_else(|| missing("buffer_until"))?,
                reason: parts.cancel_reason,
            },
            BookingStatus::Cancelled => BookingState::Cancelled {
                by: parts.cancelled_by.ok_or_else(|| missing("cancelled_by"))?,
                reason: parts.cancel_reason,
                buffer_until: parts.buffer_until,
            },
            BookingStatus::Expired => BookingState::Expired {
                hold_until: parts.hold_until.ok_or_else(|| missing("hold_until"))?,
            },
            BookingStatus::Rescheduled => BookingState::Rescheduled {
                to: parts
                    .rescheduled_to
                    .ok_or_else(|| missing("rescheduled_to"))?,
            },
        })
    }
}

/// A [`BookingState`] spread over flat, nullable columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateParts {
    /// The stored status.
    pub status: BookingStatus,
    /// Set for `PENDING` and `EXPIRED`.
    pub hold_until: Option<DateTime<Utc>>,
    /// Set for `BUFFER`, and kept when a buffer ends as `CANCELLED`.
    pub buffer_until: Option<DateTime<Utc>>,
    /// Set for `BUFFER` (always admin) and `CANCELLED`.
    pub cancelled_by: Option<CancelledBy>,
    /// The optional reason given on cancellation.
    pub cancel_reason: Option<String>,
    /// Set for `RESCHEDULED`: the booking that took its place.
    pub rescheduled_to: Option<BookingId>,
}

/// A client-chosen key that makes a retried booking request return the first booking instead of
/// booking again. Unique per patient.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest accepted key.
    pub const MAX_LEN: usize = 200;

    /// Validates a key: 1 to 200 visible ASCII characters.
    ///
    /// # Errors
    /// [`Error::Validation`] on `Idempotency-Key` otherwise.
    pub fn new(key: &str) -> Result<Self> {
        let ok = !key.is_empty()
            && key.len() <= Self::MAX_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(key.to_owned()))
        } else {
            Err(Error::validation(
                "Idempotency-Key",
                "must be 1 to 200 visible ASCII characters",
            ))
        }
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A booking as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// The booking's id.
    pub id: BookingId,
    /// The booked slot.
    pub slot_id: SlotId,
    /// The patient who owns the booking.
    pub patient_id: PatientId,
    /// Status and the data that goes with it.
    pub state: BookingState,
    /// The key the booking request carried, if any.
    pub idempotency_key: Option<IdempotencyKey>,
    /// When the booking was made.
    pub created_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
    /// The booking this one replaced when it was made by a reschedule (that booking is now
    /// [`BookingState::Rescheduled`] and links here).
    pub rescheduled_from: Option<BookingId>,
    /// What the patient said the visit is for, if anything: free text of at most
    /// [`MAX_REASON_CHARS`](crate::engine::MAX_REASON_CHARS) characters, kept when the booking is
    /// rescheduled.
    pub visit_reason: Option<String>,
}

impl Booking {
    /// The stored status.
    pub fn status(&self) -> BookingStatus {
        self.state.status()
    }
}

/// What can happen to an existing booking. Creating one is not an event: see
/// [`crate::state::check_bookable`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The owning patient confirms a hold.
    Confirm {
        /// Who asks.
        patient: PatientId,
    },
    /// The owning patient cancels.
    CancelByPatient {
        /// Who asks.
        patient: PatientId,
        /// An optional reason.
        reason: Option<String>,
    },
    /// An admin cancels; a confirmed booking keeps the slot for `buffer` more.
    CancelByAdmin {
        /// An optional reason.
        reason: Option<String>,
        /// The buffer window to apply.
        buffer: chrono::Duration,
    },
    /// Time ran out on a hold or a buffer; the stored status is tidied to match.
    Expire,
    /// The owning patient moves a confirmed booking to another slot; booking `to` takes its
    /// place.
    RescheduleByPatient {
        /// Who asks.
        patient: PatientId,
        /// The new booking.
        to: BookingId,
    },
    /// An admin moves a confirmed booking to another slot; booking `to` takes its place.
    RescheduleByAdmin {
        /// The new booking.
        to: BookingId,
    },
}

impl Event {
    /// The kind of event, without its data.
    pub const fn kind(&self) -> EventKind {
        match self {
            Event::Confirm { .. } => EventKind::Confirm,
            Event::CancelByPatient { .. } => EventKind::CancelByPatient,
            Event::CancelByAdmin { .. } => EventKind::CancelByAdmin,
            Event::Expire => EventKind::Expire,
            Event::RescheduleByPatient { .. } => EventKind::RescheduleByPatient,
            Event::RescheduleByAdmin { .. } => EventKind::RescheduleByAdmin,
        }
    }
}

/// The kind of an [`Event`], for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// See [`Event::Confirm`].
    Confirm,
    /// See [`Event::CancelByPatient`].
    CancelByPatient,
    /// See [`Event::CancelByAdmin`].
    CancelByAdmin,
    /// See [`Event::Expire`].
    Expire,
    /// See [`Event::RescheduleByPatient`].
    RescheduleByPatient,
    /// See [`Event::RescheduleByAdmin`].
    RescheduleByAdmin,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Confirm => "confirmed",
            EventKind::CancelByPatient => "cancelled by its patient",
            EventKind::CancelByAdmin => "cancelled by an admin",
            EventKind::Expire => "expired",
            EventKind::RescheduleByPatient => "rescheduled by its patient",
            EventKind::RescheduleByAdmin => "rescheduled by an admin",
        })
    }
}

/// A booking with the slot and doctor it is for, as listings show it (read in one query, so a
/// page of bookings never costs a query per row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingView {
    /// The booking.
    pub booking: Booking,
    /// Its slot (also when the slot was withdrawn later).
    pub slot: crate::Slot,
    /// The slot's doctor (also when the doctor was deleted later).
    pub doctor: crate::Doctor,
}

/// Where a page of bookings ends: the last booking listed. In the default order (newest first,
/// by id; ids are time-ordered) the next page holds smaller ids; in an appointment order, the
/// store reads this booking's slot start and continues after `(start, id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BookingCursor(pub BookingId);

/// The order of a listing of bookings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BookingOrder {
    /// Newest booking first, by id (ids are time-ordered): the order in which they were made.
    #[default]
    Newest,
    /// Soonest appointment first: by the slot's start, then by booking id.
    SoonestAppointment,
    /// Latest appointment first: by the slot's start, then by booking id, both descending.
    LatestAppointment,
}

impl BookingOrder {
    /// Whether `view` comes after the booking at `cursor` in this order. For the appointment
    /// orders, `cursor` is the cursor booking's view (its slot start and id); a store that
    /// cannot find the cursor's booking returns an empty page.
    pub fn is_after(self, view: &BookingView, cursor: &BookingView) -> bool {
        let key = |v: &BookingView| (v.slot.range.starts_at(), v.booking.id);
        match self {
            BookingOrder::Newest => view.booking.id < cursor.booking.id,
            BookingOrder::SoonestAppointment => key(view) > key(cursor),
            BookingOrder::LatestAppointment => key(view) < key(cursor),
        }
    }
}

impl crate::page::Cursor for BookingCursor {
    fn encode(&self) -> String {
        self.0.to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        text.parse().ok().map(BookingCursor)
    }
}

/// Which bookings to list. Empty filters match every booking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookingQuery {
    /// Only this patient's bookings.
    pub patient_id: Option<PatientId>,
    /// Only bookings of this doctor's slots.
    pub doctor_id: Option<crate::DoctorId>,
    /// Only bookings of this slot.
    pub slot_id: Option<SlotId>,
    /// Only bookings whose status, read at the listing instant, is this (a lapsed hold counts as
    /// `EXPIRED`, an ended buffer as `CANCELLED`; see [`BookingState::status_at`]).
    pub status: Option<BookingStatus>,
    /// Only bookings of slots starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only bookings of slots starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this cursor (see [`BookingOrder`] for what "after" means).
    pub after: Option<BookingCursor>,
    /// At most this many bookings (1 to [`crate::page::MAX_PAGE_SIZE`]).
    pub limit: u32,
    /// The order of the listing.
    pub order: BookingOrder,
}

impl BookingQuery {
    /// Checks that `from` and `to` lie in the range every store can represent (see
    /// [`instant`](crate::instant)). The engine calls it before listing.
    ///
    /// # Errors
    /// [`Error::Validation`] on `from` or `to`.
    pub fn validate(&self) -> Result<()> {
        crate::instant::check_filter("from", self.from)?;
        crate::instant::check_filter("to", self.to)
    }

    /// Whether a booking passes every filter at `now` (the limit aside; the cursor only in the
    /// default order, as an appointment order needs the cursor booking's slot: see
    /// [`BookingOrder::is_after`]). Stores that filter in memory use this; SQL stores express
    /// the same rule in their query.
    pub fn matches(&self, view: &BookingView, now: DateTime<Utc>) -> bool {
        let b = &view.booking;
        let starts_at = view.slot.range.starts_at();
        self.patient_id.is_none_or(|p| b.patient_id == p)
            && self.doctor_id.is_none_or(|d| view.slot.doctor_id == d)
            && self.slot_id.is_none_or(|s| b.slot_id == s)
            && self.status.is_none_or(|s| b.state.status_at(now) == s)
            && self.from.is_none_or(|from| starts_at >= from)
            && self.to.is_none_or(|to| starts_at < to)
            && (self.order != BookingOrder::Newest
                || self.after.is_none_or(|BookingCursor(after)| b.id < after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn every_state_round_trips_through_flat_parts() {
        let t = Utc::now();
        let states = [
            BookingState::Pending { hold_until: t },
            BookingState::Confirmed,
            BookingState::Buffer {
                buffer_until: t,
                reason: Some("doctor ill".into()),
            },
            BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: None,
                buffer_until: Some(t),
            },
            BookingState::Cancelled {
                by: CancelledBy::Patient,
                reason: Some("better".into()),
                buffer_until: None,
            },
            BookingState::Expired { hold_until: t },
            BookingState::Rescheduled {
                to: BookingId::new(),
            },
        ];
        for state in states {
            assert_eq!(BookingState::from_parts(state.to_parts()).unwrap(), state);
        }
    }

    #[test]
    fn parts_missing_a_needed_time_are_corrupt() {
        let parts = StateParts {
            status: BookingStatus::Buffer,
            hold_until: None,
            buffer_until: None,
            cancelled_by: Some(CancelledBy::Admin),
            cancel_reason: None,
            rescheduled_to: None,
        };
        assert!(matches!(
            BookingState::from_parts(parts),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn lapsed_holds_and_buffers_read_as_final_statuses() {
        let t = Utc::now();
        let hold = BookingState::Pending { hold_until: t };
        assert_eq!(
            hold.status_at(t - Duration::seconds(1)),
            BookingStatus::Pending
        );
        assert_eq!(hold.status_at(t), BookingStatus::Expired);
        assert!(!hold.occupies_slot_at(t));
        let buffer = BookingState::Buffer {
            buffer_until: t,
            reason: None,
        };
        assert!(buffer.occupies_slot_at(t - Duration::seconds(1)));
        assert_eq!(buffer.status_at(t), BookingStatus::Cancelled);
    }

    #[test]
    fn status_parses_ignoring_case_and_names_the_field_when_unknown() {
        assert_eq!(
            "buffer".parse::<BookingStatus>().unwrap(),
            BookingStatus::Buffer
        );
        assert!(matches!(
            "BOOKED".parse::<BookingStatus>(),
            Err(Error::Validation {
                field: "status",
                ..
            })
        ));
    }

    #[test]
    fn idempotency_keys_must_be_visible_ascii() {
        assert!(IdempotencyKey::new("abc-123").is_ok());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("has space").is_err());
        assert!(IdempotencyKey::new(&"x".repeat(201)).is_err());
    }
}
