//! The booking engine: the one entry point applications call. It validates input, reads the
//! clock, builds drafts and events, and lets the store apply them atomically.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::booking::{
    Booking, BookingCursor, BookingQuery, BookingState, BookingView, Event, IdempotencyKey,
};
use crate::clock::{Clock, SystemClock};
use crate::doctor::{Doctor, DoctorCursor, DoctorFilter, NewDoctor};
use crate::error::{Error, Result};
use crate::ids::{BookingId, DoctorId, PatientId, SlotId};
use crate::page::{Page, MAX_PAGE_SIZE};
use crate::slot::{Slot, SlotCursor, SlotQuery, SlotView, TimeRange};
use crate::store::SlotStore;

/// The most slots one publish request may create.
pub const MAX_SLOTS_PER_PUBLISH: usize = 500;

/// The longest accepted cancellation reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Tunable durations of the booking rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a hold keeps a slot before it lapses (default 5 minutes).
    pub hold: Duration,
    /// How long an admin's cancellation keeps the slot out of the pool (default 10 minutes).
    pub buffer: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hold: Duration::minutes(5),
            buffer: Duration::minutes(10),
        }
    }
}

impl Policy {
    /// Checks that both durations make sense.
    ///
    /// # Errors
    /// [`Error::Validation`] on `hold` unless it is positive, on `buffer` if it is negative.
    pub fn validate(self) -> Result<Self> {
        if self.hold <= Duration::zero() {
            return Err(Error::validation("hold", "must be positive"));
        }
        if self.buffer < Duration::zero() {
            return Err(Error::validation("buffer", "must not be negative"));
        }
        Ok(self)
    }
}

/// The booking engine over any [`SlotStore`]. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct BookingEngine {
    store: Arc<dyn SlotStore>,
    clock: Arc<dyn Clock>,
    policy: Policy,
}

