//! The errors of the booking domain, and the storage failures kept apart from them.

use chrono::{DateTime, Utc};

use crate::booking::{BookingStatus, EventKind};
use crate::ids::{AccountId, BookingId, DoctorId, EntryId, SlotId, WaitlistEntryId};

/// A boxed error from a storage backend, kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a [`BookingEngine`](crate::BookingEngine) or a [`SlotStore`](crate::SlotStore)
/// operation can refuse or fail with.
///
/// Every variant but [`Error::Store`] is a domain answer: the request was understood and refused
/// by a rule. [`Error::Store`] means the storage could not answer at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No doctor with this id (or it was deleted).
    #[error("doctor {0} not found")]
    DoctorNotFound(DoctorId),
    /// No slot with this id (or it was withdrawn).
    #[error("slot {0} not found")]
    SlotNotFound(SlotId),
    /// No booking with this id.
    #[error("booking {0} not found")]
    BookingNotFound(BookingId),
    /// No account with this id.
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    /// No outbox message with this id.
    #[error("message {0} not found")]
    MessageNotFound(EntryId),
    /// The slot has an active booking (confirmed, held, or in an admin's buffer window).
    #[error("slot {0} is not available")]
    SlotUnavailable(SlotId),
    /// The slot has already started; it can no longer be booked or held.
    #[error("slot {0} starts in the past")]
    SlotInPast(SlotId),
    /// The booking belongs to another patient.
    #[error("booking {0} belongs to another patient")]
    NotOwner(BookingId),
    /// The booking's status does not allow this event (for example cancelling twice).
    #[error("a {from} booking cannot be {event}")]
    InvalidTransition {
        /// The booking's status when the event arrived.
        from: BookingStatus,
        /// What was attempted.
        event: EventKind,
    },
    /// A patient asked to cancel or reschedule a confirmed booking after the clinic's cut-off
    /// ([`Policy::change_cutoff`](crate::Policy::change_cutoff) before the slot starts, and never
    /// once it has started). An admin is never refused this way.
    #[error("booking {booking} could be changed by its patient only until {allowed_until}")]
    TooLateToChange {
        /// The booking.
        booking: BookingId,
        /// The last instant the patient could have cancelled or rescheduled it (exclusive).
        allowed_until: DateTime<Utc>,
    },
    /// A patient asked to book, hold or move a booking to a slot that starts sooner than the
    /// clinic's minimum notice ([`Policy::min_notice`](crate::Policy::min_notice)) allows.
    #[error(
        "slot {slot} starts too soon; the earliest start that may be booked now is {earliest}"
    )]
    TooSoon {
        /// The slot.
        slot: SlotId,
        /// The earliest start a patient may book now (included).
        earliest: DateTime<Utc>,
    },
    /// A patient asked to book, hold or move a booking to a slot that starts further ahead than
    /// the clinic's horizon ([`Policy::horizon`](crate::Policy::horizon)) allows.
    #[error(
        "slot {slot} starts too far ahead; the latest start that may be booked now is {latest}"
    )]
    TooFarAhead {
        /// The slot.
        slot: SlotId,
        /// The latest start a patient may book now (included).
        latest: DateTime<Utc>,
    },
    /// The hold lapsed before it was confirmed.
    #[error("the hold on booking {0} expired")]
    HoldExpired(BookingId),
    /// A new slot overlaps another slot of the same doctor (an existing one or one in the same
    /// request).
    #[error("slot {starts_at}..{ends_at} overlaps another slot of doctor {doctor_id}")]
    SlotOverlap {
        /// The doctor whose calendar would overlap.
        doctor_id: DoctorId,
        /// Start of the refused slot.
        starts_at: DateTime<Utc>,
        /// End of the refused slot.
        ends_at: DateTime<Utc>,
    },
    /// The doctor still has slots with active bookings, so it cannot be deleted.
    #[error("doctor {0} has active bookings")]
    DoctorHasActiveBookings(DoctorId),
    /// The slot has an active booking, so it cannot be withdrawn.
    #[error("slot {0} has an active booking")]
    SlotHasActiveBooking(SlotId),
    /// No waitlist entry with this id (or it is another patient's).
    #[error("waitlist entry {0} not found")]
    WaitlistEntryNotFound(WaitlistEntryId),
    /// The patient already has as many active waitlist entries as the policy allows.
    #[error("at most {limit} active waitlist entries per patient")]
    WaitlistFull {
        /// The policy's limit ([`Policy::waitlist_limit`](crate::Policy::waitlist_limit)).
        limit: u32,
    },
    /// The waitlist entry is not waiting (it holds a live offer, or it has ended), so it cannot
    /// be left; a live offer is declined by cancelling its hold.
    #[error("waitlist entry {id} is {status}, not waiting")]
    WaitlistEntryNotWaiting {
        /// The entry.
        id: WaitlistEntryId,
        /// Its status now.
        status: crate::waitlist::EntryStatus,
    },
    /// An account with this email already exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// A password reset token that is unknown, already used or expired.
    #[error("the password reset link is unknown, used or expired")]
    ResetTokenInvalid,
    /// The session a mutation was asked under (see
    /// [`BookingEngine::for_session`](crate::BookingEngine::for_session)) is no longer valid;
    /// nothing was written.
    #[error(transparent)]
    SessionRefused(#[from] crate::session::SessionRefusal),
    /// An input value is not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Validation {
        /// The name of the offending field, as the caller spelled it.
        field: &'static str,
        /// What is wrong with it, in words a person understands.
        message: String,
    },
    /// The storage failed; nothing about the booking rules can be concluded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// A validation error for `field`.
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }
}

/// A failure of the storage itself, as opposed to a refusal by a rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage cannot be reached or has no free connection; retrying later may succeed.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// The storage stayed busy (lock wait, deadlock or serialization retries ran out).
    #[error("the store is busy; try again")]
    Busy(#[source] BoxError),
    /// Stored data could not be read back as a valid value (a bug or a manual edit).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The store cannot hold a value it was given: text with a character its encoding refuses,
    /// or an instant outside its range. The engine's validation ([`crate::text`],
    /// [`crate::instant`]) keeps such values out, so this is a backstop for one that got past
    /// it (a caller that skipped the engine, or a database with a narrower encoding). The
    /// request was at fault, not the store: retrying the same value fails the same way.
    #[error("the store cannot represent a value in this request")]
    Unrepresentable(#[source] BoxError),
    /// A change was sent to be committed, the connection was lost before the store heard
    /// whether it was, and the store could not find out within its patience (the database
    /// stayed unreachable). It may have happened or not: a retry that names the same change
    /// (the same idempotency key for a booking) finds out, as it replays what committed.
    #[error("the store lost its connection while committing and could not learn the outcome")]
    OutcomeUnknown(#[source] BoxError),
    /// Any other storage failure.
    #[error("store failure")]
    Other(#[source] BoxError),
}

impl StoreError {
    /// Whether a retry after a short wait may succeed (the server answers 503 with Retry-After).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Busy(_) | StoreError::OutcomeUnknown(_) => {
                true
            }
            StoreError::Corrupt(_) | StoreError::Unrepresentable(_) | StoreError::Other(_) => false,
        }
    }
}

/// Shorthand for results of engine and store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
