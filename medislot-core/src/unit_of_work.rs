//! The unit of work: how every mutation reaches a store. The core names what a mutation locks
//! and reads ([`Claim`]), decides from what was read after the locks ([`Locked`] →
//! [`Decision`]), and the store persists the [`Changes`] it decided and commits them atomically.
//!
//! The steps of each mutation live once, in [`crate::BookingEngine`] and the pure rules it calls;
//! a store only supplies atomicity and persistence. A new mutation needs store code only when it
//! touches new tables or columns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::booking::{Booking, BookingState, IdempotencyKey};
use crate::doctor::Doctor;
use crate::doctor_hours::DoctorHours;
use crate::doctor_profile::DoctorProfile;
use crate::error::Result;
use crate::ids::{BookingId, DoctorId, EntryId, PatientId, SlotId, WaitlistEntryId};
use crate::journal::JournalEntry;
use crate::outbox::{Channel, Delivery};
use crate::session::{SessionAccount, SessionCheck};
use crate::slot::{Slot, TimeRange};
use crate::waitlist::{EntryChange, WaitlistEntry};

/// What one mutation locks, and what the store reads once the locks are held.
///
/// Stores take the locks in this fixed order: the doctor; then the slots, that is the claimed
/// [`slot`](Self::slot) and the claimed booking's slot, in ascending [`SlotId`] order (a claim
/// may name two different slots, as a reschedule does); then the booking. So two mutations can
/// never wait on each other in a cycle (a move from slot A to B racing a move from B to A both
/// lock A and B in the same order), and read everything after the last lock is granted, so the
/// reads see every change committed before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// Lock this doctor; read it ([`Locked::doctor`]) and what [`DoctorClaim`] asks for.
    pub doctor: Option<DoctorClaim>,
    /// Lock this slot; read it when live ([`Locked::slot`]) and its occupying booking
    /// ([`Locked::occupant`]).
    pub slot: Option<SlotId>,
    /// Lock this booking's slot, then the booking; read the booking ([`Locked::booking`]) and
    /// its slot ([`Locked::booking_slot`]). When [`slot`](Self::slot) is set too and names
    /// another slot, both slots are locked in ascending [`SlotId`] order before the booking.
    pub booking: Option<BookingId>,
    /// Read the booking this patient made with this idempotency key, if any
    /// ([`Locked::replay`]). Looked up after the locks, so two retries racing on one slot
    /// cannot both book.
    pub replay: Option<(PatientId, IdempotencyKey)>,
    /// Read (no lock needed) the bookings whose hold lapsed or whose buffer ended by this
    /// instant ([`Locked::lapsed`]), at most [`LAPSED_BATCH`] of them.
    pub lapsed_at: Option<DateTime<Utc>>,
    /// Also read, after the other locks, the waitlist around the claimed slot and booking,
    /// locking each entry read (an entry another mutation has locked is skipped, not waited
    /// for): the entries whose offer is the slot's occupant or the claimed booking
    /// ([`Locked::offers`]), and the first entry waiting for the slot
    /// ([`Locked::slot_waiting`]) and for the booking's slot
    /// ([`Locked::booking_slot_waiting`]).
    pub waitlist: bool,
    /// With [`waitlist`](Self::waitlist) and [`slot`](Self::slot): the instant the decision is
    /// made at. A store may then leave out the slot's waitlist reads (the offer of the slot's
    /// occupant in [`Locked::offers`], and [`Locked::slot_waiting`]) unless the slot's occupant
    /// lapsed by this instant (a hold or buffer that may occupy the slot but no longer does):
    /// with no occupant or a live one, no decision reads them, since they only say who gets a
    /// lapsed occupant's slot first. Every booking's claim reads them otherwise, though a slot
    /// being booked is nearly always free.
    pub slot_waitlist_if_lapsed_at: Option<DateTime<Utc>>,
    /// Lock this waitlist entry, last; read it ([`Locked::entry`]).
    pub entry: Option<WaitlistEntryId>,
    /// Lock this patient's place on the waitlist (so two joins of one patient run one after
    /// the other); read their entries whose stored status is `WAITING` or `OFFERED`
    /// ([`Locked::patient_entries`]).
    pub waitlist_patient: Option<PatientId>,
    /// Also read (no lock) the claimed slot's doctor, deleted or not ([`Locked::slot_doctor`]):
    /// what an answer about a booking on the slot shows, read with the booking's own locks
    /// instead of afterwards.
    pub slot_doctor: bool,
    /// Also read (no lock) the account this session names and whether the session was logged
    /// out ([`Locked::session_account`]), as
    /// [`AccountStore::session_account`](crate::AccountStore::session_account) would: the
    /// request's authentication travels with the mutation's own reads.
    pub session: Option<SessionCheck>,
}

