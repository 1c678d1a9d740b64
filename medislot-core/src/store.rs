//! The storage trait every backend implements. Written for implementers: each method states what
//! must happen atomically and which error it returns on conflict.
//!
//! A store supplies atomicity and persistence only. Every mutation arrives as one call to
//! [`SlotStore::mutate`]: lock what the [`Claim`] names, read what it asks for after the locks,
//! hand the reads to the core's decision, write the [`Changes`](crate::Changes) it returns and commit, or roll
//! back. The rules and the steps of each mutation live in the core, written once.
//!
//! "Occupying" below means a booking whose status may keep its slot
//! ([`BookingStatus::may_occupy_slot`](crate::BookingStatus::may_occupy_slot)): `PENDING`,
//! `CONFIRMED` or `BUFFER`. A store keeps at most one occupying booking per slot, and should back
//! that with a unique index where it can. Whether an occupying booking still occupies the slot at
//! a given instant is read from time ([`BookingState::occupies_slot_at`](crate::BookingState::occupies_slot_at)),
//! never from a sweeper having run.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::booking::{BookingCursor, BookingQuery, BookingView};
use crate::doctor::{Doctor, DoctorFilter};
use crate::doctor_hours::DoctorHours;
use crate::error::Result;
use crate::finding::{FreeCount, FreeSlotFilter};
use crate::ids::{BookingId, DoctorId, EntryId, SlotId, WaitlistEntryId};
use crate::journal::{JournalCursor, JournalEntry, JournalQuery};
use crate::outbox::{Channel, MessageQuery, OutboxMessage, Settle};
use crate::page::Page;
use crate::slot::{SlotCursor, SlotQuery, SlotView, TimeRange};
use crate::unit_of_work::{Claim, Decide, Decision};
use crate::waitlist::{WaitlistEntry, WaitlistQuery};

