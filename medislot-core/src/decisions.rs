//! What each mutation decides from what it read under its locks: one pure function per
//! mutation, no I/O and no clock. The engine hands them to [`SlotStore::mutate`]; the rules they
//! apply live in [`crate::state`].
//!
//! [`SlotStore::mutate`]: crate::SlotStore::mutate

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::booking::{Booking, BookingState, Event, IdempotencyKey};
use crate::doctor::Doctor;
use crate::doctor_profile::DoctorProfile;
use crate::error::{Error, Result};
use crate::ids::{BookingId, DoctorId, PatientId, SlotId, WaitlistEntryId};
use crate::slot::Slot;
use crate::state;
use crate::unit_of_work::{Changes, Decision, Locked, ProfileChange, StateChange};
use crate::waitlist::{self, EntryChange, EntryState, EntryStatus, WaitlistEntry};
use crate::window::BookingWindow;

/// Creating a doctor: nothing to check.
pub(crate) fn create_doctor(doctor: &Doctor) -> Decision {
    Decision {
        changes: Changes {
            new_doctor: Some(doctor.clone()),
            ..Changes::at(doctor.created_at)
        },
        reply: None,
    }
}

/// Changing a doctor's profile: refused when the doctor is gone.
pub(crate) fn update_doctor_profile(
    locked: &Locked,
    id: DoctorId,
    profile: &DoctorProfile,
    now: DateTime<Utc>,
) -> Result<Decision> {
    if locked.doctor.is_none() {
        return Err(Error::DoctorNotFound(id));
    }
    Ok(Decision {
        changes: Changes {
            profile: Some(ProfileChange {
                doctor: id,
                profile: profile.clone(),
            }),
            ..Changes::at(now)
        },
        reply: None,
    })
}

/// Deleting a doctor: refused while one of their slots that has not ended is occupied now.
pub(crate) fn delete_doctor(locked: &Locked, id: DoctorId, now: DateTime<Utc>) -> Result<Decision> {
    if locked.doctor.is_none() {
        return Err(Error::DoctorNotFound(id));
    }
    if locked
        .doctor_occupants
        .iter()
        .any(|b| b.state.occupies_slot_at(now))
    {
        return Err(Error::DoctorHasActiveBookings(id));
    }
    Ok(Decision {
        changes: Changes {
            deleted_doctor: Some(id),
            ..Changes::at(now)
        },
        reply: None,
    })
}

/// Publishing slots: all or none, refused when the doctor is gone or a slot overlaps one of the
/// doctor's live slots (read under the doctor's lock) or an earlier slot of the same request.
pub(crate) fn publish_slots(
    locked: &Locked,
    doctor_id: DoctorId,
    slots: &[Slot],
    now: DateTime<Utc>,
) -> Result<Decision> {
    if locked.doctor.is_none() {
        return Err(Error::DoctorNotFound(doctor_id));
    }
    if let Some(slot) = first_overlap(&locked.doctor_slots, slots) {
        return Err(Error::SlotOverlap {
            doctor_id,
            starts_at: slot.range.starts_at(),
            ends_at: slot.range.ends_at(),
        });
    }
    Ok(Decision {
        changes: Changes {
            new_slots: slots.to_vec(),
            ..Changes::at(now)
        },
        reply: None,
    })
}

/// The first of `new` that overlaps one of `existing` or an earlier one of `new`.
fn first_overlap<'a>(existing: &[Slot], new: &'a [Slot]) -> Option<&'a Slot> {
    // Start → end of every slot accepted so far. Accepted slots never overlap each other, so
    // their ends grow with their starts: only the last one starting before a slot ends can
    // reach into it.
    let mut calendar: BTreeMap<DateTime<Utc>, DateTime<Utc>> = existing
        .iter()
        .map(|s| (s.range.starts_at(), s.range.ends_at()))
        .collect();
    new.iter().find(|slot| {
        let clash = calendar
            .range(..slot.range.ends_at())
            .next_back()
            .is_some_and(|(_, end)| *end > slot.range.starts_at());
        if !clash {
            calendar.insert(slot.range.starts_at(), slot.range.ends_at());
        }
        clash
    })
}