impl Claim {
    /// Whether a decision on this claim may read the slot's waitlist (the offer of the slot's
    /// occupant, [`Locked::slot_waiting`]), given the slot's `occupant` as read under the lock:
    /// always when the claim asks for the waitlist and a slot, unless
    /// [`slot_waitlist_if_lapsed_at`](Self::slot_waitlist_if_lapsed_at) narrows it to an
    /// occupant that lapsed by then.
    pub fn needs_slot_waitlist(&self, occupant: Option<&Booking>) -> bool {
        if !self.waitlist || self.slot.is_none() {
            return false;
        }
        match self.slot_waitlist_if_lapsed_at {
            None => true,
            Some(at) => occupant
                .is_some_and(|o| o.status().may_occupy_slot() && !o.state.occupies_slot_at(at)),
        }
    }
}

/// The most lapsed bookings one [`Claim::lapsed_at`] reads; the engine asks again while a batch
/// comes back full.
pub const LAPSED_BATCH: usize = 1000;

/// The doctor part of a [`Claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorClaim {
    /// The doctor to lock.
    pub id: DoctorId,
    /// Also read the doctor's live slots that overlap this range ([`Locked::doctor_slots`]).
    pub slots_within: Option<TimeRange>,
    /// Also read the occupying bookings (status `PENDING`, `CONFIRMED` or `BUFFER`) of the
    /// doctor's live slots that end after this instant ([`Locked::doctor_occupants`]).
    pub occupants_after: Option<DateTime<Utc>>,
    /// Also read the entries waiting (stored status `WAITING`) for this doctor or its
    /// specialization whose window overlaps this range, in join order
    /// ([`Locked::doctor_waiting`]), locking them as [`Claim::waitlist`] does.
    pub waiting_within: Option<TimeRange>,
    /// Also read the doctor's stored working hours ([`Locked::doctor_hours`]).
    pub hours: bool,
}

/// What a store read for a [`Claim`], with the claim's locks held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locked {
    /// The claimed doctor, unless it does not exist or was deleted.
    pub doctor: Option<Doctor>,
    /// With [`DoctorClaim::hours`]: the doctor's stored working hours, if any were saved.
    pub doctor_hours: Option<DoctorHours>,
    /// The claimed doctor's live slots that overlap [`DoctorClaim::slots_within`].
    pub doctor_slots: Vec<Slot>,
    /// The occupying bookings of the claimed doctor's live slots ending after
    /// [`DoctorClaim::occupants_after`].
    pub doctor_occupants: Vec<Booking>,
    /// The claimed slot, unless it does not exist or was withdrawn.
    pub slot: Option<Slot>,
    /// The claimed slot's booking whose status may occupy it (at most one), lapsed or not.
    pub occupant: Option<Booking>,
    /// The claimed booking, if it exists.
    pub booking: Option<Booking>,
    /// The claimed booking's slot (withdrawn or not), if the booking exists.
    pub booking_slot: Option<Slot>,
    /// The booking made earlier with the claimed idempotency key, if any.
    pub replay: Option<Booking>,
    /// Bookings lapsed by [`Claim::lapsed_at`], in any order.
    pub lapsed: Vec<Booking>,
    /// With [`Claim::waitlist`]: the entries (stored status `OFFERED`) whose offer is the
    /// claimed slot's occupant or the claimed booking.
    pub offers: Vec<WaitlistEntry>,
    /// With [`Claim::waitlist`]: the first entry, in join order (then id), with stored status
    /// `WAITING` that [wants](WaitlistEntry::wants) the claimed live slot.
    pub slot_waiting: Option<WaitlistEntry>,
    /// With [`Claim::waitlist`]: the same for the claimed booking's slot.
    pub booking_slot_waiting: Option<WaitlistEntry>,
    /// With [`DoctorClaim::waiting_within`]: the doctor's waiting entries, in join order.
    pub doctor_waiting: Vec<WaitlistEntry>,
    /// The claimed waitlist entry ([`Claim::entry`]), if it exists.
    pub entry: Option<WaitlistEntry>,
    /// With [`Claim::waitlist_patient`]: the patient's entries stored `WAITING` or `OFFERED`.
    pub patient_entries: Vec<WaitlistEntry>,
    /// With [`Claim::slot_doctor`]: the claimed slot's doctor, if the slot exists (withdrawn
    /// or not).
    pub slot_doctor: Option<Doctor>,
    /// With [`Claim::session`]: the session's account, unless it no longer exists, with
    /// whether the session was logged out.
    pub session_account: Option<SessionAccount>,
}

