//! The reference model: what the engine should answer, kept as plain vectors and searched by
//! brute force. It shares medislot-core's data types but none of its decisions: every rule here
//! is read off the docs of `BookingEngine` and `SlotStore` or taken from `rules.rs`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use medislot_core::{
    Booking, BookingId, BookingState, BookingStatus, CancelledBy, Doctor, DoctorId, EntryStatus,
    Event, IdempotencyKey, PatientId, Slot, SlotId, SlotStatus, SlotView, TimeRange,
    WaitlistEntryId, WaitlistTarget,
};

use crate::rules::{self, Refusal};

/// The longest cancellation reason, in characters, after trimming.
const MAX_REASON_CHARS: usize = 500;
/// The most slots one publish request may create.
const MAX_SLOTS_PER_PUBLISH: usize = 500;

/// The filters of a slot listing besides its time window.
#[derive(Clone, Copy, Debug)]
pub(super) struct SlotFilter<'a> {
    pub(super) doctor: Option<DoctorId>,
    pub(super) specialization: Option<&'a str>,
    pub(super) available: Option<bool>,
}

/// What a booking request returns when the model accepts it.
#[derive(Debug)]
pub(super) enum Made {
    /// A new booking, as the engine must return it but for its id, which the engine picks.
    New(Booking),
    /// An earlier booking, index into [`Model::bookings`], replayed for its idempotency key.
    Replayed(usize),
}

/// The doctors, slots, bookings and waitlist entries the engine should hold, and the time it
/// should read.
#[derive(Debug)]
pub(super) struct Model {
    now: DateTime<Utc>,
    hold: Duration,
    buffer: Duration,
    offer_window: Duration,
    waitlist_limit: usize,
    doctors: Vec<ModelDoctor>,
    slots: Vec<ModelSlot>,
    /// Offers the model makes get the id [`OFFER_PLACEHOLDER`] until the engine's entry names
    /// the hold it made ([`Model::learn_offer`]).
    bookings: Vec<Booking>,
    keys: HashMap<(PatientId, IdempotencyKey), usize>,
    /// In join order (by the instant joined, then id: the clock may have been moved back),
    /// which is the order offers are made in.
    entries: Vec<Entry>,
}

/// The id an offer has in the model until the engine's entry says which hold it made.
pub(super) const OFFER_PLACEHOLDER: BookingId = BookingId::from_uuid(uuid::Uuid::nil());

/// A waitlist entry as the model keeps it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) id: WaitlistEntryId,
    pub(super) patient: PatientId,
    pub(super) target: WaitlistTarget,
    pub(super) window: TimeRange,
    pub(super) joined_at: DateTime<Utc>,
    pub(super) wait: Wait,
}

/// Where an entry stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Waiting,
    /// Holds the offer that is booking `n` (an index into [`Model::bookings`]).
    Offered(usize),
    /// Confirmed the offer that is booking `n`; so for the next two.
    Booked(usize),
    Declined(usize),
    Lapsed(usize),
    Left,
}

impl Wait {
    /// The booking of the entry's offer, if it had one.
    pub(super) fn offer(self) -> Option<usize> {
        match self {
            Wait::Offered(b) | Wait::Booked(b) | Wait::Declined(b) | Wait::Lapsed(b) => Some(b),
            Wait::Waiting | Wait::Left => None,
        }
    }
}

#[derive(Debug)]
struct ModelDoctor {
    doctor: Doctor,
    deleted: bool,
}

#[derive(Debug)]
struct ModelSlot {
    slot: Slot,
    withdrawn: bool,
}

