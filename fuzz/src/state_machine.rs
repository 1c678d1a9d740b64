//! Target `state_machine`: arbitrary event sequences, with the clock moving either way between
//! them, through the pure transition function [`medislot_core::state::transition`], from any
//! valid stored state.
//!
//! Every answer must equal the plain table in `rules.rs`, and the invariants the rules promise
//! must hold whatever either says: a refusal leaves the booking as it was, `CANCELLED` and
//! `EXPIRED` stay final, a patient never undoes an admin's `BUFFER`, only a live hold is
//! confirmed, an expired booking frees its slot. Each step also asks
//! [`medislot_core::state::check_bookable`] about the booking's slot, since every store decides a
//! new booking with it.

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, Duration, Utc};
use medislot_core::state::{self, Tidy};
use medislot_core::{
    Booking, BookingId, BookingState, BookingStatus, CancelledBy, DoctorId, Error, Event,
    PatientId, Slot, SlotId, TimeRange,
};
use uuid::Uuid;

use crate::rules::{self, Refusal};
use crate::time::epoch;

/// Runs one input: decodes `data` and checks every step.
///
/// # Panics
/// When the transition function breaks a rule; that is the finding.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

/// A starting state and the steps applied to it.
#[derive(Arbitrary, Debug)]
pub struct Input {
    start: Start,
    steps: Vec<Step>,
}

/// Every valid stored state. Instants are seconds from the fixed epoch.
#[derive(Arbitrary, Debug)]
enum Start {
    Pending {
        hold_until: i16,
    },
    Confirmed,
    Buffer {
        buffer_until: i16,
        reason: Option<String>,
    },
    CancelledByPatient {
        reason: Option<String>,
    },
    /// A hold an admin cancelled (no buffer), or a buffer that ended.
    CancelledByAdmin {
        reason: Option<String>,
        buffer_until: Option<i16>,
    },
    Expired {
        hold_until: i16,
    },
}

impl Start {
    fn state(&self) -> BookingState {
        match self {
            Start::Pending { hold_until } => BookingState::Pending {
                hold_until: at(*hold_until),
            },
            Start::Confirmed => BookingState::Confirmed,
            Start::Buffer {
                buffer_until,
                reason,
            } => BookingState::Buffer {
                buffer_until: at(*buffer_until),
                reason: reason.clone(),
            },
            Start::CancelledByPatient { reason } => BookingState::Cancelled {
                by: CancelledBy::Patient,
                reason: reason.clone(),
                buffer_until: None,
            },
            Start::CancelledByAdmin {
                reason,
                buffer_until,
            } => BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: reason.clone(),
                buffer_until: buffer_until.map(at),
            },
            Start::Expired { hold_until } => BookingState::Expired {
                hold_until: at(*hold_until),
            },
        }
    }
}

/// Move the clock (either way: a pure function must not care), then send an event.
#[derive(Arbitrary, Debug)]
struct Step {
    /// Seconds to move the clock by before the event.
    advance: i16,
    event: FuzzEvent,
    /// Start of the booking's slot, in seconds from now, for the `check_bookable` question.
    slot_starts_in: i16,
}

#[derive(Arbitrary, Debug)]
enum FuzzEvent {
    Confirm {
        by_owner: bool,
    },
    CancelByPatient {
        by_owner: bool,
        reason: Option<String>,
    },
    CancelByAdmin {
        reason: Option<String>,
        /// Seconds; never negative, as `Policy::validate` ensures.
        buffer: u16,
    },
    Expire,
}

