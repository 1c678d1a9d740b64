//! [`MemoryStore`]: every doctor, slot, booking and account in process memory.
//!
//! One reader-writer lock guards the whole state. Every operation takes it once, does plain map
//! work with no `.await` inside, and releases it, so a mutation is atomic by construction and
//! readers run in parallel. That keeps the store fast (no I/O, short critical sections) and easy
//! to model-check with loom (`RUSTFLAGS="--cfg loom"`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountProfile, AccountStore, Email, Role};
use crate::booking::{
    Booking, BookingCursor, BookingOrder, BookingQuery, BookingView, IdempotencyKey,
};
use crate::doctor::{Doctor, DoctorFilter};
use crate::doctor_hours::DoctorHours;
use crate::error::{Error, Result};
use crate::finding::{FreeCount, FreeSlotFilter};
use crate::ids::{AccountId, BookingId, DoctorId, EntryId, PatientId, SlotId, WaitlistEntryId};
use crate::journal::{self, Audit, JournalCursor, JournalEntry, JournalQuery};
use crate::outbox::{Channel, Delivery, MessageQuery, OutboxMessage, Settle};
use crate::page::Page;
use crate::password_reset::{
    self, PasswordReset, Redeemed, Redemption, ResetTokenHash, StoredReset,
};
use crate::session::{LoginThrottle, RevokedSession, SessionAccount, SessionGeneration, SessionId};
use crate::slot::{Slot, SlotCursor, SlotQuery, SlotStatus, SlotView, TimeRange};
use crate::store::SlotStore;
use crate::sync::RwLock;
use crate::unit_of_work::{Changes, Claim, Decide, Decision, Locked, LAPSED_BATCH};
use crate::waitlist::{EntryStatus, WaitlistEntry, WaitlistQuery};

/// An in-memory store for doctors, slots, bookings and accounts. Data is lost when the process
/// ends; use it for tests, demos and embedding where persistence is not needed.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    accounts: RwLock<Accounts>,
}

#[derive(Debug, Default)]
struct State {
    doctors: HashMap<DoctorId, DoctorRecord>,
    /// Each doctor's saved working hours.
    hours: HashMap<DoctorId, DoctorHours>,
    slots: HashMap<SlotId, SlotRecord>,
    /// Live slots in listing order.
    slots_by_start: BTreeSet<(DateTime<Utc>, SlotId)>,
    /// Each doctor's live slots in listing order, with their end, for overlap checks.
    doctor_slots: HashMap<DoctorId, Calendar>,
    bookings: BTreeMap<BookingId, Booking>,
    patient_bookings: BTreeSet<(PatientId, BookingId)>,
    idempotency: HashMap<(PatientId, IdempotencyKey), BookingId>,
    /// The journal, in its listing order.
    journal: BTreeMap<JournalCursor, JournalEntry>,
    /// The outbox: each message's delivery, by the journal entry it tells of and its channel.
    outbox: HashMap<(EntryId, Channel), (JournalCursor, Delivery)>,
    /// Waitlist entries, by id.
    entries: HashMap<WaitlistEntryId, WaitlistEntry>,
    /// Every waitlist entry in join order.
    line: BTreeSet<(DateTime<Utc>, WaitlistEntryId)>,
}

/// One doctor's live slots: (start, id) to end.
type Calendar = BTreeMap<(DateTime<Utc>, SlotId), DateTime<Utc>>;

#[derive(Debug)]
struct DoctorRecord {
    doctor: Doctor,
    deleted: bool,
}

#[derive(Debug)]
struct SlotRecord {
    slot: Slot,
    withdrawn: bool,
    /// The booking in an occupying status, if any (at most one, by construction).
    occupant: Option<BookingId>,
}

#[derive(Debug, Default)]
struct Accounts {
    by_id: HashMap<AccountId, Account>,
    by_email: HashMap<Email, AccountId>,
    /// Logged-out sessions, until they expire.
    revoked: HashMap<SessionId, RevokedSession>,
    /// Attempts counted per key and window start (the sign-in rate limit).
    attempts: HashMap<(String, DateTime<Utc>), u32>,
    /// Password reset tokens by hash.
    resets: HashMap<ResetTokenHash, ResetRecord>,
}

