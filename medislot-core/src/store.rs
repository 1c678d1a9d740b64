//! The storage trait every backend implements. Written for implementers: each method states what
//! must happen atomically and which error it returns on conflict.
//!
//! The rules themselves live in [`crate::state`]; a store supplies atomicity. The pattern for a
//! mutation is always the same: lock the slot (then the booking, in that order, so two operations
//! never deadlock), read what the rule needs, call the rule, write its answer, commit. Any error
//! leaves the store as it was.
//!
//! "Occupying" below means a booking whose status may keep its slot
//! ([`BookingStatus::may_occupy_slot`](crate::BookingStatus::may_occupy_slot)): `PENDING`,
//! `CONFIRMED` or `BUFFER`. A store keeps at most one occupying booking per slot, and should back
//! that with a unique index where it can. Whether an occupying booking still occupies the slot at
//! a given instant is read from time ([`BookingState::occupies_slot_at`](crate::BookingState::occupies_slot_at)),
//! never from a sweeper having run.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::booking::{Booking, BookingCursor, BookingQuery, BookingView, Event};
use crate::doctor::{Doctor, DoctorFilter};
use crate::error::Result;
use crate::ids::{BookingId, DoctorId, SlotId};
use crate::page::Page;
use crate::slot::{Slot, SlotCursor, SlotQuery, SlotView};

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
    /// Stores a new doctor.
    ///
    /// # Errors
    /// Only storage failures.
    async fn insert_doctor(&self, doctor: &Doctor) -> Result<()>;

    /// The doctor with this id, unless it does not exist or was deleted.
    ///
    /// # Errors
    /// Only storage failures.
    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>>;

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

    /// Deletes a doctor: atomically, unless one of its slots that has not ended by `now` has a
    /// booking that occupies it at `now`, marks the doctor deleted and withdraws all its slots.
    /// Implementers must keep the doctor's row, slots and bookings: history is never destroyed.
    ///
    /// # Errors
    /// Implementers must return [`Error::DoctorNotFound`](crate::Error::DoctorNotFound) when
    /// there is no such (undeleted) doctor and
    /// [`Error::DoctorHasActiveBookings`](crate::Error::DoctorHasActiveBookings) when a booking
    /// blocks the delete, changing nothing. A booking made concurrently must either block the
    /// delete or be refused as `SlotNotFound`.
    async fn delete_doctor(&self, id: DoctorId, now: DateTime<Utc>) -> Result<()>;

    /// Stores new slots for one doctor, all or none. Every slot's `doctor_id` is `doctor_id`.
    ///
    /// # Errors
    /// Implementers must return [`Error::DoctorNotFound`](crate::Error::DoctorNotFound) when the
    /// doctor does not exist or is deleted, and
    /// [`Error::SlotOverlap`](crate::Error::SlotOverlap) naming the first slot of `slots` that
    /// overlaps one of the doctor's live (not withdrawn) slots or an earlier slot of `slots`,
    /// storing none of them. Concurrent inserts for one doctor must not produce an overlap.
    async fn insert_slots(&self, doctor_id: DoctorId, slots: &[Slot]) -> Result<()>;

    /// Withdraws a slot: atomically, unless a booking occupies it at `now`, marks it withdrawn
    /// so that it is no longer listed or bookable. Its bookings are kept.
    ///
    /// # Errors
    /// Implementers must return [`Error::SlotNotFound`](crate::Error::SlotNotFound) when there
    /// is no such live slot and [`Error::SlotHasActiveBooking`](crate::Error::SlotHasActiveBooking)
    /// when a booking occupies it, changing nothing.
    async fn withdraw_slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<()>;

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

    /// Creates `draft` (a `PENDING` or `CONFIRMED` booking made by the engine) on its slot, as
    /// one atomic step:
    /// 1. lock the slot; a missing or withdrawn slot is
    ///    [`Error::SlotNotFound`](crate::Error::SlotNotFound);
    /// 2. when the draft carries an idempotency key that the same patient used before, return
    ///    [`crate::state::replay`] of that first booking and write nothing (looked up after the
    ///    lock, so that two retries racing on one slot cannot both book);
    /// 3. read the slot's occupying booking, if any, and call [`crate::state::check_bookable`];
    /// 4. write the [`Tidy`](crate::state::Tidy) it asks for, if any, then insert the draft.
    ///
    /// Returns the stored booking.
    ///
    /// # Errors
    /// Implementers must return what `check_bookable` returns ([`Error::SlotUnavailable`](crate::Error::SlotUnavailable),
    /// [`Error::SlotInPast`](crate::Error::SlotInPast)) and never store two occupying bookings
    /// for one slot, however many callers race.
    async fn create_booking(&self, draft: &Booking, now: DateTime<Utc>) -> Result<Booking>;

    /// Applies `event` to a booking as one atomic step: lock its slot, then the booking; call
    /// [`crate::state::transition`]; write the new state with `updated_at = now`. Returns the
    /// updated booking.
    ///
    /// # Errors
    /// Implementers must return [`Error::BookingNotFound`](crate::Error::BookingNotFound) for an
    /// unknown id and whatever `transition` refuses with, changing nothing.
    async fn apply_event(
        &self,
        id: BookingId,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Booking>;

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

    /// Tidies stored statuses: every hold lapsed by `now` becomes `EXPIRED` and every buffer
    /// ended by `now` becomes `CANCELLED` (as [`Event::Expire`] decides). Returns how many
    /// bookings changed. Correctness never depends on this running: it only makes stored
    /// statuses match what readers already see.
    ///
    /// # Errors
    /// Only storage failures.
    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64>;
}