/// The changes one mutation decided, to be written and committed as one atomic step.
///
/// Stores write them in the order of the fields: new doctor, new profile, new hours, new slots, withdrawn slots, deleted
/// doctor, new states of existing bookings, new bookings, new waitlist entries, new states of
/// waitlist entries, then the journal. (A lapsed occupant's new state is
/// written before the booking that replaces it, so a "one occupying booking per slot" index
/// holds at every statement.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    /// The instant of the mutation: every `updated_at` and `withdrawn`/`deleted` mark it writes.
    pub at: DateTime<Utc>,
    /// A doctor to insert.
    pub new_doctor: Option<Doctor>,
    /// A doctor's new profile, replacing the whole of the old one.
    pub profile: Option<ProfileChange>,
    /// A doctor's new working hours, replacing the old ones (or the first ones).
    pub hours: Option<HoursChange>,
    /// Slots to insert.
    pub new_slots: Vec<Slot>,
    /// Slots to withdraw (kept, marked withdrawn, no longer listed or bookable).
    pub withdrawn_slots: Vec<SlotId>,
    /// A doctor to mark deleted, withdrawing every live slot of theirs.
    pub deleted_doctor: Option<DoctorId>,
    /// New states of existing bookings, each written with `updated_at = at`.
    pub states: Vec<StateChange>,
    /// Bookings to insert.
    pub new_bookings: Vec<Booking>,
    /// Waitlist entries to insert.
    pub new_entries: Vec<WaitlistEntry>,
    /// New states of existing waitlist entries, each written with `updated_at = at`.
    pub entry_states: Vec<EntryChange>,
    /// The journal entries that record these changes, filled in by the engine
    /// ([`crate::journal::record`]). Stores append each one, and queue in the outbox what
    /// [`queued`](Self::queued) lists.
    pub journal: Vec<JournalEntry>,
    /// The journal entries whose messages are due later than [`at`](Self::at), with the
    /// instant each is due: a [reminder](crate::reminder) is due its lead before the
    /// appointment. Filled in by the engine; every other message is due at once.
    pub due: BTreeMap<EntryId, DateTime<Utc>>,
}