/// A stored reset token: whose, until when, and when it was used.
#[derive(Debug, Clone, Copy)]
struct ResetRecord {
    account: AccountId,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
}

impl Accounts {
    /// The account, with whether `session` was logged out.
    fn session_account(&self, id: AccountId, session: SessionId) -> Option<SessionAccount> {
        self.by_id.get(&id).map(|account| SessionAccount {
            account: account.clone(),
            revoked: self.revoked.contains_key(&session),
        })
    }

    fn get_mut(&mut self, id: AccountId) -> Result<&mut Account> {
        self.by_id.get_mut(&id).ok_or(Error::AccountNotFound(id))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl State {
    fn live_slot(&self, id: SlotId) -> Option<&SlotRecord> {
        self.slots.get(&id).filter(|r| !r.withdrawn)
    }

    fn occupant(&self, record: &SlotRecord) -> Option<&Booking> {
        record.occupant.and_then(|id| self.bookings.get(&id))
    }

    fn view(&self, record: &SlotRecord, now: DateTime<Utc>) -> SlotView {
        SlotView {
            slot: record.slot.clone(),
            status: SlotStatus::at(&record.slot, self.occupant(record), now),
        }
    }

    fn booking_view(&self, booking: &Booking) -> Option<BookingView> {
        let slot = &self.slots.get(&booking.slot_id)?.slot;
        let doctor = &self.doctors.get(&slot.doctor_id)?.doctor;
        Some(BookingView {
            booking: booking.clone(),
            slot: slot.clone(),
            doctor: doctor.clone(),
        })
    }

    /// Waitlist entries in join order.
    fn in_line(&self) -> impl Iterator<Item = &WaitlistEntry> {
        self.line.iter().filter_map(|(_, id)| self.entries.get(id))
    }

    /// The first waiting entry that wants this live slot.
    fn first_waiting(&self, slot: &Slot) -> Option<WaitlistEntry> {
        let doctor = &self.doctors.get(&slot.doctor_id)?.doctor;
        self.in_line()
            .find(|e| {
                e.state.status() == EntryStatus::Waiting && e.wants(slot, &doctor.specialization)
            })
            .cloned()
    }

    /// What `claim` asks for, read under the write lock.
    fn read(&self, claim: &Claim) -> Locked {
        let mut locked = Locked::default();
        if let Some(doctor) = &claim.doctor {
            locked.doctor = self
                .doctors
                .get(&doctor.id)
                .filter(|r| !r.deleted)
                .map(|r| r.doctor.clone());
            if doctor.hours && locked.doctor.is_some() {
                locked.doctor_hours = self.hours.get(&doctor.id).cloned();
            }
            let calendar = self.doctor_slots.get(&doctor.id);
            if let (Some(range), Some(calendar)) = (doctor.slots_within, calendar) {
                // Live slots of one doctor never overlap, so their ends grow with their starts:
                // walking back from the last slot starting before the range ends, stop at the
                // first that ends before the range starts.
                locked.doctor_slots = calendar
                    .range(..(range.ends_at(), SlotId::from_uuid(uuid::Uuid::nil())))
                    .rev()
                    .take_while(|(_, end)| **end > range.starts_at())
                    .filter_map(|((_, id), _)| self.slots.get(id))
                    .map(|r| r.slot.clone())
                    .collect();
            }
            if let (Some(range), Some(record)) = (doctor.waiting_within, locked.doctor.as_ref()) {
                locked.doctor_waiting = self
                    .in_line()
                    .filter(|e| {
                        e.state.status() == EntryStatus::Waiting
                            && e.window.starts_at() < range.ends_at()
                            && e.window.ends_at() > range.starts_at()
                            && match &e.target {
                                crate::WaitlistTarget::Doctor(id) => *id == record.id,
                                crate::WaitlistTarget::Specialization(s) => {
                                    s.eq_ignore_ascii_case(&record.specialization)
                                }
                            }
                    })
                    .cloned()
                    .collect();
            }
            if let (Some(after), Some(calendar)) = (doctor.occupants_after, calendar) {
                locked.doctor_occupants = calendar
                    .iter()
                    .filter(|(_, end)| **end > after)
                    .filter_map(|((_, id), _)| self.slots.get(id))
                    .filter_map(|r| self.occupant(r))
                    .cloned()
                    .collect();
            }
        }
        if let Some(id) = claim.slot {
            if let Some(record) = self.live_slot(id) {
                locked.slot = Some(record.slot.clone());
                locked.occupant = self.occupant(record).cloned();
            }
        }
        if let Some(id) = claim.slot.filter(|_| claim.slot_doctor) {
            locked.slot_doctor = self
                .slots
                .get(&id)
                .and_then(|r| self.doctors.get(&r.slot.doctor_id))
                .map(|r| r.doctor.clone());
        }
        if let Some(id) = claim.booking {
            locked.booking = self.bookings.get(&id).cloned();
            locked.booking_slot = locked
                .booking
                .as_ref()
                .and_then(|b| self.slots.get(&b.slot_id))
                .map(|r| r.slot.clone());
        }
        if let Some((patient, key)) = &claim.replay {
            locked.replay = self
                .idempotency
                .get(&(*patient, key.clone()))
                .and_then(|id| self.bookings.get(id))
                .cloned();
        }
        if claim.waitlist {
            let offered = [locked.occupant.as_ref(), locked.booking.as_ref()];
            locked.offers = offered
                .into_iter()
                .flatten()
                .filter_map(|b| {
                    self.in_line().find(|e| {
                        e.state.status() == EntryStatus::Offered && e.state.offer() == Some(b.id)
                    })
                })
                .cloned()
                .collect();
            locked.slot_waiting = locked.slot.as_ref().and_then(|s| self.first_waiting(s));
            locked.booking_slot_waiting = locked
                .booking_slot
                .as_ref()
                .filter(|s| self.live_slot(s.id).is_some())
                .and_then(|s| self.first_waiting(s));
        }
        if let Some(id) = claim.entry {
            locked.entry = self.entries.get(&id).cloned();
        }
        if let Some(patient) = claim.waitlist_patient {
            locked.patient_entries = self
                .in_line()
                .filter(|e| {
                    e.patient_id == patient
                        && matches!(
                            e.state.status(),
                            EntryStatus::Waiting | EntryStatus::Offered
                        )
                })
                .cloned()
                .collect();
        }
        if let Some(at) = claim.lapsed_at {
            locked.lapsed = self
                .slots
                .values()
                .filter_map(|record| self.occupant(record))
                .filter(|b| !b.state.occupies_slot_at(at))
                .take(LAPSED_BATCH)
                .cloned()
                .collect();
        }
        locked
    }

    /// Applies `changes`, in the order [`Changes`] lists them.
    fn write(&mut self, changes: &Changes) {
        let at = changes.at;
        if let Some(doctor) = &changes.new_doctor {
            self.doctors.insert(
                doctor.id,
                DoctorRecord {
                    doctor: doctor.clone(),
                    deleted: false,
                },
            );
        }
        if let Some(change) = &changes.profile {
            if let Some(record) = self.doctors.get_mut(&change.doctor) {
                record.doctor.profile = change.profile.clone();
            }
        }
        if let Some(change) = &changes.hours {
            self.hours.insert(change.doctor, change.hours.clone());
        }
        for slot in &changes.new_slots {
            let key = (slot.range.starts_at(), slot.id);
            self.slots_by_start.insert(key);
            self.doctor_slots
                .entry(slot.doctor_id)
                .or_default()
                .insert(key, slot.range.ends_at());
            self.slots.insert(
                slot.id,
                SlotRecord {
                    slot: slot.clone(),
                    withdrawn: false,
                    occupant: None,
                },
            );
        }
        for id in &changes.withdrawn_slots {
            self.withdraw(*id);
        }
        if let Some(id) = changes.deleted_doctor {
            let live: Vec<SlotId> = self
                .doctor_slots
                .get(&id)
                .map(|calendar| calendar.keys().map(|(_, slot)| *slot).collect())
                .unwrap_or_default();
            for slot in live {
                self.withdraw(slot);
            }
            if let Some(record) = self.doctors.get_mut(&id) {
                record.deleted = true;
            }
        }
        for change in &changes.states {
            self.write_state(change.booking, change.state.clone(), at);
        }
        for booking in &changes.new_bookings {
            if let Some(record) = self.slots.get_mut(&booking.slot_id) {
                record.occupant = Some(booking.id);
            }
            if let Some(key) = &booking.idempotency_key {
                self.idempotency
                    .insert((booking.patient_id, key.clone()), booking.id);
            }
            self.patient_bookings
                .insert((booking.patient_id, booking.id));
            self.bookings.insert(booking.id, booking.clone());
        }
        for entry in &changes.new_entries {
            self.line.insert((entry.joined_at, entry.id));
            self.entries.insert(entry.id, entry.clone());
        }
        for change in &changes.entry_states {
            if let Some(entry) = self.entries.get_mut(&change.entry) {
                entry.state = change.state.clone();
                entry.updated_at = at;
            }
        }
        self.append(changes);
    }

    /// Appends `changes.journal` and queues its messages.
    fn append(&mut self, changes: &Changes) {
        for entry in &changes.journal {
            self.journal
                .insert(JournalCursor::after(entry), entry.clone());
        }
        for (entry, channel, delivery) in changes.queued() {
            self.outbox
                .insert((entry.id, channel), (JournalCursor::after(entry), delivery));
        }
    }

    /// Appends one entry about an account, and its messages.
    fn append_entry(&mut self, entry: JournalEntry) {
        let mut changes = Changes::at(entry.at);
        changes.journal.push(entry);
        self.append(&changes);
    }

    fn message(&self, id: EntryId, channel: Channel) -> Option<OutboxMessage> {
        let (position, delivery) = self.outbox.get(&(id, channel))?;
        Some(OutboxMessage {
            entry: self.journal.get(position)?.clone(),
            channel,
            delivery: delivery.clone(),
        })
    }

    fn withdraw(&mut self, id: SlotId) {
        if let Some(record) = self.slots.get_mut(&id) {
            record.withdrawn = true;
            let key = (record.slot.range.starts_at(), id);
            self.slots_by_start.remove(&key);
            if let Some(calendar) = self.doctor_slots.get_mut(&record.slot.doctor_id) {
                calendar.remove(&key);
            }
        }
    }

    fn write_state(&mut self, id: BookingId, new: crate::BookingState, now: DateTime<Utc>) {
        let Some(booking) = self.bookings.get_mut(&id) else {
            return;
        };
        booking.state = new;
        booking.updated_at = now;
        if !booking.status().may_occupy_slot() {
            let slot_id = booking.slot_id;
            if let Some(record) = self.slots.get_mut(&slot_id) {
                if record.occupant == Some(id) {
                    record.occupant = None;
                }
            }
        }
    }
}

/// Whether the range between two bounds holds nothing. `BTreeMap::range` panics when the start
/// is after the end, which a caller's cursor and window can ask for.
fn is_empty_range<T: Ord>(lower: &Bound<T>, upper: &Bound<T>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
    }
}

#[async_trait]
impl SlotStore for MemoryStore {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        // One write lock for the whole unit of work: it covers every lock the claim names (both
        // slots of a reschedule included), so there is no order to get wrong.
        let mut state = self.state.write();
        let mut locked = state.read(claim);
        if let Some(check) = &claim.session {
            locked.session_account = self
                .accounts
                .read()
                .session_account(check.account, check.session);
        }
        let decision = decide(&locked)?;
        state.write(&decision.changes);
        Ok(decision)
    }

