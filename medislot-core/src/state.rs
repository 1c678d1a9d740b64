//! The booking state machine: one pure function per decision, no I/O and no clock reads. The
//! engine's decisions ([`crate::Decision`]) call them with what a store read under its locks, so
//! the rules exist once and no store calls them.
//!
//! ```text
//!            hold                confirm
//!   (slot) ───────▶ PENDING ─────────────▶ CONFIRMED
//!     │               │ hold lapses           │   │ admin cancels
//!     │ book          ▼                       │   ▼
//!     └─────────▶ EXPIRED        patient ─────┘ BUFFER ──(buffer ends)──▶ CANCELLED
//!                               cancels ──▶ CANCELLED
//!
//!   CONFIRMED ──(patient or admin reschedules)──▶ RESCHEDULED  (+ a new CONFIRMED booking)
//! ```
//!
//! Time rules that need the slot, not only the booking, are checked beside the transition:
//! [`check_patient_change`] (the cut-off before a slot starts) and [`check_bookable`].

use chrono::{DateTime, Duration, Utc};

use crate::booking::{Booking, BookingState, CancelledBy, Event};
use crate::error::{Error, Result};
use crate::slot::Slot;

/// Decides what `event` does to `booking` at `now`: the booking's new state, or a typed refusal
/// that leaves the booking as it was.
///
/// # Errors
/// - [`Error::NotOwner`] when a patient event comes from another patient;
/// - [`Error::HoldExpired`] when a hold is confirmed after it lapsed;
/// - [`Error::InvalidTransition`] for every other event the status does not allow, including any
///   event on a final booking and a patient's cancel of an admin's buffer.
pub fn transition(booking: &Booking, event: &Event, now: DateTime<Utc>) -> Result<BookingState> {
    let refuse = || Error::InvalidTransition {
        from: booking.state.status_at(now),
        event: event.kind(),
    };
    match event {
        Event::Confirm { patient }
        | Event::CancelByPatient { patient, .. }
        | Event::RescheduleByPatient { patient, .. }
            if *patient != booking.patient_id =>
        {
            Err(Error::NotOwner(booking.id))
        }
        Event::Confirm { .. } => match &booking.state {
            BookingState::Pending { hold_until } if *hold_until > now => {
                Ok(BookingState::Confirmed)
            }
            BookingState::Pending { .. } => Err(Error::HoldExpired(booking.id)),
            BookingState::Confirmed
            | BookingState::Buffer { .. }
            | BookingState::Cancelled { .. }
            | BookingState::Expired { .. }
            | BookingState::Rescheduled { .. } => Err(refuse()),
        },
        Event::CancelByPatient { reason, .. } => match &booking.state {
            BookingState::Confirmed => Ok(cancelled(CancelledBy::Patient, reason)),
            BookingState::Pending { hold_until } if *hold_until > now => {
                Ok(cancelled(CancelledBy::Patient, reason))
            }
            BookingState::Pending { .. }
            | BookingState::Buffer { .. }
            | BookingState::Cancelled { .. }
            | BookingState::Expired { .. }
            | BookingState::Rescheduled { .. } => Err(refuse()),
        },
        Event::CancelByAdmin { reason, buffer } => match &booking.state {
            BookingState::Confirmed => Ok(BookingState::Buffer {
                buffer_until: now + *buffer,
                reason: reason.clone(),
            }),
            BookingState::Pending { hold_until } if *hold_until > now => {
                Ok(cancelled(CancelledBy::Admin, reason))
            }
            BookingState::Pending { .. }
            | BookingState::Buffer { .. }
            | BookingState::Cancelled { .. }
            | BookingState::Expired { .. }
            | BookingState::Rescheduled { .. } => Err(refuse()),
        },
        Event::Expire => match &booking.state {
            BookingState::Pending { hold_until } if *hold_until <= now => {
                Ok(BookingState::Expired {
                    hold_until: *hold_until,
                })
            }
            BookingState::Buffer {
                buffer_until,
                reason,
            } if *buffer_until <= now => Ok(BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: reason.clone(),
                buffer_until: Some(*buffer_until),
            }),
            BookingState::Pending { .. }
            | BookingState::Confirmed
            | BookingState::Buffer { .. }
            | BookingState::Cancelled { .. }
            | BookingState::Expired { .. }
            | BookingState::Rescheduled { .. } => Err(refuse()),
        },
        Event::RescheduleByPatient { to, .. } | Event::RescheduleByAdmin { to } => {
            match &booking.state {
                BookingState::Confirmed => Ok(BookingState::Rescheduled { to: *to }),
                BookingState::Pending { .. }
                | BookingState::Buffer { .. }
                | BookingState::Cancelled { .. }
                | BookingState::Expired { .. }
                | BookingState::Rescheduled { .. } => Err(refuse()),
            }
        }
    }
}