/// Durable (or not) storage for doctors, slots and bookings, with atomic mutations.
///
/// Object safe: a server holds an `Arc<dyn SlotStore>`. Every method may also fail with
/// [`Error::Store`](crate::Error::Store) when the storage itself fails; transient failures
/// (lock timeouts, retries exhausted, no connection) should be
/// [`StoreError::Busy`](crate::StoreError::Busy) or
/// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
///
/// Run [`crate::testkit`] (feature `testkit`) against an implementation to check it.
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Runs one mutation as a single atomic step. Implementers must:
    ///
    /// 1. **Lock** what `claim` names, in this order, so that two mutations never wait on each
    ///    other in a cycle: the doctor ([`Claim::doctor`]); the slots, that is the slot
    ///    ([`Claim::slot`]) and the booking's slot ([`Claim::booking`]), in ascending
    ///    [`SlotId`] order when they differ; then the booking; then the waitlist entry
    ///    ([`Claim::entry`]) or the patient's place on the waitlist
    ///    ([`Claim::waitlist_patient`]). A missing row locks nothing
    ///    and is simply read as absent. A lock must exclude every other mutation that claims the
    ///    same row until this one commits or rolls back (a row lock, a database write lock, a
    ///    process-wide write lock: whatever the store has).
    /// 2. **Read**, after the last lock is granted, everything `claim` asks for into a
    ///    [`Locked`](crate::Locked), field by field as each field's docs say: the doctor unless
    ///    deleted (and its stored hours when asked), the slot unless withdrawn, the slot's occupying booking, the booking and its
    ///    slot, the replay candidate, the lapsed bookings. Reads made after the lock see every change
    ///    committed before it.
    /// 3. **Decide**: call `decide` with the reads. When it fails, roll back and return its error
    ///    unchanged. `decide` is pure and may be called again if the store retries the whole
    ///    transaction (after a deadlock, for example).
    ///
    ///    Waitlist entries read for [`Claim::waitlist`] and
    ///    [`DoctorClaim::waiting_within`](crate::DoctorClaim::waiting_within) need no lock, but
    ///    implementers must never let two mutations each move one entry on from the state they
    ///    read: refuse the write of an entry that no longer has the state its mutation read (an
    ///    entry only moves forward, [`EntryChange`](crate::EntryChange): waiting → offered or
    ///    left; offered → booked, declined, lapsed or left) and retry the whole mutation with
    ///    fresh reads, or lock the entries read.
    /// 4. **Write** the decision's [`Changes`](crate::Changes) in the order their fields are listed, then
    ///    **commit**; all of them or none. Return the decision that was committed.
    ///
    /// # Errors
    /// Whatever `decide` refuses with; [`Error::Store`](crate::Error::Store) when the storage
    /// fails (transient failures as [`StoreError::Busy`](crate::StoreError::Busy) or
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable)), changing nothing. Where a
    /// database constraint backs a rule up and refuses a write anyway (a writer that does not
    /// follow these steps shares the database), implementers must return the rule's error:
    /// a second occupying booking of a slot is
    /// [`Error::SlotUnavailable`](crate::Error::SlotUnavailable), an overlapping slot
    /// [`Error::SlotOverlap`](crate::Error::SlotOverlap).
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision>;

    /// The doctor with this id, unless it does not exist or was deleted.
    ///
    /// # Errors
    /// Only storage failures.
    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>>;

    /// The working hours last saved for this doctor ([`Changes::hours`](crate::Changes::hours)),
    /// unless none were or the doctor does not exist or was deleted.
    ///
    /// # Errors
    /// Storage failures; [`StoreError::Corrupt`](crate::StoreError::Corrupt) when the stored
    /// document is not valid hours ([`DoctorHours::from_document`]).
    async fn doctor_hours(&self, id: DoctorId) -> Result<Option<DoctorHours>>;

    /// Every doctor that is not deleted and passes `filter` ([`DoctorFilter::matches`], which
    /// includes coming after `filter.after`), ordered by name (byte order), then id; only the
    /// first `filter.limit` of them when it is set.
    ///
    /// Implementers must apply `after` and `limit` in that order, so that a page ends where the
    /// next one starts.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>>;

    /// A live (not withdrawn) slot with its status at `now` ([`crate::SlotStatus::at`]).
    ///
    /// # Errors
    /// Only storage failures.
    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>>;

    /// Live slots that pass `query`, with their status at `now`, ordered by start then id, at
    /// most `query.limit` of them, continuing after `query.after`. The page's `next` cursor is
    /// set when more slots follow. `query.specialization` compares ignoring case; slots of
    /// deleted doctors are withdrawn and so never listed.
    ///
    /// Implementers should read this with an index, not by scanning every slot.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>>;

    /// For each of `days` (ranges in ascending order that do not overlap), how many live slots
    /// passing `filter` start in it and are free at `now`, and the earliest of those starts: one
    /// answer per range, in order. Free means exactly what [`list_slots`](Self::list_slots)
    /// lists with `available: Some(true)`: not started, and no booking occupies it at `now` (a
    /// lapsed hold or an ended buffer is free, tidied or not). `filter.specialization` compares
    /// as the listing does.
    ///
    /// Implementers should read this in one pass along an index on slot starts (the doctor's,
    /// when `filter` names one), counting in the database, not by scanning every slot.
    ///
    /// # Errors
    /// Only storage failures.
    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>>;

    /// A booking with its slot and doctor.
    ///
    /// # Errors
    /// Only storage failures.
    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>>;

    /// Bookings that pass `query` at `now` ([`BookingQuery::matches`]), newest first, with their
    /// slots and doctors, at most `query.limit`, continuing after `query.after`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>>;

    /// Journal entries that pass `query` ([`JournalQuery::matches`]), ordered by instant then
    /// id, continuing after `query.after`, at most `query.limit`; the page's `next` is set when
    /// more follow. Entries are written by [`mutate`](Self::mutate) with the changes they record
    /// ([`Changes::journal`](crate::Changes::journal)) and never changed or removed after: a
    /// durable store should refuse an update or delete of one (a trigger, say).
    ///
    /// # Errors
    /// Only storage failures.
    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>>;

    /// Claims up to `limit` of `channel`'s outbox messages claimable at `now`
    /// ([`Delivery::is_claimable_at`](crate::Delivery::is_claimable_at)), oldest first (by due instant, then id): each gets
    /// `claimed_until = lease_until` and one more attempt, atomically, so two deliverers never
    /// claim one message at the same time. A message claimed by another deliverer is skipped,
    /// not waited for. Returns the claimed messages as they now are.
    ///
    /// # Errors
    /// Only storage failures.
    async fn claim_messages(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;

    /// Settles `channel`'s copy of one outbox message (and no other channel's): locks it, calls
    /// `settle` with its delivery state, writes the state `settle` returns and commits; or, when
    /// `settle` fails, changes nothing and returns its error. `Ok(None)` when there is no such message.
    ///
    /// # Errors
    /// Whatever `settle` refuses with; storage failures.
    async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>>;

    /// The outbox messages of `query`'s channel that pass it (in its state when it names one),
    /// oldest first (by instant, then id, as the journal), continuing after `query.after`, at
    /// most `query.limit`.
    ///
    /// # Errors
    /// Only storage failures.
    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>>;

    /// One waitlist entry, whatever its state.
    ///
    /// # Errors
    /// Only storage failures.
    async fn waitlist_entry(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>>;

    /// The waitlist entries that pass `query` ([`WaitlistQuery::matches`]), in join order (by
    /// `joined_at`, then id), at most `query.limit`.
    ///
    /// The entries a [`Claim::waitlist`] reads are this order's first that
    /// [want](WaitlistEntry::wants) a slot: implementers should read both with an index.
    ///
    /// # Errors
    /// Only storage failures.
    async fn waitlist(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>>;
}