    async fn doctor_hours(&self, id: DoctorId) -> Result<Option<DoctorHours>> {
        let state = self.state.read();
        let live = state.doctors.get(&id).is_some_and(|r| !r.deleted);
        Ok(state.hours.get(&id).filter(|_| live).cloned())
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        let state = self.state.read();
        Ok(state
            .doctors
            .get(&id)
            .filter(|r| !r.deleted)
            .map(|r| r.doctor.clone()))
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        let state = self.state.read();
        let mut doctors: Vec<Doctor> = state
            .doctors
            .values()
            .filter(|r| !r.deleted && filter.matches(&r.doctor))
            .map(|r| r.doctor.clone())
            .collect();
        doctors.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        if let Some(limit) = filter.limit {
            doctors.truncate(limit as usize);
        }
        Ok(doctors)
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        let state = self.state.read();
        Ok(state.live_slot(id).map(|r| state.view(r, now)))
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        let state = self.state.read();
        let lower = match (query.after, query.from) {
            (Some(c), Some(from)) if from > c.starts_at => {
                Bound::Included((from, SlotId::from_uuid(uuid::Uuid::nil())))
            }
            (Some(c), _) => Bound::Excluded((c.starts_at, c.id)),
            (None, Some(from)) => Bound::Included((from, SlotId::from_uuid(uuid::Uuid::nil()))),
            (None, None) => Bound::Unbounded,
        };
        let upper = match query.to {
            Some(to) => Bound::Excluded((to, SlotId::from_uuid(uuid::Uuid::nil()))),
            None => Bound::Unbounded,
        };
        if is_empty_range(&lower, &upper) {
            // A cursor past `to`: nothing left (and `BTreeMap::range` would panic).
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let keys: Box<dyn Iterator<Item = &(DateTime<Utc>, SlotId)>> = match query.doctor_id {
            Some(doctor) => match state.doctor_slots.get(&doctor) {
                Some(calendar) => Box::new(calendar.range((lower, upper)).map(|(k, _)| k)),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(state.slots_by_start.range((lower, upper))),
        };
        let specialization = query.specialization.as_deref().map(str::trim);
        let items: Vec<SlotView> = keys
            .filter_map(|(_, id)| state.slots.get(id))
            .filter(|record| {
                specialization.is_none_or(|s| {
                    state
                        .doctors
                        .get(&record.slot.doctor_id)
                        .is_some_and(|d| d.doctor.specialization.eq_ignore_ascii_case(s))
                })
            })
            .map(|record| state.view(record, now))
            .filter(|view| {
                query
                    .available
                    .is_none_or(|want| view.status.is_available() == want)
            })
            .take(query.limit as usize + 1)
            .collect();
        Ok(Page::from_overfetch(items, query.limit, |v| {
            SlotCursor::after(&v.slot)
        }))
    }

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        let state = self.state.read();
        let specialization = filter.specialization.as_deref().map(str::trim);
        let nil = SlotId::from_uuid(uuid::Uuid::nil());
        let counts =
            days.iter()
                .map(|day| {
                    let range = (
                        Bound::Included((day.starts_at(), nil)),
                        Bound::Excluded((day.ends_at(), nil)),
                    );
                    let keys: Box<dyn Iterator<Item = &(DateTime<Utc>, SlotId)>> =
                        match filter.doctor_id {
                            Some(doctor) => match state.doctor_slots.get(&doctor) {
                                Some(calendar) => Box::new(calendar.range(range).map(|(k, _)| k)),
                                None => Box::new(std::iter::empty()),
                            },
                            None => Box::new(state.slots_by_start.range(range)),
                        };
                    keys.filter_map(|(_, id)| state.slots.get(id))
                        .filter(|record| {
                            specialization.is_none_or(|s| {
                                state.doctors.get(&record.slot.doctor_id).is_some_and(|d| {
                                    d.doctor.specialization.eq_ignore_ascii_case(s)
                                })
                            })
                        })
                        .filter(|record| state.view(record, now).status.is_available())
                        .fold(FreeCount::default(), |count, record| FreeCount {
                            free: count.free + 1,
                            first: count.first.or(Some(record.slot.range.starts_at())),
                        })
                })
                .collect();
        Ok(counts)
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        let state = self.state.read();
        Ok(state.bookings.get(&id).and_then(|b| state.booking_view(b)))
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        let state = self.state.read();
        match query.order {
            BookingOrder::Newest => {}
            BookingOrder::SoonestAppointment | BookingOrder::LatestAppointment => {
                // Every match, sorted (memory is for tests and small setups), then the page
                // after the cursor's booking.
                let cursor = match query.after {
                    Some(BookingCursor(id)) => {
                        match state.bookings.get(&id).and_then(|b| state.booking_view(b)) {
                            Some(view) => Some(view),
                            None => {
                                return Ok(Page::from_overfetch(Vec::new(), query.limit, |v| {
                                    BookingCursor(v.booking.id)
                                }))
                            }
                        }
                    }
                    None => None,
                };
                let mut items: Vec<BookingView> = state
                    .bookings
                    .values()
                    .filter_map(|b| state.booking_view(b))
                    .filter(|view| query.matches(view, now))
                    .filter(|view| {
                        cursor
                            .as_ref()
                            .is_none_or(|c| query.order.is_after(view, c))
                    })
                    .collect();
                let key = |v: &BookingView| (v.slot.range.starts_at(), v.booking.id);
                items.sort_by_key(key);
                if query.order == BookingOrder::LatestAppointment {
                    items.reverse();
                }
                items.truncate(query.limit as usize + 1);
                return Ok(Page::from_overfetch(items, query.limit, |v| {
                    BookingCursor(v.booking.id)
                }));
            }
        }
        let upper = query
            .after
            .map_or(Bound::Unbounded, |c| Bound::Excluded(c.0));
        let ids: Box<dyn Iterator<Item = BookingId>> = match query.patient_id {
            Some(patient) => {
                let upper = match upper {
                    Bound::Excluded(id) => Bound::Excluded((patient, id)),
                    _ => Bound::Excluded((patient, BookingId::from_uuid(uuid::Uuid::max()))),
                };
                let lower = Bound::Included((patient, BookingId::from_uuid(uuid::Uuid::nil())));
                Box::new(
                    state
                        .patient_bookings
                        .range((lower, upper))
                        .rev()
                        .map(|(_, id)| *id),
                )
            }
            None => Box::new(
                state
                    .bookings
                    .range((Bound::Unbounded, upper))
                    .rev()
                    .map(|(id, _)| *id),
            ),
        };
        let items: Vec<BookingView> = ids
            .filter_map(|id| state.bookings.get(&id))
            .filter_map(|b| state.booking_view(b))
            .filter(|view| query.matches(view, now))
            .take(query.limit as usize + 1)
            .collect();
        Ok(Page::from_overfetch(items, query.limit, |v| {
            BookingCursor(v.booking.id)
        }))
    }

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        let state = self.state.read();
        let lower = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let items: Vec<JournalEntry> = state
            .journal
            .range((lower, Bound::Unbounded))
            .map(|(_, entry)| entry)
            .filter(|entry| query.matches(entry))
            .take(query.limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_overfetch(
            items,
            query.limit,
            JournalCursor::after,
        ))
    }