impl std::fmt::Debug for BookingEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingEngine")
            .field("clock", &self.clock)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl BookingEngine {
    /// An engine on `store` with the system clock and the default [`Policy`].
    pub fn new(store: Arc<dyn SlotStore>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            policy: Policy::default(),
        }
    }

    /// Replaces the clock (tests use a [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the policy.
    ///
    /// # Errors
    /// As [`Policy::validate`].
    pub fn with_policy(mut self, policy: Policy) -> Result<Self> {
        self.policy = policy.validate()?;
        Ok(self)
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The current instant, from the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SlotStore> {
        &self.store
    }

    /// Creates a doctor.
    ///
    /// # Errors
    /// Only storage failures (the fields were validated by [`NewDoctor::new`]).
    pub async fn create_doctor(&self, doctor: NewDoctor) -> Result<Doctor> {
        let doctor = doctor.into_doctor(self.now());
        self.store.insert_doctor(&doctor).await?;
        Ok(doctor)
    }

    /// Deletes a doctor and withdraws its slots; its bookings stay in the history.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`], or [`Error::DoctorHasActiveBookings`] while an upcoming slot
    /// is booked, held or buffered.
    pub async fn delete_doctor(&self, id: DoctorId) -> Result<()> {
        self.store.delete_doctor(id, self.now()).await
    }

    /// A doctor.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`] when there is none with this id.
    pub async fn doctor(&self, id: DoctorId) -> Result<Doctor> {
        self.store
            .doctor(id)
            .await?
            .ok_or(Error::DoctorNotFound(id))
    }

    /// Doctors passing `filter`, by name.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.store.list_doctors(filter).await
    }

    /// One page of the doctors passing `filter` (whose own `limit` is replaced), by name, of at
    /// most `limit` doctors.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1 to [`MAX_PAGE_SIZE`]; storage failures.
    pub async fn doctors_page(
        &self,
        filter: &DoctorFilter,
        limit: u32,
    ) -> Result<Page<Doctor, DoctorCursor>> {
        check_limit(limit)?;
        let filter = DoctorFilter {
            limit: Some(limit + 1),
            ..filter.clone()
        };
        let doctors = self.store.list_doctors(&filter).await?;
        Ok(Page::from_overfetch(doctors, limit, DoctorCursor::after))
    }

    /// Publishes slots for a doctor, all or none.
    ///
    /// # Errors
    /// [`Error::Validation`] on `slots` when there are none or more than
    /// [`MAX_SLOTS_PER_PUBLISH`], on `starts_at` when one starts in the past;
    /// [`Error::DoctorNotFound`]; [`Error::SlotOverlap`] naming the first slot that overlaps
    /// another (new or existing).
    pub async fn publish_slots(
        &self,
        doctor_id: DoctorId,
        ranges: &[TimeRange],
    ) -> Result<Vec<Slot>> {
        if ranges.is_empty() {
            return Err(Error::validation("slots", "must contain at least one slot"));
        }
        if ranges.len() > MAX_SLOTS_PER_PUBLISH {
            return Err(Error::validation(
                "slots",
                format!("at most {MAX_SLOTS_PER_PUBLISH} slots per request"),
            ));
        }
        let now = self.now();
        if ranges.iter().any(|r| r.starts_at() <= now) {
            return Err(Error::validation("starts_at", "must be in the future"));
        }
        let slots: Vec<Slot> = ranges
            .iter()
            .map(|range| Slot {
                id: SlotId::new(),
                doctor_id,
                range: *range,
                created_at: now,
            })
            .collect();
        self.store.insert_slots(doctor_id, &slots).await?;
        Ok(slots)
    }

    /// Withdraws a slot that nobody occupies.
    ///
    /// # Errors
    /// [`Error::SlotNotFound`], or [`Error::SlotHasActiveBooking`] while it is booked, held or
    /// buffered.
    pub async fn withdraw_slot(&self, id: SlotId) -> Result<()> {
        self.store.withdraw_slot(id, self.now()).await
    }

    /// A slot and its status now.
    ///
    /// # Errors
    /// [`Error::SlotNotFound`] when there is no such live slot.
    pub async fn slot(&self, id: SlotId) -> Result<SlotView> {
        self.store
            .slot(id, self.now())
            .await?
            .ok_or(Error::SlotNotFound(id))
    }

    /// A page of slots.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500, on `to` when it is not after `from`.
    pub async fn slots(&self, query: &SlotQuery) -> Result<Page<SlotView, SlotCursor>> {
        check_limit(query.limit)?;
        check_window(query.from, query.to)?;
        self.store.list_slots(query, self.now()).await
    }

    /// Books a free slot for a patient: a `CONFIRMED` booking. With an idempotency key, a retry
    /// returns the first booking instead of booking again.
    ///
    /// # Errors
    /// [`Error::SlotNotFound`], [`Error::SlotInPast`], [`Error::SlotUnavailable`] when someone
    /// else has it; [`Error::Validation`] on `Idempotency-Key` when the key booked another slot.
    pub async fn book(
        &self,
        slot_id: SlotId,
        patient_id: PatientId,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Booking> {
        let now = self.now();
        let draft = draft(
            slot_id,
            patient_id,
            BookingState::Confirmed,
            idempotency_key,
            now,
        );
        self.store.create_booking(&draft, now).await
    }

    /// Holds a free slot for a patient until `now + policy.hold`: a `PENDING` booking to
    /// [`confirm`](Self::confirm).
    ///
    /// # Errors
    /// As [`book`](Self::book).
    pub async fn hold(&self, slot_id: SlotId, patient_id: PatientId) -> Result<Booking> {
        let now = self.now();
        let state = BookingState::Pending {
            hold_until: now + self.policy.hold,
        };
        let draft = draft(slot_id, patient_id, state, None, now);
        self.store.create_booking(&draft, now).await
    }

    /// Confirms the patient's own hold.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::NotOwner`], [`Error::HoldExpired`],
    /// [`Error::InvalidTransition`] when it is not a hold.
    pub async fn confirm(&self, id: BookingId, patient: PatientId) -> Result<Booking> {
        self.apply(id, Event::Confirm { patient }).await
    }

    /// The patient cancels their own booking or hold: `CANCELLED`, and the slot is free at once.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::NotOwner`], [`Error::InvalidTransition`] for a final
    /// booking or an admin's buffer; [`Error::Validation`] on `reason` when too long.
    pub async fn cancel_as_patient(
        &self,
        id: BookingId,
        patient: PatientId,
        reason: Option<String>,
    ) -> Result<Booking> {
        let reason = check_reason(reason)?;
        self.apply(id, Event::CancelByPatient { patient, reason })
            .await
    }

    /// An admin cancels any booking: a confirmed one goes to `BUFFER` for the policy's buffer
    /// window, a hold is `CANCELLED` at once.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::InvalidTransition`] for a final or buffered
    /// booking; [`Error::Validation`] on `reason` when too long.
    pub async fn cancel_as_admin(&self, id: BookingId, reason: Option<String>) -> Result<Booking> {
        let reason = check_reason(reason)?;
        let buffer = self.policy.buffer;
        self.apply(id, Event::CancelByAdmin { reason, buffer })
            .await
    }

    async fn apply(&self, id: BookingId, event: Event) -> Result<Booking> {
        self.store.apply_event(id, &event, self.now()).await
    }

    /// A booking with its slot and doctor.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`].
    pub async fn booking(&self, id: BookingId) -> Result<BookingView> {
        self.store
            .booking(id)
            .await?
            .ok_or(Error::BookingNotFound(id))
    }

    /// A page of one patient's bookings (the query's own patient filter is replaced).
    ///
    /// # Errors
    /// As [`bookings`](Self::bookings).
    pub async fn patient_bookings(
        &self,
        patient: PatientId,
        query: &BookingQuery,
    ) -> Result<Page<BookingView, BookingCursor>> {
        let query = BookingQuery {
            patient_id: Some(patient),
            ..query.clone()
        };
        self.bookings(&query).await
    }

    /// A page of bookings, newest first.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500, on `to` when it is not after `from`.
    pub async fn bookings(&self, query: &BookingQuery) -> Result<Page<BookingView, BookingCursor>> {
        check_limit(query.limit)?;
        check_window(query.from, query.to)?;
        self.store.list_bookings(query, self.now()).await
    }

    /// Tidies the stored statuses of lapsed holds and ended buffers; returns how many changed.
    /// Safe to call at any time; correctness never depends on it.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn release_expired(&self) -> Result<u64> {
        self.store.release_expired(self.now()).await
    }
}

fn draft(
    slot_id: SlotId,
    patient_id: PatientId,
    state: BookingState,
    idempotency_key: Option<IdempotencyKey>,
    now: DateTime<Utc>,
) -> Booking {
    Booking {
        id: BookingId::new(),
        slot_id,
        patient_id,
        state,
        idempotency_key,
        created_at: now,
        updated_at: now,
    }
}

fn check_limit(limit: u32) -> Result<()> {
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(())
    } else {
        Err(Error::validation(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ))
    }
}

fn check_window(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<()> {
    match (from, to) {
        (Some(from), Some(to)) if to <= from => Err(Error::validation("to", "must be after from")),
        _ => Ok(()),
    }
}

fn check_reason(reason: Option<String>) -> Result<Option<String>> {
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(Error::validation(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters"),
        )),
        // PostgreSQL refuses NUL in text; the stores must never see it.
        Some(r) if r.contains('\0') => Err(Error::validation(
            "reason",
            "must not contain NUL characters",
        )),
        reason => Ok(reason),
    }
}