/// Withdrawing a slot: refused while a booking occupies it now.
pub(crate) fn withdraw_slot(locked: &Locked, id: SlotId, now: DateTime<Utc>) -> Result<Decision> {
    if locked.slot.is_none() {
        return Err(Error::SlotNotFound(id));
    }
    if locked
        .occupant
        .as_ref()
        .is_some_and(|b| b.state.occupies_slot_at(now))
    {
        return Err(Error::SlotHasActiveBooking(id));
    }
    Ok(Decision {
        changes: Changes {
            withdrawn_slots: vec![id],
            ..Changes::at(now)
        },
        reply: None,
    })
}

/// Creating a booking from `draft`: an idempotent retry answers with the first booking and
/// writes nothing; otherwise [`state::check_bookable`] decides, the slot must start inside the
/// booking `window`, and a lapsed occupant is tidied before the new booking is inserted.
pub(crate) fn create_booking(
    locked: &Locked,
    draft: &Booking,
    window: &BookingWindow,
) -> Result<Decision> {
    let now = draft.created_at;
    let slot = locked
        .slot
        .as_ref()
        .ok_or(Error::SlotNotFound(draft.slot_id))?;
    if let Some(first) = &locked.replay {
        return Ok(Decision {
            changes: Changes::at(now),
            reply: Some(state::replay(first, draft.slot_id)?),
        });
    }
    let tidy = state::check_bookable(slot, locked.occupant.as_ref(), now)?;
    window.check(slot)?;
    let states: Vec<StateChange> = tidy
        .map(|t| StateChange {
            booking: t.occupant,
            state: t.state,
        })
        .into_iter()
        .collect();
    if waitlist::waitlist_first(locked, now) {
        // The occupant lapsed and someone waits: the slot is theirs first
        // ([`waitlist::follow`] offers it); this booker is refused once that is committed.
        return Ok(Decision {
            changes: Changes {
                states,
                ..Changes::at(now)
            },
            reply: None,
        });
    }
    Ok(Decision {
        changes: Changes {
            states,
            new_bookings: vec![draft.clone()],
            ..Changes::at(now)
        },
        reply: Some(draft.clone()),
    })
}

/// Applying `event` to a booking: [`state::transition`] decides its new state; a patient's
/// cancel must also come before the cut-off ([`state::check_patient_change`]), and a hold of a
/// slot that has started can no longer be confirmed.
pub(crate) fn apply_event(
    locked: &Locked,
    id: BookingId,
    event: &Event,
    cutoff: Duration,
    now: DateTime<Utc>,
) -> Result<Decision> {
    let booking = locked.booking.as_ref().ok_or(Error::BookingNotFound(id))?;
    let state = state::transition(booking, event, now)?;
    let slot = locked.booking_slot.as_ref();
    match (event, slot) {
        (Event::CancelByPatient { .. }, Some(slot)) => {
            state::check_patient_change(booking, slot, cutoff, now)?;
        }
        (Event::Confirm { .. }, Some(slot)) if slot.range.starts_at() <= now => {
            return Err(Error::SlotInPast(slot.id));
        }
        (
            Event::Confirm { .. }
            | Event::CancelByPatient { .. }
            | Event::CancelByAdmin { .. }
            | Event::Expire
            | Event::RescheduleByPatient { .. }
            | Event::RescheduleByAdmin { .. },
            _,
        ) => {}
    }
    Ok(Decision {
        changes: Changes {
            states: vec![StateChange {
                booking: id,
                state: state.clone(),
            }],
            ..Changes::at(now)
        },
        reply: Some(Booking {
            state,
            updated_at: now,
            ..booking.clone()
        }),
    })
}