    async fn claim_messages(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let mut state = self.state.write();
        let mut due: Vec<(DateTime<Utc>, EntryId)> = state
            .outbox
            .iter()
            .filter(|((_, on), (_, delivery))| *on == channel && delivery.is_claimable_at(now))
            .map(|((id, _), (_, delivery))| (delivery.due_at, *id))
            .collect();
        due.sort_unstable();
        due.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some((_, delivery)) = state.outbox.get_mut(&(id, channel)) {
                delivery.claimed_until = Some(lease_until);
                delivery.attempts += 1;
            }
            claimed.extend(state.message(id, channel));
        }
        Ok(claimed)
    }

    async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        let mut state = self.state.write();
        let Some((_, delivery)) = state.outbox.get_mut(&(id, channel)) else {
            return Ok(None);
        };
        *delivery = settle(delivery)?;
        Ok(state.message(id, channel))
    }

    async fn waitlist_entry(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>> {
        Ok(self.state.read().entries.get(&id).cloned())
    }

    async fn waitlist(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        let state = self.state.read();
        Ok(state
            .in_line()
            .filter(|e| query.matches(e))
            .take(usize::try_from(query.limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        let state = self.state.read();
        let lower = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let items: Vec<OutboxMessage> = state
            .journal
            .range((lower, Bound::Unbounded))
            .filter_map(|(_, entry)| state.message(entry.id, query.channel))
            .filter(|message| {
                query
                    .state
                    .is_none_or(|want| message.delivery.state() == want)
            })
            .take(query.limit as usize + 1)
            .collect();
        Ok(Page::from_overfetch(items, query.limit, |m| {
            JournalCursor::after(&m.entry)
        }))
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        let mut accounts = self.accounts.write();
        if accounts.by_email.contains_key(&account.email) {
            return Err(Error::EmailTaken);
        }
        accounts.by_email.insert(account.email.clone(), account.id);
        accounts.by_id.insert(account.id, account.clone());
        Ok(())
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.accounts.read().by_id.get(&id).cloned())
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        let accounts = self.accounts.read();
        Ok(accounts
            .by_email
            .get(email)
            .and_then(|id| accounts.by_id.get(id))
            .cloned())
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        let part = part.to_ascii_lowercase();
        let accounts = self.accounts.read();
        let mut found: Vec<Account> = accounts
            .by_id
            .values()
            .filter(|a| {
                a.name.to_ascii_lowercase().contains(&part)
                    || a.email.as_str().to_ascii_lowercase().contains(&part)
            })
            .cloned()
            .collect();
        found.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn set_role(&self, id: AccountId, role: Role, audit: &Audit) -> Result<()> {
        // The journal's lock, then the accounts': the order every account change takes.
        let mut state = self.state.write();
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(id)?;
        let entry = journal::role_changed(id, account.role, role, audit);
        account.role = role;
        if let Some(entry) = entry {
            state.append_entry(entry);
        }
        Ok(())
    }

    async fn record_account_entry(&self, entry: &JournalEntry) -> Result<()> {
        self.state.write().append_entry(entry.clone());
        Ok(())
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<()> {
        let mut accounts = self.accounts.write();
        accounts.get_mut(reset.account)?;
        accounts.resets.insert(
            reset.token_hash.clone(),
            ResetRecord {
                account: reset.account,
                expires_at: reset.expires_at,
                used_at: None,
            },
        );
        Ok(())
    }

    async fn redeem_password_reset(&self, redemption: &Redemption) -> Result<Redeemed> {
        let mut state = self.state.write();
        let mut accounts = self.accounts.write();
        let found = accounts
            .resets
            .get(&redemption.token_hash)
            .and_then(|record| {
                let role = accounts.by_id.get(&record.account)?.role;
                Some(StoredReset {
                    account: record.account,
                    role,
                    expires_at: record.expires_at,
                    used_at: record.used_at,
                })
            });
        let entry = password_reset::check(found.as_ref(), redemption)?;
        let at = redemption.audit.at;
        let id = entry.account_id.ok_or(Error::ResetTokenInvalid)?;
        for record in accounts.resets.values_mut() {
            if record.account == id && record.used_at.is_none() {
                record.used_at = Some(at);
            }
        }
        let account = accounts.get_mut(id)?;
        account.password_hash.clone_from(&redemption.password_hash);
        account.sessions = account.sessions.next();
        let sessions = account.sessions;
        state.append_entry(entry);
        Ok(Redeemed {
            account: id,
            sessions,
        })
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(id)?;
        password_hash.clone_into(&mut account.password_hash);
        account.sessions = account.sessions.next();
        Ok(account.sessions)
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(id)?;
        name.clone_into(&mut account.name);
        account.profile = profile.clone();
        Ok(())
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(id)?;
        account.sessions = account.sessions.next();
        Ok(account.sessions)
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        Ok(self.accounts.read().session_account(id, session))
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        self.accounts.write().revoked.insert(session.id, *session);
        Ok(())
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut accounts = self.accounts.write();
        let before = accounts.revoked.len();
        accounts.revoked.retain(|_, s| s.expires_at > now);
        Ok((before - accounts.revoked.len()) as u64)
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        let mut accounts = self.accounts.write();
        let account = accounts.get_mut(id)?;
        account.login_throttle = next(account.login_throttle);
        Ok(account.login_throttle)
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.accounts.write().get_mut(id)?.login_throttle = LoginThrottle::default();
        Ok(())
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> Result<u32> {
        let mut accounts = self.accounts.write();
        let count = accounts
            .attempts
            .entry((key.to_owned(), window))
            .or_insert(0);
        *count = count.saturating_add(1);
        Ok(*count)
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut accounts = self.accounts.write();
        let count = accounts.attempts.len();
        accounts.attempts.retain(|(_, window), _| *window >= before);
        Ok((count - accounts.attempts.len()) as u64)
    }
}

/// Model checks of the store's locking: loom runs each closure under every interleaving of its
/// threads that the lock allows. Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p medislot-core --release --lib loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use std::sync::Arc as StdArc;

    use chrono::Duration;
    use loom::future::block_on;
    use loom::thread;

    use super::*;
    use crate::{BookingEngine, ManualClock, NewDoctor, TimeRange};

    /// An engine on a fresh store with one doctor and one slot an hour away.
    fn setup() -> (BookingEngine, StdArc<MemoryStore>, SlotId, DateTime<Utc>) {
        let now = DateTime::from_timestamp(1_900_000_000, 0).expect("valid instant");
        let store = StdArc::new(MemoryStore::new());
        let engine =
            BookingEngine::new(store.clone()).with_clock(StdArc::new(ManualClock::new(now)));
        let slot = block_on(async {
            let doctor = engine
                .create_doctor(
                    NewDoctor::new("Dr Loom", "Cardiology", "UTC").expect("valid doctor"),
                )
                .await
                .expect("create doctor");
            let range = TimeRange::new(now + Duration::hours(1), now + Duration::hours(2))
                .expect("valid range");
            engine
                .publish_slots(doctor.id, &[range])
                .await
                .expect("publish")[0]
                .id
        });
        (engine, store, slot, now)
    }

    fn occupying(store: &MemoryStore, slot: SlotId, now: DateTime<Utc>) -> usize {
        let state = store.state.read();
        state
            .bookings
            .values()
            .filter(|b| b.slot_id == slot && b.state.occupies_slot_at(now))
            .count()
    }

    #[test]
    fn loom_two_bookings_of_one_slot_one_wins() {
        loom::model(|| {
            let (engine, store, slot, now) = setup();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let engine = engine.clone();
                    thread::spawn(move || block_on(engine.book(slot, PatientId::new(), None)))
                })
                .collect();
            let results: Vec<_> = threads
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect();
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
            assert!(results
                .iter()
                .any(|r| matches!(r, Err(Error::SlotUnavailable(_)))));
            assert_eq!(occupying(&store, slot, now), 1);
        });
    }

    #[test]
    fn loom_cancel_racing_a_booking_frees_the_slot_once() {
        loom::model(|| {
            let (engine, store, slot, now) = setup();
            let owner = PatientId::new();
            let first = block_on(engine.book(slot, owner, None)).expect("first booking");
            let canceller = {
                let engine = engine.clone();
                thread::spawn(move || block_on(engine.cancel_as_patient(first.id, owner, None)))
            };
            let booker = {
                let engine = engine.clone();
                thread::spawn(move || block_on(engine.book(slot, PatientId::new(), None)))
            };
            let cancelled = canceller.join().expect("thread");
            let booked = booker.join().expect("thread");
            assert!(cancelled.is_ok(), "the owner's cancel always succeeds");
            // The booker wins only if it ran after the cancel; either way one occupant at most.
            match &booked {
                Ok(_) => assert_eq!(occupying(&store, slot, now), 1),
                Err(Error::SlotUnavailable(_)) => assert_eq!(occupying(&store, slot, now), 0),
                Err(other) => panic!("unexpected {other:?}"),
            }
        });
    }
}