impl Model {
    pub(super) fn new(
        now: DateTime<Utc>,
        hold: Duration,
        buffer: Duration,
        offer_window: Duration,
        waitlist_limit: usize,
    ) -> Self {
        Self {
            now,
            hold,
            buffer,
            offer_window,
            waitlist_limit,
            doctors: Vec::new(),
            slots: Vec::new(),
            bookings: Vec::new(),
            keys: HashMap::new(),
            entries: Vec::new(),
        }
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub(super) fn hold(&self) -> Duration {
        self.hold
    }

    pub(super) fn buffer(&self) -> Duration {
        self.buffer
    }

    pub(super) fn move_clock(&mut self, by: Duration) {
        self.now += by;
    }

    /// Records a doctor the engine created.
    pub(super) fn add_doctor(&mut self, doctor: Doctor) {
        self.doctors.push(ModelDoctor {
            doctor,
            deleted: false,
        });
    }

    /// The doctor with this id, deleted or not (bookings keep showing their doctor).
    pub(super) fn doctor(&self, id: DoctorId) -> Option<&Doctor> {
        self.doctors.iter().map(|d| &d.doctor).find(|d| d.id == id)
    }

    /// The doctor with this id unless deleted: what `BookingEngine::doctor` reads.
    pub(super) fn live_doctor(&self, id: DoctorId) -> Option<&Doctor> {
        self.doctors
            .iter()
            .find(|d| d.doctor.id == id && !d.deleted)
            .map(|d| &d.doctor)
    }

    /// Every doctor not deleted, by name then id: what `BookingEngine::doctors` lists with no
    /// filter.
    pub(super) fn live_doctors(&self) -> Vec<&Doctor> {
        let mut live: Vec<&Doctor> = self
            .doctors
            .iter()
            .filter(|d| !d.deleted)
            .map(|d| &d.doctor)
            .collect();
        live.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        live
    }

    /// Records a slot the engine published (after [`Model::publish`] accepted it), and offers
    /// it to the first waiting entry that wants it (slots in request order, one offer per
    /// entry).
    pub(super) fn add_slot(&mut self, slot: Slot) {
        let id = slot.id;
        self.slots.push(ModelSlot {
            slot,
            withdrawn: false,
        });
        self.offer(id);
    }

    pub(super) fn bookings(&self) -> &[Booking] {
        &self.bookings
    }

    /// The slot with this id, withdrawn or not.
    pub(super) fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.iter().map(|s| &s.slot).find(|s| s.id == id)
    }

