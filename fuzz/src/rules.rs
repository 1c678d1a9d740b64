//! The booking rules written out plainly, as the oracle both targets check medislot-core against.
//! Deliberately independent of `medislot_core::state`: only its data types are shared, so a
//! change to a rule there shows up here as a disagreement.

use chrono::{DateTime, Utc};
use medislot_core::{
    Booking, BookingId, BookingState, BookingStatus, CancelledBy, DoctorId, EntryStatus, Error,
    Event, EventKind, SlotId, WaitlistEntryId,
};

/// A refusal, with the ids it names: what both the engine and the model answer instead of a
/// booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    SlotNotFound(SlotId),
    BookingNotFound(BookingId),
    SlotUnavailable(SlotId),
    SlotInPast(SlotId),
    SlotHasActiveBooking(SlotId),
    DoctorNotFound(DoctorId),
    DoctorHasActiveBookings(DoctorId),
    SlotOverlap {
        doctor: DoctorId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    NotOwner(BookingId),
    HoldExpired(BookingId),
    TooLateToChange {
        booking: BookingId,
        allowed_until: DateTime<Utc>,
    },
    InvalidTransition {
        from: BookingStatus,
        event: EventKind,
    },
    Validation {
        field: &'static str,
    },
    WaitlistFull,
    WaitlistEntryNotFound(WaitlistEntryId),
    WaitlistEntryNotWaiting {
        id: WaitlistEntryId,
        status: EntryStatus,
    },
}

impl Refusal {
    /// The refusal an engine error stands for.
    ///
    /// # Panics
    /// On an error none of the fuzzed operations may give (a storage failure, say).
    pub(crate) fn of(error: &Error) -> Self {
        match error {
            Error::SlotNotFound(id) => Refusal::SlotNotFound(*id),
            Error::BookingNotFound(id) => Refusal::BookingNotFound(*id),
            Error::SlotUnavailable(id) => Refusal::SlotUnavailable(*id),
            Error::SlotInPast(id) => Refusal::SlotInPast(*id),
            Error::SlotHasActiveBooking(id) => Refusal::SlotHasActiveBooking(*id),
            Error::DoctorNotFound(id) => Refusal::DoctorNotFound(*id),
            Error::DoctorHasActiveBookings(id) => Refusal::DoctorHasActiveBookings(*id),
            Error::SlotOverlap {
                doctor_id,
                starts_at,
                ends_at,
            } => Refusal::SlotOverlap {
                doctor: *doctor_id,
                starts_at: *starts_at,
                ends_at: *ends_at,
            },
            Error::NotOwner(id) => Refusal::NotOwner(*id),
            Error::HoldExpired(id) => Refusal::HoldExpired(*id),
            Error::TooLateToChange {
                booking,
                allowed_until,
            } => Refusal::TooLateToChange {
                booking: *booking,
                allowed_until: *allowed_until,
            },
            Error::InvalidTransition { from, event } => Refusal::InvalidTransition {
                from: *from,
                event: *event,
            },
            Error::Validation { field, .. } => Refusal::Validation { field },
            Error::WaitlistFull { .. } => Refusal::WaitlistFull,
            Error::WaitlistEntryNotFound(id) => Refusal::WaitlistEntryNotFound(*id),
            Error::WaitlistEntryNotWaiting { id, status } => Refusal::WaitlistEntryNotWaiting {
                id: *id,
                status: *status,
            },
            other => panic!("an error no fuzzed operation may give: {other:?}"),
        }
    }
}

/// Where a state stands at an instant: its stored status, split by whether its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    LiveHold,
    LapsedHold,
    Confirmed,
    LiveBuffer,
    EndedBuffer,
    Cancelled,
    Expired,
    Rescheduled,
}

fn phase(state: &BookingState, now: DateTime<Utc>) -> Phase {
    match state {
        BookingState::Pending { hold_until } if *hold_until > now => Phase::LiveHold,
        BookingState::Pending { .. } => Phase::LapsedHold,
        BookingState::Confirmed => Phase::Confirmed,
        BookingState::Buffer { buffer_until, .. } if *buffer_until > now => Phase::LiveBuffer,
        BookingState::Buffer { .. } => Phase::EndedBuffer,
        BookingState::Cancelled { .. } => Phase::Cancelled,
        BookingState::Expired { .. } => Phase::Expired,
        BookingState::Rescheduled { .. } => Phase::Rescheduled,
    }
}