impl Changes {
    /// The outbox messages these changes queue: one copy of each entry for each
    /// [channel](Channel::carries) that carries its kind, due at once
    /// ([`Delivery::queued`] at [`at`](Self::at)) unless [`due`](Self::due) says later.
    /// Stores write exactly these.
    pub fn queued(&self) -> impl Iterator<Item = (&JournalEntry, Channel, Delivery)> + '_ {
        self.journal.iter().flat_map(move |entry| {
            let due = self.due.get(&entry.id).copied().unwrap_or(self.at);
            Channel::ALL
                .into_iter()
                .filter(move |channel| channel.carries(entry.kind))
                .map(move |channel| (entry, channel, Delivery::queued(due)))
        })
    }

    /// No changes yet, as of `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            at,
            new_doctor: None,
            profile: None,
            hours: None,
            new_slots: Vec::new(),
            withdrawn_slots: Vec::new(),
            deleted_doctor: None,
            states: Vec::new(),
            new_bookings: Vec::new(),
            new_entries: Vec::new(),
            entry_states: Vec::new(),
            journal: Vec::new(),
            due: BTreeMap::new(),
        }
    }

    /// Whether there is nothing to write (the journal only records the other fields).
    pub fn is_empty(&self) -> bool {
        self.new_doctor.is_none()
            && self.profile.is_none()
            && self.hours.is_none()
            && self.new_slots.is_empty()
            && self.withdrawn_slots.is_empty()
            && self.deleted_doctor.is_none()
            && self.states.is_empty()
            && self.new_bookings.is_empty()
            && self.new_entries.is_empty()
            && self.entry_states.is_empty()
    }
}

/// A doctor's new profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileChange {
    /// The doctor (locked by the mutation's [`Claim::doctor`]).
    pub doctor: DoctorId,
    /// The profile that replaces the old one.
    pub profile: DoctorProfile,
}

/// A doctor's new working hours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoursChange {
    /// The doctor (locked by the mutation's [`Claim::doctor`]).
    pub doctor: DoctorId,
    /// The hours that replace the stored ones.
    pub hours: DoctorHours,
}

/// A booking's new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// The booking.
    pub booking: BookingId,
    /// Its new state.
    pub state: BookingState,
}

/// What the core decided from a [`Locked`] read: the changes to commit, and the booking the
/// mutation answers with, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What to write. When empty the store writes nothing (and may roll back instead of
    /// committing).
    pub changes: Changes,
    /// The booking the caller is answered with once the changes are committed.
    pub reply: Option<Booking>,
}

/// The core's decision for one mutation: a pure function of what was read under the locks. It
/// may be called more than once when a store retries a transaction (after a deadlock, say);
/// only the decision of the attempt that commits counts.
pub type Decide<'a> = dyn Fn(&Locked) -> Result<Decision> + Send + Sync + 'a;

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn occupant(state: BookingState, at: DateTime<Utc>) -> Booking {
        Booking {
            id: BookingId::new(),
            slot_id: SlotId::new(),
            patient_id: PatientId::new(),
            state,
            idempotency_key: None,
            created_at: at,
            updated_at: at,
            rescheduled_from: None,
            visit_reason: None,
        }
    }

    #[test]
    fn a_narrowed_claim_needs_the_slots_waitlist_only_for_a_lapsed_occupant() {
        let now = Utc::now();
        let narrowed = Claim {
            slot: Some(SlotId::new()),
            waitlist: true,
            slot_waitlist_if_lapsed_at: Some(now),
            ..Claim::default()
        };
        let lapsed_hold = occupant(
            BookingState::Pending {
                hold_until: now - Duration::seconds(1),
            },
            now,
        );
        let live_hold = occupant(
            BookingState::Pending {
                hold_until: now + Duration::minutes(5),
            },
            now,
        );
        let confirmed = occupant(BookingState::Confirmed, now);
        assert!(narrowed.needs_slot_waitlist(Some(&lapsed_hold)));
        assert!(!narrowed.needs_slot_waitlist(Some(&live_hold)));
        assert!(!narrowed.needs_slot_waitlist(Some(&confirmed)));
        assert!(!narrowed.needs_slot_waitlist(None));

        let every_time = Claim {
            slot_waitlist_if_lapsed_at: None,
            ..narrowed.clone()
        };
        assert!(every_time.needs_slot_waitlist(None));
        assert!(every_time.needs_slot_waitlist(Some(&confirmed)));

        let no_waitlist = Claim {
            waitlist: false,
            ..narrowed
        };
        assert!(!no_waitlist.needs_slot_waitlist(Some(&lapsed_hold)));
    }
}