fn cancelled(by: CancelledBy, reason: &Option<String>) -> BookingState {
    BookingState::Cancelled {
        by,
        reason: reason.clone(),
        buffer_until: None,
    }
}

/// What a store must do before inserting a new booking on a slot whose previous booking still
/// has an occupying status but has lapsed: write `state` to booking `occupant`, so that the
/// store's "one occupying booking per slot" index stays true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tidy {
    /// The lapsed booking.
    pub occupant: crate::BookingId,
    /// Its final state.
    pub state: BookingState,
}

/// Decides whether a new booking may take `slot` at `now`, given the slot's booking that has an
/// occupying status, if any, read with the slot locked.
///
/// # Errors
/// - [`Error::SlotInPast`] when the slot has started;
/// - [`Error::SlotUnavailable`] when `occupant` still occupies the slot at `now`.
pub fn check_bookable(
    slot: &Slot,
    occupant: Option<&Booking>,
    now: DateTime<Utc>,
) -> Result<Option<Tidy>> {
    if slot.range.starts_at() <= now {
        return Err(Error::SlotInPast(slot.id));
    }
    match occupant {
        None => Ok(None),
        Some(b) if b.state.occupies_slot_at(now) => Err(Error::SlotUnavailable(slot.id)),
        Some(b) if b.status().may_occupy_slot() => Ok(Some(Tidy {
            occupant: b.id,
            state: transition(b, &Event::Expire, now)?,
        })),
        Some(_) => Ok(None),
    }
}