/// Whether the stored status is one that may hold a slot: at most one such booking per slot.
pub(crate) fn may_occupy(state: &BookingState) -> bool {
    matches!(
        state,
        BookingState::Pending { .. } | BookingState::Confirmed | BookingState::Buffer { .. }
    )
}

/// Whether the booking keeps its slot out of the pool at `now`.
pub(crate) fn occupies(state: &BookingState, now: DateTime<Utc>) -> bool {
    matches!(
        phase(state, now),
        Phase::LiveHold | Phase::Confirmed | Phase::LiveBuffer
    )
}

/// The status a reader sees at `now`: a lapsed hold reads as expired, an ended buffer as
/// cancelled.
pub(crate) fn seen_status(state: &BookingState, now: DateTime<Utc>) -> BookingStatus {
    match phase(state, now) {
        Phase::LiveHold => BookingStatus::Pending,
        Phase::LapsedHold | Phase::Expired => BookingStatus::Expired,
        Phase::Confirmed => BookingStatus::Confirmed,
        Phase::LiveBuffer => BookingStatus::Buffer,
        Phase::EndedBuffer | Phase::Cancelled => BookingStatus::Cancelled,
        Phase::Rescheduled => BookingStatus::Rescheduled,
    }
}

/// What `event` must do to `booking` at `now`, as a table of (phase, event) pairs.
pub(crate) fn transition(
    booking: &Booking,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<BookingState, Refusal> {
    let cancelled = |by, reason: &Option<String>| BookingState::Cancelled {
        by,
        reason: reason.clone(),
        buffer_until: None,
    };
    let state = &booking.state;
    match (phase(state, now), event) {
        (
            _,
            Event::Confirm { patient }
            | Event::CancelByPatient { patient, .. }
            | Event::RescheduleByPatient { patient, .. },
        ) if *patient != booking.patient_id => Err(Refusal::NotOwner(booking.id)),
        (
            Phase::Confirmed,
            Event::RescheduleByPatient { to, .. } | Event::RescheduleByAdmin { to },
        ) => Ok(BookingState::Rescheduled { to: *to }),
        (Phase::LiveHold, Event::Confirm { .. }) => Ok(BookingState::Confirmed),
        (Phase::LapsedHold, Event::Confirm { .. }) => Err(Refusal::HoldExpired(booking.id)),
        (Phase::LiveHold | Phase::Confirmed, Event::CancelByPatient { reason, .. }) => {
            Ok(cancelled(CancelledBy::Patient, reason))
        }
        (Phase::LiveHold, Event::CancelByAdmin { reason, .. }) => {
            Ok(cancelled(CancelledBy::Admin, reason))
        }
        (Phase::Confirmed, Event::CancelByAdmin { reason, buffer }) => Ok(BookingState::Buffer {
            buffer_until: now + *buffer,
            reason: reason.clone(),
        }),
        (Phase::LapsedHold | Phase::EndedBuffer, Event::Expire) => match expired(state) {
            Some(end) => Ok(end),
            None => unreachable!("a lapsed hold or an ended buffer has an end: {state:?}"),
        },
        (_, event) => Err(Refusal::InvalidTransition {
            from: seen_status(state, now),
            event: event.kind(),
        }),
    }
}

/// The final state a hold or a buffer ends in once its time ran out; `None` for other statuses.
pub(crate) fn expired(state: &BookingState) -> Option<BookingState> {
    match state {
        BookingState::Pending { hold_until } => Some(BookingState::Expired {
            hold_until: *hold_until,
        }),
        BookingState::Buffer {
            buffer_until,
            reason,
        } => Some(BookingState::Cancelled {
            by: CancelledBy::Admin,
            reason: reason.clone(),
            buffer_until: Some(*buffer_until),
        }),
        BookingState::Confirmed
        | BookingState::Cancelled { .. }
        | BookingState::Expired { .. }
        | BookingState::Rescheduled { .. } => None,
    }
}