    fn live_slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.slot.id == id && !s.withdrawn)
            .map(|s| &s.slot)
    }

    /// The slot's booking whose stored status may hold it, if any.
    ///
    /// # Panics
    /// When there are two: the model broke its own invariant.
    fn occupant(&self, slot: SlotId) -> Option<usize> {
        let mut found = self
            .bookings
            .iter()
            .enumerate()
            .filter(|(_, b)| b.slot_id == slot && rules::may_occupy(&b.state))
            .map(|(i, _)| i);
        let first = found.next();
        assert!(
            found.next().is_none(),
            "the model has two occupants on {slot}"
        );
        first
    }

    /// Writes a booking's new state; when it is an entry's offer, the entry moves on with it
    /// (confirmed: booked; cancelled or in a buffer: declined; expired: lapsed).
    fn write(&mut self, booking: usize, state: BookingState) {
        let after = match &state {
            BookingState::Confirmed => Some(Wait::Booked(booking)),
            BookingState::Cancelled { .. } | BookingState::Buffer { .. } => {
                Some(Wait::Declined(booking))
            }
            BookingState::Expired { .. } => Some(Wait::Lapsed(booking)),
            BookingState::Pending { .. } | BookingState::Rescheduled { .. } => None,
        };
        if let Some(after) = after {
            for e in &mut self.entries {
                if e.wait == Wait::Offered(booking) {
                    e.wait = after;
                }
            }
        }
        let b = &mut self.bookings[booking];
        b.state = state;
        b.updated_at = self.now;
    }

    /// Whether `entry` wants `slot`: its doctor, or a doctor of its specialization (ignoring
    /// case), starting within its window.
    fn wants(&self, entry: &Entry, slot: &Slot) -> bool {
        let target = match &entry.target {
            WaitlistTarget::Doctor(id) => *id == slot.doctor_id,
            WaitlistTarget::Specialization(want) => self
                .doctor(slot.doctor_id)
                .is_some_and(|d| d.specialization.eq_ignore_ascii_case(want)),
        };
        let start = slot.range.starts_at();
        target && entry.window.starts_at() <= start && start < entry.window.ends_at()
    }

    /// The first entry in join order still waiting that wants this live slot.
    fn first_waiting(&self, slot: SlotId) -> Option<usize> {
        let slot = self.live_slot(slot)?;
        self.entries
            .iter()
            .position(|e| e.wait == Wait::Waiting && self.wants(e, slot))
    }

    /// `slot` was freed: unless it has started (or was withdrawn), the first waiting entry
    /// that wants it is offered it, a hold in that patient's name for the offer window, never
    /// past the slot's start.
    fn offer(&mut self, slot: SlotId) {
        let Some(start) = self.live_slot(slot).map(|s| s.range.starts_at()) else {
            return;
        };
        if start <= self.now {
            return;
        }
        let Some(entry) = self.first_waiting(slot) else {
            return;
        };
        self.bookings.push(Booking {
            id: OFFER_PLACEHOLDER,
            slot_id: slot,
            patient_id: self.entries[entry].patient,
            state: BookingState::Pending {
                hold_until: (self.now + self.offer_window).min(start),
            },
            idempotency_key: None,
            created_at: self.now,
            updated_at: self.now,
            rescheduled_from: None,
            visit_reason: None,
        });
        self.entries[entry].wait = Wait::Offered(self.bookings.len() - 1);
    }

    /// `book` (with `state` confirmed) or `hold` (with `state` pending): a new booking unless
    /// the slot is gone, started or occupied; with a key the patient already used, the first
    /// booking, or a refusal when it was for another slot.
    pub(super) fn create(
        &mut self,
        slot_id: SlotId,
        patient: PatientId,
        state: BookingState,
        key: Option<IdempotencyKey>,
    ) -> Result<Made, Refusal> {
        let slot = self
            .live_slot(slot_id)
            .ok_or(Refusal::SlotNotFound(slot_id))?;
        let starts_at = slot.range.starts_at();
        if let Some(key) = &key {
            if let Some(&first) = self.keys.get(&(patient, key.clone())) {
                return if self.bookings[first].slot_id == slot_id {
                    Ok(Made::Replayed(first))
                } else {
                    Err(Refusal::Validation {
                        field: "Idempotency-Key",
                    })
                };
            }
        }
        if starts_at <= self.now {
            return Err(Refusal::SlotInPast(slot_id));
        }
        if let Some(occupant) = self.occupant(slot_id) {
            let old = &self.bookings[occupant].state;
            if rules::occupies(old, self.now) {
                return Err(Refusal::SlotUnavailable(slot_id));
            }
            let Some(end) = rules::expired(old) else {
                unreachable!("an occupant that no longer occupies is a lapsed hold or buffer");
            };
            self.write(occupant, end);
            // The slot is freed only now: the waitlist has it first, and the booker is refused.
            if self.first_waiting(slot_id).is_some() {
                self.offer(slot_id);
                return Err(Refusal::SlotUnavailable(slot_id));
            }
        }
        Ok(Made::New(Booking {
            id: BookingId::from_uuid(uuid::Uuid::nil()),
            slot_id,
            patient_id: patient,
            state,
            idempotency_key: key,
            created_at: self.now,
            updated_at: self.now,
            rescheduled_from: None,
            visit_reason: None,
        }))
    }

    /// Records a booking the engine made after [`Model::create`] answered [`Made::New`].
    pub(super) fn commit(&mut self, booking: Booking) {
        if let Some(key) = &booking.idempotency_key {
            self.keys
                .insert((booking.patient_id, key.clone()), self.bookings.len());
        }
        self.bookings.push(booking);
    }

    /// `reschedule_as_patient` (`patient` is `Some`) or `reschedule_as_admin`: refused unless
    /// the booking exists and is the patient's, (a key the owner already used replays its
    /// first move, or is refused for another request), the target is another slot, the booking
    /// is confirmed and, for a patient, its slot has not started, and the target is a live
    /// slot that has not started and that nobody occupies now (a lapsed occupant is tidied).
    /// The new booking is made by the engine; [`Model::commit_move`] records it.
    pub(super) fn reschedule(
        &mut self,
        id: BookingId,
        patient: Option<PatientId>,
        target: SlotId,
        key: Option<IdempotencyKey>,
    ) -> Result<Made, Refusal> {
        let old = self
            .bookings
            .iter()
            .find(|b| b.id == id)
            .cloned()
            .ok_or(Refusal::BookingNotFound(id))?;
        if patient.is_some_and(|p| p != old.patient_id) {
            return Err(Refusal::NotOwner(id));
        }
        if let Some(key) = &key {
            if let Some(&first) = self.keys.get(&(old.patient_id, key.clone())) {
                let made = &self.bookings[first];
                return if made.rescheduled_from == Some(id) && made.slot_id == target {
                    Ok(Made::Replayed(first))
                } else {
                    Err(Refusal::Validation {
                        field: "Idempotency-Key",
                    })
                };
            }
        }
        if old.slot_id == target {
            return Err(Refusal::Validation { field: "slot_id" });
        }
        // The new booking's id is the engine's to pick: any id checks the transition.
        let to = BookingId::from_uuid(uuid::Uuid::nil());
        let event = match patient {
            Some(patient) => Event::RescheduleByPatient { patient, to },
            None => Event::RescheduleByAdmin { to },
        };
        rules::transition(&old, &event, self.now)?;
        if let (Some(_), Some(slot)) = (patient, self.slot(old.slot_id)) {
            // The default cut-off (none): until the slot starts.
            let starts_at = slot.range.starts_at();
            if self.now >= starts_at {
                return Err(Refusal::TooLateToChange {
                    booking: id,
                    allowed_until: starts_at,
                });
            }
        }
        let made = self.create(target, old.patient_id, BookingState::Confirmed, None)?;
        let Made::New(draft) = made else {
            unreachable!("a request without a key is never a replay");
        };
        Ok(Made::New(Booking {
            idempotency_key: key,
            rescheduled_from: Some(id),
            visit_reason: old.visit_reason,
            ..draft
        }))
    }

    /// Records a move the engine made after [`Model::reschedule`] answered [`Made::New`]: the
    /// new booking, and the old one rescheduled to it.
    pub(super) fn commit_move(&mut self, new: Booking) {
        let old = new.rescheduled_from.expect("a move links back");
        let index = self
            .bookings
            .iter()
            .position(|b| b.id == old)
            .expect("the moved booking is in the model");
        self.write(index, BookingState::Rescheduled { to: new.id });
        let freed = self.bookings[index].slot_id;
        self.commit(new);
        self.offer(freed);
    }

    /// A patient's or admin's cancellation reason as the engine keeps it: trimmed, `None` when
    /// blank, refused when longer than 500 characters or when it holds a control character
    /// other than a tab or a line break (C0, DEL and C1: what every store can hold).
    pub(super) fn reason(reason: Option<String>) -> Result<Option<String>, Refusal> {
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        let forbidden = |c: char| {
            matches!(u32::from(c), 0x00..=0x1f | 0x7f..=0x9f) && !matches!(c, '\t' | '\n' | '\r')
        };
        match reason {
            Some(r) if r.chars().count() > MAX_REASON_CHARS || r.chars().any(forbidden) => {
                Err(Refusal::Validation { field: "reason" })
            }
            reason => Ok(reason),
        }
    }

    /// Applies an event to a booking; returns the booking's index.
    pub(super) fn apply(&mut self, id: BookingId, event: &Event) -> Result<usize, Refusal> {
        let index = self
            .bookings
            .iter()
            .position(|b| b.id == id)
            .ok_or(Refusal::BookingNotFound(id))?;
        let booking = &self.bookings[index];
        let new = rules::transition(booking, event, self.now)?;
        // The time rules that need the slot: a started slot's hold cannot be confirmed, and
        // (the default cut-off, none) a confirmed booking can be cancelled by its patient only
        // until its slot starts.
        if let Some(starts_at) = self.slot(booking.slot_id).map(|s| s.range.starts_at()) {
            match (event, &booking.state) {
                (Event::Confirm { .. }, _) if starts_at <= self.now => {
                    return Err(Refusal::SlotInPast(booking.slot_id));
                }
                (Event::CancelByPatient { .. }, BookingState::Confirmed)
                    if starts_at <= self.now =>
                {
                    return Err(Refusal::TooLateToChange {
                        booking: booking.id,
                        allowed_until: starts_at,
                    });
                }
                _ => {}
            }
        }
        let (slot, before) = (booking.slot_id, booking.state.clone());
        let started = self
            .slot(slot)
            .is_none_or(|s| s.range.starts_at() <= self.now);
        let new = match new {
            // Someone waits: the buffer is theirs, so it ends now and the slot is offered.
            BookingState::Buffer { reason, .. }
                if !started && self.first_waiting(slot).is_some() =>
            {
                BookingState::Cancelled {
                    by: CancelledBy::Admin,
                    reason,
                    buffer_until: Some(self.now),
                }
            }
            new => new,
        };
        let frees = rules::may_occupy(&before) && !rules::occupies(&new, self.now);
        self.write(index, new);
        if frees {
            self.offer(slot);
        }
        Ok(index)
    }

    /// Withdraws a live slot nobody occupies now.
    pub(super) fn withdraw(&mut self, id: SlotId) -> Result<(), Refusal> {
        self.live_slot(id).ok_or(Refusal::SlotNotFound(id))?;
        if let Some(occupant) = self.occupant(id) {
            if rules::occupies(&self.bookings[occupant].state, self.now) {
                return Err(Refusal::SlotHasActiveBooking(id));
            }
        }
        for s in &mut self.slots {
            if s.slot.id == id {
                s.withdrawn = true;
            }
        }
        Ok(())
    }

    /// Deletes a doctor and withdraws their live slots, unless one of their live slots that
    /// has not ended is occupied now. Other doctors' slots are untouched.
    pub(super) fn delete_doctor(&mut self, id: DoctorId) -> Result<(), Refusal> {
        self.live_doctor(id).ok_or(Refusal::DoctorNotFound(id))?;
        let blocked = self
            .slots
            .iter()
            .filter(|s| s.slot.doctor_id == id && !s.withdrawn)
            .any(|s| {
                s.slot.range.ends_at() > self.now
                    && self
                        .occupant(s.slot.id)
                        .is_some_and(|i| rules::occupies(&self.bookings[i].state, self.now))
            });
        if blocked {
            return Err(Refusal::DoctorHasActiveBookings(id));
        }
        for d in &mut self.doctors {
            if d.doctor.id == id {
                d.deleted = true;
            }
        }
        for s in &mut self.slots {
            if s.slot.doctor_id == id {
                s.withdrawn = true;
            }
        }
        Ok(())
    }

    /// What publishing `ranges` for `doctor` must answer, all or nothing; records nothing (the
    /// engine picks the new slots' ids: [`Model::add_slot`] records them). In order: a request
    /// with no range or more than 500 is refused on `slots`, one with a range starting now or
    /// earlier on `starts_at`; then the doctor must exist and not be deleted; then the first
    /// range (in request order) that shares an instant with one of the doctor's live slots or
    /// with an earlier range of the request is refused as an overlap. Ranges that only touch
    /// do not overlap, and other doctors' slots do not count.
    pub(super) fn publish(&self, doctor: DoctorId, ranges: &[TimeRange]) -> Result<(), Refusal> {
        if ranges.is_empty() || ranges.len() > MAX_SLOTS_PER_PUBLISH {
            return Err(Refusal::Validation { field: "slots" });
        }
        if ranges.iter().any(|r| r.starts_at() <= self.now) {
            return Err(Refusal::Validation { field: "starts_at" });
        }
        self.live_doctor(doctor)
            .ok_or(Refusal::DoctorNotFound(doctor))?;
        let live: Vec<TimeRange> = self
            .slots
            .iter()
            .filter(|s| s.slot.doctor_id == doctor && !s.withdrawn)
            .map(|s| s.slot.range)
            .collect();
        let share_an_instant = |a: &TimeRange, b: &TimeRange| {
            a.starts_at() < b.ends_at() && b.starts_at() < a.ends_at()
        };
        for (i, range) in ranges.iter().enumerate() {
            if live
                .iter()
                .chain(&ranges[..i])
                .any(|other| share_an_instant(range, other))
            {
                return Err(Refusal::SlotOverlap {
                    doctor,
                    starts_at: range.starts_at(),
                    ends_at: range.ends_at(),
                });
            }
        }
        Ok(())
    }

    /// Tidies every lapsed hold and ended buffer; returns how many.
    pub(super) fn release_expired(&mut self) -> u64 {
        let mut lapsed: Vec<(usize, BookingState)> = self
            .bookings
            .iter()
            .enumerate()
            .filter(|(_, b)| rules::may_occupy(&b.state) && !rules::occupies(&b.state, self.now))
            .filter_map(|(i, b)| rules::expired(&b.state).map(|end| (i, end)))
            .collect();
        // Oldest first (ids are time-ordered), each freeing its slot for the waitlist.
        lapsed.sort_by_key(|(i, _)| self.bookings[*i].id);
        let count = lapsed.len() as u64;
        for (i, end) in lapsed {
            self.write(i, end);
            self.offer(self.bookings[i].slot_id);
        }
        count
    }

    /// A live slot and how it reads now.
    pub(super) fn slot_view(&self, id: SlotId) -> Result<SlotView, Refusal> {
        let slot = self.live_slot(id).ok_or(Refusal::SlotNotFound(id))?;
        let occupant = self.occupant(id).map(|i| &self.bookings[i].state);
        let status = match occupant {
            Some(BookingState::Confirmed) => SlotStatus::Booked,
            Some(BookingState::Pending { hold_until }) if *hold_until > self.now => {
                SlotStatus::Held { until: *hold_until }
            }
            Some(BookingState::Buffer { buffer_until, .. }) if *buffer_until > self.now => {
                SlotStatus::Buffer {
                    until: *buffer_until,
                }
            }
            _ if slot.range.starts_at() > self.now => SlotStatus::Available,
            _ => SlotStatus::Started,
        };
        Ok(SlotView {
            slot: slot.clone(),
            status,
        })
    }

    /// Every live slot starting in `[from, to)`, of `doctor` and of a doctor whose
    /// specialization is `specialization` ignoring case, by start then id, keeping those whose
    /// availability is `available`; refused when `to` is not after `from`.
    pub(super) fn list_slots(
        &self,
        filter: &SlotFilter<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<SlotView>, Refusal> {
        let SlotFilter {
            doctor,
            specialization,
            available,
        } = *filter;
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                return Err(Refusal::Validation { field: "to" });
            }
        }
        let mut views: Vec<SlotView> = self
            .slots
            .iter()
            .filter(|s| !s.withdrawn)
            .filter(|s| doctor.is_none_or(|d| s.slot.doctor_id == d))
            .filter(|s| {
                specialization.is_none_or(|want| {
                    self.doctor(s.slot.doctor_id)
                        .is_some_and(|d| d.specialization.eq_ignore_ascii_case(want))
                })
            })
            .filter(|s| from.is_none_or(|from| s.slot.range.starts_at() >= from))
            .filter(|s| to.is_none_or(|to| s.slot.range.starts_at() < to))
            .filter_map(|s| self.slot_view(s.slot.id).ok())
            .filter(|v| available.is_none_or(|want| (v.status == SlotStatus::Available) == want))
            .collect();
        views.sort_by_key(|v| (v.slot.range.starts_at(), v.slot.id));
        Ok(views)
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The engine named the hold it made for the offer that is booking `index`.
    pub(super) fn learn_offer(&mut self, index: usize, id: BookingId) {
        assert_eq!(
            self.bookings[index].id, OFFER_PLACEHOLDER,
            "an offer learnt twice"
        );
        self.bookings[index].id = id;
    }

    /// An entry's status now: a stored offer whose hold ran out reads as lapsed.
    pub(super) fn entry_status(&self, entry: &Entry) -> EntryStatus {
        match entry.wait {
            Wait::Waiting => EntryStatus::Waiting,
            Wait::Offered(b) if rules::occupies(&self.bookings[b].state, self.now) => {
                EntryStatus::Offered
            }
            Wait::Offered(_) | Wait::Lapsed(_) => EntryStatus::Lapsed,
            Wait::Booked(_) => EntryStatus::Booked,
            Wait::Declined(_) => EntryStatus::Declined,
            Wait::Left => EntryStatus::Left,
        }
    }

    /// `join_waitlist`: refused when the window has ended, when the doctor waited for does not
    /// exist (or was deleted), or when the patient has the limit of active entries (waiting,
    /// or holding a live offer). Joining offers nothing, even when a wanted slot is free now.
    pub(super) fn join(
        &self,
        patient: PatientId,
        target: &WaitlistTarget,
        window: TimeRange,
    ) -> Result<(), Refusal> {
        if window.ends_at() <= self.now {
            return Err(Refusal::Validation { field: "to" });
        }
        if let WaitlistTarget::Doctor(id) = target {
            self.live_doctor(*id).ok_or(Refusal::DoctorNotFound(*id))?;
        }
        let active = self
            .entries
            .iter()
            .filter(|e| e.patient == patient)
            .filter(|e| {
                matches!(
                    self.entry_status(e),
                    EntryStatus::Waiting | EntryStatus::Offered
                )
            })
            .count();
        if active >= self.waitlist_limit {
            return Err(Refusal::WaitlistFull);
        }
        Ok(())
    }

    /// Records an entry the engine made after [`Model::join`] accepted it.
    pub(super) fn add_entry(&mut self, entry: Entry) {
        let at = self
            .entries
            .partition_point(|e| (e.joined_at, e.id) < (entry.joined_at, entry.id));
        self.entries.insert(at, entry);
    }

    /// `leave_waitlist`: only the patient's own entry, only while it waits.
    pub(super) fn leave(&mut self, id: WaitlistEntryId, patient: PatientId) -> Result<(), Refusal> {
        let index = self
            .entries
            .iter()
            .position(|e| e.id == id && e.patient == patient)
            .ok_or(Refusal::WaitlistEntryNotFound(id))?;
        let status = self.entry_status(&self.entries[index]);
        if status != EntryStatus::Waiting {
            return Err(Refusal::WaitlistEntryNotWaiting { id, status });
        }
        self.entries[index].wait = Wait::Left;
        Ok(())
    }

    /// A patient's active entries (stored as waiting or offered), in join order.
    pub(super) fn patient_entries(&self, patient: PatientId) -> Vec<WaitlistEntryId> {
        self.entries
            .iter()
            .filter(|e| e.patient == patient)
            .filter(|e| matches!(e.wait, Wait::Waiting | Wait::Offered(_)))
            .map(|e| e.id)
            .collect()
    }

    /// A patient's bookings, newest (highest id) first, keeping those whose status read now is
    /// `status`.
    pub(super) fn patient_bookings(
        &self,
        patient: PatientId,
        status: Option<BookingStatus>,
    ) -> Vec<&Booking> {
        let mut found: Vec<&Booking> = self
            .bookings
            .iter()
            .filter(|b| b.patient_id == patient)
            .filter(|b| status.is_none_or(|s| rules::seen_status(&b.state, self.now) == s))
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.id));
        found
    }
}
