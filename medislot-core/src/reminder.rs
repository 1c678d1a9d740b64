//! Reminders: one message a configurable lead ([`Policy::reminder_lead`](crate::Policy)) before
//! each confirmed appointment.
//!
//! A reminder is written once, as a journal entry of kind [`EntryKind::BookingReminder`], by
//! the mutation that makes a booking `CONFIRMED` (a booking, a confirmed hold or waitlist offer,
//! the new booking of a reschedule), in the same transaction ([`schedule`], called by the
//! engine's one `mutate`); its outbox copies are due at the lead before the slot starts
//! ([`Changes::due`]). A booking is confirmed at most once, so it has at most one reminder, and
//! the outbox's lease keeps two deliverers from sending it at the same time, across restarts
//! and instances.
//!
//! A booking confirmed less than the lead before its start gets no reminder: its confirmation
//! has just told the patient.
//!
//! A reminder is not withdrawn when its booking is cancelled or moved; it is checked
//! ([`is_current`]) when it is claimed for delivery and again just before it is sent
//! ([`BookingEngine::withdraw_if_stale`](crate::BookingEngine::withdraw_if_stale)): a booking no
//! longer `CONFIRMED` at the reminder's slot makes the reminder
//! [withdrawn](crate::MessageState::Withdrawn), never sent. (A moved booking's new booking has
//! its own reminder.)

use chrono::Duration;

use crate::booking::{Booking, BookingState, BookingStatus};
use crate::ids::{EntryId, SlotId};
use crate::journal::{Actor, EntryKind, JournalEntry};
use crate::slot::Slot;
use crate::unit_of_work::{Changes, Locked};

/// The longest accepted reminder lead: 30 days.
pub const MAX_REMINDER_LEAD: Duration = Duration::days(30);

/// Adds to `changes` a reminder for each booking its journal shows becoming `CONFIRMED`, due
/// `lead` before the booking's slot starts, unless that instant is not after the mutation's.
/// Call after [`crate::journal::record`].
pub fn schedule(locked: &Locked, changes: &mut Changes, lead: Duration) {
    let start_of = |slot: SlotId| {
        let read: [&[Slot]; 3] = [
            locked.slot.as_slice(),
            locked.booking_slot.as_slice(),
            &locked.doctor_slots,
        ];
        read.into_iter()
            .flatten()
            .chain(&changes.new_slots)
            .find(|s| s.id == slot)
            .map(|s| s.range.starts_at())
    };
    let mut reminders = Vec::new();
    for entry in &changes.journal {
        if !confirms(entry) {
            continue;
        }
        let Some(starts_at) = entry.slot_id.and_then(start_of) else {
            continue;
        };
        let due = starts_at - lead;
        if due <= changes.at {
            continue;
        }
        reminders.push((
            JournalEntry {
                id: EntryId::new(),
                kind: EntryKind::BookingReminder,
                actor: Actor::System,
                related_booking_id: None,
                from: None,
                to: None,
                reason: None,
                ..entry.clone()
            },
            due,
        ));
    }
    for (entry, due) in reminders {
        changes.due.insert(entry.id, due);
        changes.journal.push(entry);
    }
}

/// Whether `entry` records a booking becoming `CONFIRMED`.
fn confirms(entry: &JournalEntry) -> bool {
    let kind = match entry.kind {
        EntryKind::BookingBooked
        | EntryKind::BookingConfirmed
        | EntryKind::BookingCreatedByReschedule => true,
        EntryKind::DoctorCreated
        | EntryKind::DoctorProfileUpdated
        | EntryKind::DoctorHoursUpdated
        | EntryKind::DoctorDeleted
        | EntryKind::SlotPublished
        | EntryKind::SlotWithdrawn
        | EntryKind::BookingHeld
        | EntryKind::BookingCancelledByPatient
        | EntryKind::BookingCancelledByClinic
        | EntryKind::BookingBufferEnded
        | EntryKind::BookingHoldLapsed
        | EntryKind::BookingRescheduled
        | EntryKind::WaitlistJoined
        | EntryKind::WaitlistLeft
        | EntryKind::WaitlistOfferMade
        | EntryKind::WaitlistOfferLapsed
        | EntryKind::BookingReminder
        | EntryKind::AccountRoleChanged
        | EntryKind::AccountPasswordResetRequested
        | EntryKind::AccountPasswordReset => false,
    };
    kind && entry.to == Some(BookingStatus::Confirmed)
}

/// Whether the reminder `entry` is still to be sent, given its booking as it stands: the
/// booking is `CONFIRMED` at the slot the reminder was written for. A cancelled, moved or
/// missing booking makes it stale.
pub fn is_current(entry: &JournalEntry, booking: Option<&Booking>) -> bool {
    booking.is_some_and(|booking| {
        booking.state == BookingState::Confirmed && Some(booking.slot_id) == entry.slot_id
    })
}