/// A request to move a confirmed booking to another slot.
#[derive(Debug)]
pub(crate) struct Move {
    /// The booking to move.
    pub(crate) booking: BookingId,
    /// The slot to move it to.
    pub(crate) target: SlotId,
    /// The patient who asks, or `None` for an admin (who may move any booking, at any time).
    pub(crate) patient: Option<PatientId>,
    /// The request's idempotency key, stored on the new booking.
    pub(crate) key: Option<IdempotencyKey>,
    /// The new booking's id.
    pub(crate) new_id: BookingId,
    /// How long before the slot starts a patient may still move it.
    pub(crate) cutoff: Duration,
    /// The slot starts a patient may move it to (an admin is not bound by it).
    pub(crate) window: BookingWindow,
}

/// Rescheduling: refused unless the caller may move the booking (owner or admin), the booking
/// is confirmed, a patient is before the cut-off, and the target is another live slot that can
/// be booked now (by a patient: inside the booking window). Then the old booking becomes `RESCHEDULED` (linking to the new one) and a new
/// `CONFIRMED` booking (linking back) takes the target, in one set of changes. A retry with the
/// same idempotency key answers with the booking the first request made and writes nothing.
pub(crate) fn reschedule(locked: &Locked, request: &Move, now: DateTime<Utc>) -> Result<Decision> {
    let old = locked
        .booking
        .as_ref()
        .ok_or(Error::BookingNotFound(request.booking))?;
    if request.patient.is_some_and(|p| p != old.patient_id) {
        return Err(Error::NotOwner(old.id));
    }
    if let Some(first) = &locked.replay {
        return Ok(Decision {
            changes: Changes::at(now),
            reply: Some(state::replay_reschedule(first, old.id, request.target)?),
        });
    }
    if old.slot_id == request.target {
        return Err(Error::validation(
            "slot_id",
            "is the booking's own slot; choose another slot",
        ));
    }
    let event = match request.patient {
        Some(patient) => Event::RescheduleByPatient {
            patient,
            to: request.new_id,
        },
        None => Event::RescheduleByAdmin { to: request.new_id },
    };
    let moved = state::transition(old, &event, now)?;
    if let (Some(_), Some(slot)) = (request.patient, &locked.booking_slot) {
        state::check_patient_change(old, slot, request.cutoff, now)?;
    }
    let target = locked
        .slot
        .as_ref()
        .ok_or(Error::SlotNotFound(request.target))?;
    let tidy = state::check_bookable(target, locked.occupant.as_ref(), now)?;
    if request.patient.is_some() {
        request.window.check(target)?;
    }
    if waitlist::waitlist_first(locked, now) {
        // As for a booking: the target goes to the waitlist first and the move is refused.
        return Ok(Decision {
            changes: Changes {
                states: tidy
                    .map(|t| StateChange {
                        booking: t.occupant,
                        state: t.state,
                    })
                    .into_iter()
                    .collect(),
                ..Changes::at(now)
            },
            reply: None,
        });
    }
    let new = Booking {
        id: request.new_id,
        slot_id: target.id,
        patient_id: old.patient_id,
        state: BookingState::Confirmed,
        idempotency_key: request.key.clone(),
        created_at: now,
        updated_at: now,
        rescheduled_from: Some(old.id),
        visit_reason: old.visit_reason.clone(),
    };
    let mut states: Vec<StateChange> = tidy
        .map(|t| StateChange {
            booking: t.occupant,
            state: t.state,
        })
        .into_iter()
        .collect();
    states.push(StateChange {
        booking: old.id,
        state: moved,
    });
    Ok(Decision {
        changes: Changes {
            states,
            new_bookings: vec![new.clone()],
            ..Changes::at(now)
        },
        reply: Some(new),
    })
}