fn at(seconds: i16) -> DateTime<Utc> {
    epoch() + Duration::seconds(i64::from(seconds))
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Checks one input.
///
/// # Panics
/// When the transition function or `check_bookable` breaks a rule.
pub fn check(input: &Input) {
    let owner = PatientId::from_uuid(id(1));
    let stranger = PatientId::from_uuid(id(2));
    let mut now = epoch();
    let mut booking = Booking {
        id: BookingId::from_uuid(id(3)),
        slot_id: SlotId::from_uuid(id(4)),
        patient_id: owner,
        state: input.start.state(),
        idempotency_key: None,
        created_at: now,
        updated_at: now,
        rescheduled_from: None,
        visit_reason: None,
    };
    let patient = |by_owner: bool| if by_owner { owner } else { stranger };
    for step in &input.steps {
        now += Duration::seconds(i64::from(step.advance));
        let event = match &step.event {
            FuzzEvent::Confirm { by_owner } => Event::Confirm {
                patient: patient(*by_owner),
            },
            FuzzEvent::CancelByPatient { by_owner, reason } => Event::CancelByPatient {
                patient: patient(*by_owner),
                reason: reason.clone(),
            },
            FuzzEvent::CancelByAdmin { reason, buffer } => Event::CancelByAdmin {
                reason: reason.clone(),
                buffer: Duration::seconds(i64::from(*buffer)),
            },
            FuzzEvent::Expire => Event::Expire,
        };

        let before = booking.clone();
        let got = state::transition(&booking, &event, now);
        assert_eq!(booking, before, "transition changed its input");
        let again = state::transition(&booking, &event, now);
        assert_eq!(
            format!("{got:?}"),
            format!("{again:?}"),
            "transition is not deterministic"
        );

        let got = got.map_err(|e| Refusal::of(&e));
        let want = rules::transition(&booking, &event, now);
        assert_eq!(
            got, want,
            "{:?} + {event:?} at {now}: medislot-core and the rules' table disagree",
            booking.state
        );
        if let Ok(new) = got {
            check_allowed_move(&booking.state, &new, &event, now);
            booking.state = new;
            booking.updated_at = now;
        }

        check_bookable_agrees(&booking, now, step.slot_starts_in);
    }
}

/// The invariants that hold whatever the table says.
fn check_allowed_move(old: &BookingState, new: &BookingState, event: &Event, now: DateTime<Utc>) {
    let old_status = old.status();
    assert!(
        !matches!(
            old_status,
            BookingStatus::Cancelled | BookingStatus::Expired
        ),
        "a final {old_status} booking moved to {new:?} on {event:?}"
    );
    if let Event::CancelByPatient { .. } = event {
        assert_ne!(
            old_status,
            BookingStatus::Buffer,
            "a patient undid an admin's buffer"
        );
    }
    if let BookingState::Confirmed = new {
        assert!(
            matches!(old, BookingState::Pending { hold_until } if *hold_until > now),
            "only a live hold may be confirmed, not {old:?} at {now}"
        );
    }
    if let Event::Expire = event {
        assert!(
            !rules::may_occupy(new) && !new.occupies_slot_at(now),
            "an expired booking {new:?} still occupies its slot"
        );
    }
}

/// `check_bookable` with this booking as the slot's occupant: refused while the slot has started
/// or the booking occupies it at `now`; otherwise a lapsed hold or ended buffer is tidied to
/// exactly what `Expire` makes of it, and a final booking is left alone.
fn check_bookable_agrees(booking: &Booking, now: DateTime<Utc>, starts_in: i16) {
    let starts_at = now + Duration::seconds(i64::from(starts_in));
    let Ok(range) = TimeRange::new(starts_at, starts_at + Duration::minutes(30)) else {
        unreachable!("a 30-minute range is valid");
    };
    let slot = Slot {
        id: booking.slot_id,
        doctor_id: DoctorId::from_uuid(id(5)),
        range,
        created_at: epoch(),
    };
    let occupied = rules::occupies(&booking.state, now);
    assert_eq!(
        booking.state.occupies_slot_at(now),
        occupied,
        "occupies_slot_at({now}) is wrong for {:?}",
        booking.state
    );
    let lapsed = rules::may_occupy(&booking.state) && !occupied;
    match state::check_bookable(&slot, Some(booking), now) {
        Err(Error::SlotInPast(id)) => assert!(
            id == slot.id && starts_at <= now,
            "SlotInPast for a slot starting at {starts_at}, now {now}"
        ),
        Err(Error::SlotUnavailable(id)) => assert!(
            id == slot.id && starts_at > now && occupied,
            "SlotUnavailable with {:?} at {now}",
            booking.state
        ),
        Ok(None) => assert!(
            starts_at > now && !occupied && !lapsed,
            "bookable without tidying {:?} at {now}",
            booking.state
        ),
        Ok(Some(Tidy { occupant, state })) => {
            assert!(
                starts_at > now && lapsed && occupant == booking.id,
                "tidied {:?} at {now}",
                booking.state
            );
            assert_eq!(
                Some(state),
                rules::expired(&booking.state),
                "tidying differs from what Expire makes"
            );
        }
        Err(other) => panic!("check_bookable answered {other:?}"),
    }
    assert_eq!(
        booking.state.status_at(now),
        rules::seen_status(&booking.state, now),
        "status_at({now}) is wrong for {:?}",
        booking.state
    );
}