/// The last instant (exclusive) a patient may cancel or reschedule a confirmed booking of
/// `slot`: `cutoff` before it starts, so never once it has started.
pub fn patient_change_deadline(slot: &Slot, cutoff: Duration) -> DateTime<Utc> {
    slot.range
        .starts_at()
        .checked_sub_signed(cutoff)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Decides whether a patient may still cancel or reschedule `booking` of `slot` at `now`, given
/// the clinic's cut-off. Only a confirmed booking is bound by it: letting go of a live hold is
/// always allowed. An admin is never bound by it, so the engine does not ask for one.
///
/// # Errors
/// [`Error::TooLateToChange`] naming the deadline ([`patient_change_deadline`]).
pub fn check_patient_change(
    booking: &Booking,
    slot: &Slot,
    cutoff: Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    let allowed_until = patient_change_deadline(slot, cutoff);
    match booking.state {
        BookingState::Confirmed if now >= allowed_until => Err(Error::TooLateToChange {
            booking: booking.id,
            allowed_until,
        }),
        BookingState::Confirmed
        | BookingState::Pending { .. }
        | BookingState::Buffer { .. }
        | BookingState::Cancelled { .. }
        | BookingState::Expired { .. }
        | BookingState::Rescheduled { .. } => Ok(()),
    }
}

/// Decides what a reschedule that carries an idempotency key the patient already used answers:
/// the booking that reschedule made, when it moved the same booking to the same slot.
///
/// # Errors
/// [`Error::Validation`] on `Idempotency-Key` when the key was used for another request.
pub fn replay_reschedule(
    first: &Booking,
    from: crate::BookingId,
    to: crate::SlotId,
) -> Result<Booking> {
    if first.rescheduled_from == Some(from) && first.slot_id == to {
        Ok(first.clone())
    } else {
        Err(Error::validation(
            "Idempotency-Key",
            "this key was already used for another request",
        ))
    }
}

/// Decides what a booking request that carries an idempotency key already used by the same
/// patient returns: the first booking when it was for the same slot.
///
/// # Errors
/// [`Error::Validation`] on `Idempotency-Key` when the first booking was for another slot.
pub fn replay(first: &Booking, slot: crate::SlotId) -> Result<Booking> {
    if first.slot_id == slot {
        Ok(first.clone())
    } else {
        Err(Error::validation(
            "Idempotency-Key",
            "this key was already used to book another slot",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookingStatus, EventKind};
    use crate::ids::{BookingId, PatientId, SlotId};
    use chrono::Duration;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn booking(state: BookingState, patient: PatientId) -> Booking {
        Booking {
            id: BookingId::new(),
            slot_id: SlotId::new(),
            patient_id: patient,
            state,
            idempotency_key: None,
            created_at: at(0),
            updated_at: at(0),
            rescheduled_from: None,
            visit_reason: None,
        }
    }

    /// Every state a booking can be in, live and lapsed, seen at minute 10.
    fn states() -> Vec<(&'static str, BookingState)> {
        vec![
            ("live hold", BookingState::Pending { hold_until: at(15) }),
            ("lapsed hold", BookingState::Pending { hold_until: at(5) }),
            ("confirmed", BookingState::Confirmed),
            (
                "live buffer",
                BookingState::Buffer {
                    buffer_until: at(15),
                    reason: None,
                },
            ),
            (
                "ended buffer",
                BookingState::Buffer {
                    buffer_until: at(5),
                    reason: None,
                },
            ),
            (
                "cancelled",
                BookingState::Cancelled {
                    by: CancelledBy::Patient,
                    reason: None,
                    buffer_until: None,
                },
            ),
            ("expired", BookingState::Expired { hold_until: at(5) }),
            (
                "rescheduled",
                BookingState::Rescheduled {
                    to: BookingId::new(),
                },
            ),
        ]
    }

    fn events(owner: PatientId) -> Vec<Event> {
        vec![
            Event::Confirm { patient: owner },
            Event::CancelByPatient {
                patient: owner,
                reason: Some("r".into()),
            },
            Event::CancelByAdmin {
                reason: Some("r".into()),
                buffer: Duration::minutes(10),
            },
            Event::Expire,
            Event::RescheduleByPatient {
                patient: owner,
                to: BookingId::new(),
            },
            Event::RescheduleByAdmin {
                to: BookingId::new(),
            },
        ]
    }

    /// The whole table: for each (state, event) pair, the status that results, or `None` for a
    /// refusal. Written out by hand so that a change to the rules must change this table.
    fn expected(state: &str, event: EventKind) -> Option<BookingStatus> {
        use BookingStatus::*;
        use EventKind::*;
        match (state, event) {
            ("live hold", Confirm) => Some(Confirmed),
            ("live hold", CancelByPatient) => Some(Cancelled),
            ("live hold", CancelByAdmin) => Some(Cancelled),
            ("lapsed hold", Expire) => Some(Expired),
            ("confirmed", CancelByPatient) => Some(Cancelled),
            ("confirmed", CancelByAdmin) => Some(Buffer),
            ("ended buffer", Expire) => Some(Cancelled),
            ("confirmed", RescheduleByPatient) => Some(Rescheduled),
            ("confirmed", RescheduleByAdmin) => Some(Rescheduled),
            _ => None,
        }
    }

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        let owner = PatientId::new();
        for (name, state) in states() {
            for event in events(owner) {
                let b = booking(state.clone(), owner);
                let got = transition(&b, &event, at(10)).map(|s| s.status()).ok();
                assert_eq!(
                    got,
                    expected(name, event.kind()),
                    "{name} + {:?}",
                    event.kind()
                );
            }
        }
    }

    #[test]
    fn another_patients_confirm_cancel_or_reschedule_is_refused_as_not_owner_in_every_state() {
        let owner = PatientId::new();
        let stranger = PatientId::new();
        for (name, state) in states() {
            let b = booking(state, owner);
            for event in [
                Event::Confirm { patient: stranger },
                Event::CancelByPatient {
                    patient: stranger,
                    reason: None,
                },
                Event::RescheduleByPatient {
                    patient: stranger,
                    to: BookingId::new(),
                },
            ] {
                assert!(
                    matches!(transition(&b, &event, at(10)), Err(Error::NotOwner(id)) if id == b.id),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn admin_cancel_of_a_confirmed_booking_buffers_for_the_given_window() {
        let b = booking(BookingState::Confirmed, PatientId::new());
        let event = Event::CancelByAdmin {
            reason: Some("doctor ill".into()),
            buffer: Duration::minutes(10),
        };
        assert_eq!(
            transition(&b, &event, at(10)).unwrap(),
            BookingState::Buffer {
                buffer_until: at(20),
                reason: Some("doctor ill".into())
            }
        );
    }

    #[test]
    fn confirming_a_lapsed_hold_is_refused_as_hold_expired() {
        let b = booking(
            BookingState::Pending { hold_until: at(10) },
            PatientId::new(),
        );
        let event = Event::Confirm {
            patient: b.patient_id,
        };
        assert!(matches!(
            transition(&b, &event, at(10)),
            Err(Error::HoldExpired(_))
        ));
    }

    #[test]
    fn patient_cannot_undo_an_admins_buffer() {
        let b = booking(
            BookingState::Buffer {
                buffer_until: at(20),
                reason: None,
            },
            PatientId::new(),
        );
        let event = Event::CancelByPatient {
            patient: b.patient_id,
            reason: None,
        };
        assert!(matches!(
            transition(&b, &event, at(10)),
            Err(Error::InvalidTransition {
                from: BookingStatus::Buffer,
                event: EventKind::CancelByPatient
            })
        ));
    }

    fn slot_starting(minutes: i64) -> Slot {
        Slot {
            id: SlotId::new(),
            doctor_id: crate::DoctorId::new(),
            range: crate::TimeRange::new(at(minutes), at(minutes + 30)).unwrap(),
            created_at: at(0),
        }
    }

    #[test]
    fn a_started_slot_is_not_bookable() {
        let slot = slot_starting(10);
        assert!(matches!(
            check_bookable(&slot, None, at(10)),
            Err(Error::SlotInPast(_))
        ));
    }

    #[test]
    fn an_occupied_slot_is_unavailable_and_a_lapsed_occupant_is_tidied() {
        let slot = slot_starting(60);
        let confirmed = booking(BookingState::Confirmed, PatientId::new());
        assert!(matches!(
            check_bookable(&slot, Some(&confirmed), at(10)),
            Err(Error::SlotUnavailable(_))
        ));
        let lapsed = booking(
            BookingState::Buffer {
                buffer_until: at(5),
                reason: None,
            },
            PatientId::new(),
        );
        let tidy = check_bookable(&slot, Some(&lapsed), at(10))
            .unwrap()
            .unwrap();
        assert_eq!(tidy.occupant, lapsed.id);
        assert_eq!(tidy.state.status(), BookingStatus::Cancelled);
    }

    #[test]
    fn a_reschedule_links_the_old_booking_to_the_new_one() {
        let b = booking(BookingState::Confirmed, PatientId::new());
        let to = BookingId::new();
        let event = Event::RescheduleByPatient {
            patient: b.patient_id,
            to,
        };
        assert_eq!(
            transition(&b, &event, at(10)).unwrap(),
            BookingState::Rescheduled { to }
        );
    }

    #[test]
    fn a_patient_may_change_a_confirmed_booking_only_before_the_cutoff() {
        let slot = slot_starting(120);
        let b = booking(BookingState::Confirmed, PatientId::new());
        let cutoff = Duration::minutes(60);
        assert!(check_patient_change(&b, &slot, cutoff, at(59)).is_ok());
        for late in [at(60), at(119), at(120), at(500)] {
            assert!(
                matches!(
                    check_patient_change(&b, &slot, cutoff, late),
                    Err(Error::TooLateToChange { booking, allowed_until })
                        if booking == b.id && allowed_until == at(60)
                ),
                "{late}"
            );
        }
        // With no cut-off, the slot's start is the deadline.
        assert!(check_patient_change(&b, &slot, Duration::zero(), at(119)).is_ok());
        assert!(check_patient_change(&b, &slot, Duration::zero(), at(120)).is_err());
        // Letting go of a live hold is never too late.
        let hold = booking(
            BookingState::Pending {
                hold_until: at(130),
            },
            b.patient_id,
        );
        assert!(check_patient_change(&hold, &slot, cutoff, at(100)).is_ok());
    }

    #[test]
    fn a_reschedule_replays_only_the_same_move() {
        let old = BookingId::new();
        let first = Booking {
            rescheduled_from: Some(old),
            visit_reason: None,
            ..booking(BookingState::Confirmed, PatientId::new())
        };
        assert_eq!(
            replay_reschedule(&first, old, first.slot_id).unwrap(),
            first
        );
        assert!(replay_reschedule(&first, old, SlotId::new()).is_err());
        assert!(replay_reschedule(&first, BookingId::new(), first.slot_id).is_err());
    }

    #[test]
    fn replay_returns_the_first_booking_only_for_the_same_slot() {
        let first = booking(BookingState::Confirmed, PatientId::new());
        assert_eq!(replay(&first, first.slot_id).unwrap(), first);
        assert!(replay(&first, SlotId::new()).is_err());
    }
}