/// Expiring the claimed booking when its hold lapsed or its buffer ended by `now` (what
/// [`Event::Expire`] makes of it); nothing otherwise. Replies with the expired booking.
pub(crate) fn expire(locked: &Locked, now: DateTime<Utc>) -> Decision {
    let expired = locked
        .booking
        .as_ref()
        .filter(|b| b.status().may_occupy_slot() && !b.state.occupies_slot_at(now))
        .and_then(|b| {
            let state = state::transition(b, &Event::Expire, now).ok()?;
            Some(Booking {
                state,
                updated_at: now,
                ..b.clone()
            })
        });
    Decision {
        changes: Changes {
            states: expired
                .iter()
                .map(|b| StateChange {
                    booking: b.id,
                    state: b.state.clone(),
                })
                .collect(),
            ..Changes::at(now)
        },
        reply: expired,
    }
}

/// Joining the waitlist: refused when the patient already has as many active entries as
/// `limit`.
pub(crate) fn join_waitlist(
    locked: &Locked,
    entry: &WaitlistEntry,
    limit: u32,
) -> Result<Decision> {
    let now = entry.joined_at;
    let active = locked
        .patient_entries
        .iter()
        .filter(|e| e.patient_id == entry.patient_id && e.state.is_active_at(now))
        .count();
    if active >= usize::try_from(limit).unwrap_or(usize::MAX) {
        return Err(Error::WaitlistFull { limit });
    }
    Ok(Decision {
        changes: Changes {
            new_entries: vec![entry.clone()],
            ..Changes::at(now)
        },
        reply: None,
    })
}

/// Leaving the waitlist: only the patient's own entry, only while it waits (a live offer is
/// declined by cancelling its hold; an entry that had an offer has ended).
pub(crate) fn leave_waitlist(
    locked: &Locked,
    id: WaitlistEntryId,
    patient: PatientId,
    now: DateTime<Utc>,
) -> Result<Decision> {
    let entry = locked
        .entry
        .as_ref()
        .filter(|e| e.patient_id == patient)
        .ok_or(Error::WaitlistEntryNotFound(id))?;
    match entry.state.status_at(now) {
        EntryStatus::Waiting => {}
        status @ (EntryStatus::Offered
        | EntryStatus::Booked
        | EntryStatus::Declined
        | EntryStatus::Lapsed
        | EntryStatus::Left) => {
            return Err(Error::WaitlistEntryNotWaiting { id, status });
        }
    }
    Ok(Decision {
        changes: Changes {
            entry_states: vec![EntryChange {
                entry: id,
                state: EntryState::Left,
            }],
            ..Changes::at(now)
        },
        reply: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slot::TimeRange;
    use chrono::Duration;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn slot(doctor: DoctorId, from: i64, to: i64) -> Slot {
        Slot {
            id: SlotId::new(),
            doctor_id: doctor,
            range: TimeRange::new(at(from), at(to)).unwrap(),
            created_at: at(0),
        }
    }

    #[test]
    fn overlap_is_found_against_existing_and_earlier_new_slots_but_touching_is_fine() {
        let d = DoctorId::new();
        let existing = [slot(d, 60, 90)];
        let touching = [slot(d, 30, 60), slot(d, 90, 120)];
        assert!(first_overlap(&existing, &touching).is_none());
        let into_existing = [slot(d, 30, 61)];
        assert_eq!(
            first_overlap(&existing, &into_existing).map(|s| s.id),
            Some(into_existing[0].id)
        );
        let among_new = [slot(d, 0, 20), slot(d, 10, 15)];
        assert_eq!(
            first_overlap(&[], &among_new).map(|s| s.id),
            Some(among_new[1].id)
        );
        let inside_a_long_one = [slot(d, 0, 300), slot(d, 100, 110)];
        assert_eq!(
            first_overlap(&[], &inside_a_long_one).map(|s| s.id),
            Some(inside_a_long_one[1].id)
        );
    }
}
