//! The booking engine: the one entry point applications call. It validates input, reads the
//! clock once per operation, and runs every mutation the same way: it names what to lock
//! ([`Claim`]), lets the store lock and read, decides from what was read ([`crate::decisions`]),
//! and lets the store commit the changes it decided.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::booking::{
    Booking, BookingCursor, BookingQuery, BookingState, BookingView, Event, IdempotencyKey,
};
use crate::clock::{Clock, SystemClock};
use crate::decisions;
use crate::doctor::{Doctor, DoctorCursor, DoctorFilter, NewDoctor};
use crate::doctor_profile::DoctorProfile;
use crate::error::{Error, Result};
use crate::finding::{Availability, DayAvailability, FreeSlotFilter, NextAvailable};
use crate::ids::{BookingId, DoctorId, EntryId, PatientId, SlotId, WaitlistEntryId};
use crate::journal::{self, Actor, Context, EntryKind, JournalCursor, JournalEntry, JournalQuery};
use crate::outbox::{Channel, MessageQuery, OutboxMessage, Settlement};
use crate::page::{Page, MAX_PAGE_SIZE};
use crate::reminder::{self, MAX_REMINDER_LEAD};
use crate::session::SessionCheck;
use crate::slot::{Slot, SlotCursor, SlotQuery, SlotView, TimeRange};
use crate::store::SlotStore;
use crate::unit_of_work::{Claim, Decide, Decision, DoctorClaim, Locked, LAPSED_BATCH};
use crate::waitlist::{self, NewEntry, WaitlistEntry, WaitlistQuery};
use crate::window::BookingWindow;

/// The most slots one publish request may create.
pub const MAX_SLOTS_PER_PUBLISH: usize = 500;

/// The longest accepted reason (for a cancellation, or for the visit), in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The longest accepted [`Policy::change_cutoff`].
pub const MAX_CHANGE_CUTOFF: Duration = Duration::days(365);

/// The longest accepted [`Policy::min_notice`].
pub const MAX_MIN_NOTICE: Duration = Duration::days(365);

/// The longest accepted [`Policy::horizon`].
pub const MAX_HORIZON: Duration = Duration::days(3_660);

/// The default [`Policy::horizon`]: eight weeks.
pub const DEFAULT_HORIZON: Duration = Duration::weeks(8);

/// Tunable durations of the booking rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a hold keeps a slot before it lapses (default 5 minutes).
    pub hold: Duration,
    /// How long an admin's cancellation keeps the slot out of the pool (default 10 minutes).
    pub buffer: Duration,
    /// How long before a slot starts a patient may last cancel or reschedule a confirmed
    /// booking of it (default 0: until it starts, never after). An admin always may.
    pub change_cutoff: Duration,
    /// How long a waitlist offer (a hold made for the first waiting patient) lasts before it
    /// passes to the next (default 15 minutes).
    pub offer_window: Duration,
    /// How many active waitlist entries (waiting, or holding an offer) a patient may have
    /// (default 5).
    pub waitlist_limit: u32,
    /// How soon a patient may book: no booking, hold or reschedule to a slot that starts within
    /// this span from now (default 0: any slot that has not started). An admin's reschedule is
    /// not bound by it.
    pub min_notice: Duration,
    /// How far ahead a patient may book: no booking, hold or reschedule to a slot that starts
    /// later than this span from now (default [`DEFAULT_HORIZON`], eight weeks). An admin's
    /// reschedule is not bound by it.
    pub horizon: Duration,
    /// How long before a confirmed appointment its reminder is due ([`crate::reminder`]);
    /// `None` (the default) writes no reminders. At most [`MAX_REMINDER_LEAD`].
    pub reminder_lead: Option<Duration>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hold: Duration::minutes(5),
            buffer: Duration::minutes(10),
            change_cutoff: Duration::zero(),
            offer_window: Duration::minutes(15),
            waitlist_limit: crate::waitlist::DEFAULT_WAITLIST_LIMIT,
            min_notice: Duration::zero(),
            horizon: DEFAULT_HORIZON,
            reminder_lead: None,
        }
    }
}

impl Policy {
    /// Checks that the durations make sense.
    ///
    /// # Errors
    /// [`Error::Validation`] on `hold` unless it is positive, on `buffer` if it is negative, on
    /// `change_cutoff` unless it is between 0 and [`MAX_CHANGE_CUTOFF`], on `offer_window` unless
    /// it is positive, on `waitlist_limit` when it is 0, on `min_notice` unless it is between 0
    /// and [`MAX_MIN_NOTICE`], on `horizon` unless it is after `min_notice` and at most
    /// [`MAX_HORIZON`], on `reminder_lead` unless it is positive and at most
    /// [`MAX_REMINDER_LEAD`], on any duration when it is not a whole number of microseconds
    /// (the precision every store keeps).
    pub fn validate(self) -> Result<Self> {
        if let Some(lead) = self.reminder_lead {
            if lead <= Duration::zero() || lead > MAX_REMINDER_LEAD {
                return Err(Error::validation(
                    "reminder_lead",
                    "must be positive and at most 30 days",
                ));
            }
        }
        for (field, span) in [
            ("reminder_lead", self.reminder_lead.unwrap_or_default()),
            ("hold", self.hold),
            ("buffer", self.buffer),
            ("change_cutoff", self.change_cutoff),
            ("offer_window", self.offer_window),
            ("min_notice", self.min_notice),
            ("horizon", self.horizon),
        ] {
            if span.subsec_nanos() % 1_000 != 0 {
                return Err(Error::validation(field, "must be whole microseconds"));
            }
        }
        if self.hold <= Duration::zero() {
            return Err(Error::validation("hold", "must be positive"));
        }
        if self.buffer < Duration::zero() {
            return Err(Error::validation("buffer", "must not be negative"));
        }
        if self.offer_window <= Duration::zero() {
            return Err(Error::validation("offer_window", "must be positive"));
        }
        if self.waitlist_limit == 0 {
            return Err(Error::validation("waitlist_limit", "must be at least 1"));
        }
        if self.change_cutoff < Duration::zero() || self.change_cutoff > MAX_CHANGE_CUTOFF {
            return Err(Error::validation(
                "change_cutoff",
                "must be between 0 and 365 days",
            ));
        }
        if self.min_notice < Duration::zero() || self.min_notice > MAX_MIN_NOTICE {
            return Err(Error::validation(
                "min_notice",
                "must be between 0 and 365 days",
            ));
        }
        if self.horizon <= self.min_notice || self.horizon > MAX_HORIZON {
            return Err(Error::validation(
                "horizon",
                "must be longer than min_notice and at most 3660 days",
            ));
        }
        Ok(self)
    }

    /// The slot starts a patient may book at `now`.
    pub fn window(&self, now: DateTime<Utc>) -> BookingWindow {
        BookingWindow::at(now, self.min_notice, self.horizon)
    }
}

/// A booking a request made, or, on a retry with the same idempotency key, the booking the
/// first request made: then `replayed` is true and nothing was written (an HTTP server answers
/// 200 instead of 201 and says so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The booking, as the write left it (or as the first request made it).
    pub booking: Booking,
    /// Whether this answers a retry: the booking is the first request's.
    pub replayed: bool,
    /// The booking's slot, as read under the mutation's locks; `None` when the store did not
    /// read it (a replay of a booking made on another slot).
    pub slot: Option<Slot>,
    /// The slot's doctor, read with the slot.
    pub doctor: Option<Doctor>,
}

impl Created {
    /// The booking with its slot and doctor as the mutation read them, so that an answer needs
    /// no second read; `None` when they were not read (see [`slot`](Self::slot)).
    pub fn view(&self) -> Option<BookingView> {
        Some(BookingView {
            booking: self.booking.clone(),
            slot: self.slot.clone()?,
            doctor: self.doctor.clone()?,
        })
    }
}

/// What a mutation that answers with a booking on its claimed slot read of that slot and its
/// doctor ([`Claim::slot_doctor`]): noted by the decision of each attempt, so it holds the
/// attempt that committed.
#[derive(Default)]
struct SlotSeen(std::sync::Mutex<Option<(Slot, Doctor)>>);

impl SlotSeen {
    fn note(&self, locked: &Locked) {
        let seen = locked.slot.clone().zip(locked.slot_doctor.clone());
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = seen;
    }

    /// The answer for `booking`: its slot and doctor if the booking is on the slot read.
    fn created(self, booking: Booking, replayed: bool) -> Created {
        let seen = self
            .0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter(|(slot, _)| slot.id == booking.slot_id);
        let (slot, doctor) = seen.unzip();
        Created {
            booking,
            replayed,
            slot,
            doctor,
        }
    }
}

/// The booking engine over any [`SlotStore`]. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct BookingEngine {
    store: Arc<dyn SlotStore>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    context: Arc<Context>,
    session: Option<SessionCheck>,
}

impl std::fmt::Debug for BookingEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingEngine")
            .field("clock", &self.clock)
            .field("policy", &self.policy)
            .field("context", &self.context)
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
            context: Arc::default(),
            session: None,
        }
    }

    /// A clone of this engine whose mutations are journalled with `context`: the signed-in
    /// account (recorded as the actor of admin actions) and the request id. A server makes one
    /// per request; it is as cheap as a clone.
    pub fn in_context(&self, context: Context) -> Self {
        Self {
            context: Arc::new(context),
            ..self.clone()
        }
    }

    /// A clone of this engine whose every mutation first checks `session` in its own
    /// transaction ([`Claim::session`]): the account read an authenticated request needs costs
    /// no round trip of its own. A session that is no longer valid (logged out, superseded, its
    /// account gone) is refused with [`Error::SessionRefused`] and nothing is written.
    ///
    /// Only mutations check it: a caller that also reads through this engine must check the
    /// session for those reads itself
    /// ([`AccountStore::session_account`](crate::AccountStore::session_account)).
    pub fn for_session(&self, session: SessionCheck) -> Self {
        Self {
            session: Some(session),
            ..self.clone()
        }
    }

    /// The actor of an admin action: the context's account.
    pub(crate) fn admin(&self) -> Actor {
        Actor::Admin(self.context.account())
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

    /// The current instant, from the engine's clock, to the whole microsecond (the precision
    /// every store keeps, so what a mutation writes reads back exactly).
    pub fn now(&self) -> DateTime<Utc> {
        crate::slot::to_micros(self.clock.now())
    }

    /// Runs one mutation by `actor` through the store's unit of work and answers with the
    /// decision that was committed, its changes journalled ([`journal::record`]).
    pub(crate) async fn mutate(
        &self,
        actor: Actor,
        claim: &Claim,
        decide: &Decide<'_>,
    ) -> Result<Decision> {
        let context = &*self.context;
        let window = self.policy.offer_window;
        let reminder_lead = self.policy.reminder_lead;
        let session = self.session;
        let with_session;
        let claim = match session {
            Some(check) => {
                with_session = Claim {
                    session: Some(check),
                    ..claim.clone()
                };
                &with_session
            }
            None => claim,
        };
        self.store
            .mutate(claim, &|locked| {
                if let Some(check) = session {
                    check.admit(locked.session_account.clone())?;
                }
                let mut decision = decide(locked)?;
                waitlist::follow(locked, &mut decision.changes, window);
                // The waitlist may have changed the answer's state (an admin's buffer ended at
                // once for a waiting patient): answer with what is written.
                if let Some(reply) = &mut decision.reply {
                    let written = decision
                        .changes
                        .states
                        .iter()
                        .find(|c| c.booking == reply.id);
                    if let Some(change) = written {
                        reply.state = change.state.clone();
                    }
                }
                decision.changes.journal =
                    journal::record(locked, &decision.changes, actor, context);
                if let Some(lead) = reminder_lead {
                    reminder::schedule(locked, &mut decision.changes, lead);
                }
                Ok(decision)
            })
            .await
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
        let decision = decisions::create_doctor(&doctor);
        self.mutate(self.admin(), &Claim::default(), &|_| Ok(decision.clone()))
            .await?;
        Ok(doctor)
    }

    /// Deletes a doctor and withdraws its slots; its bookings stay in the history.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`], or [`Error::DoctorHasActiveBookings`] while an upcoming slot
    /// is booked, held or buffered.
    pub async fn delete_doctor(&self, id: DoctorId) -> Result<()> {
        let now = self.now();
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id,
                slots_within: None,
                occupants_after: Some(now),
                waiting_within: None,
                hours: false,
            }),
            ..Claim::default()
        };
        self.mutate(self.admin(), &claim, &|locked| {
            decisions::delete_doctor(locked, id, now)
        })
        .await?;
        Ok(())
    }

    /// Replaces a doctor's profile (validated by [`DoctorProfile::new`]) and answers with the
    /// doctor as it now is.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`] when the doctor does not exist or was deleted; storage
    /// failures.
    pub async fn update_doctor_profile(
        &self,
        id: DoctorId,
        profile: DoctorProfile,
    ) -> Result<Doctor> {
        let now = self.now();
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id,
                slots_within: None,
                occupants_after: None,
                waiting_within: None,
                hours: false,
            }),
            ..Claim::default()
        };
        let decided = std::sync::Mutex::new(None);
        self.mutate(self.admin(), &claim, &|locked| {
            let decision = decisions::update_doctor_profile(locked, id, &profile, now)?;
            // The doctor as this attempt saw it; a retried attempt overwrites it, so the one
            // that committed is what remains.
            if let Ok(mut seen) = decided.lock() {
                *seen = locked.doctor.clone();
            }
            Ok(decision)
        })
        .await?;
        let seen = decided.into_inner().ok().flatten();
        let doctor = seen.ok_or(Error::DoctorNotFound(id))?;
        Ok(Doctor { profile, ..doctor })
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
    /// [`Error::Validation`] as [`DoctorFilter::validate`]; storage failures.
    pub async fn doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        filter.validate()?;
        self.store.list_doctors(filter).await
    }

    /// One page of the doctors passing `filter` (whose own `limit` is replaced), by name, of at
    /// most `limit` doctors.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1 to [`MAX_PAGE_SIZE`] and as
    /// [`DoctorFilter::validate`]; storage failures.
    pub async fn doctors_page(
        &self,
        filter: &DoctorFilter,
        limit: u32,
    ) -> Result<Page<Doctor, DoctorCursor>> {
        check_limit(limit)?;
        filter.validate()?;
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
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id: doctor_id,
                slots_within: span(&slots),
                occupants_after: None,
                waiting_within: span(&slots),
                hours: false,
            }),
            ..Claim::default()
        };
        self.mutate(self.admin(), &claim, &|locked| {
            decisions::publish_slots(locked, doctor_id, &slots, now)
        })
        .await?;
        Ok(slots)
    }

    /// Withdraws a slot that nobody occupies.
    ///
    /// # Errors
    /// [`Error::SlotNotFound`], or [`Error::SlotHasActiveBooking`] while it is booked, held or
    /// buffered.
    pub async fn withdraw_slot(&self, id: SlotId) -> Result<()> {
        let now = self.now();
        let claim = Claim {
            slot: Some(id),
            ..Claim::default()
        };
        self.mutate(self.admin(), &claim, &|locked| {
            decisions::withdraw_slot(locked, id, now)
        })
        .await?;
        Ok(())
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
    /// [`Error::Validation`] on `limit` outside 1..=500, on `to` when it is not after `from`, and
    /// as [`SlotQuery::validate`].
    pub async fn slots(&self, query: &SlotQuery) -> Result<Page<SlotView, SlotCursor>> {
        query.validate()?;
        check_limit(query.limit)?;
        check_window(query.from, query.to)?;
        self.store.list_slots(query, self.now()).await
    }

    /// How many free slots each day from `first_day` to `last_day` (both included, in `zone`)
    /// holds, and the first free time of each: free as the listing's `available` means, and
    /// inside the booking window now (a day outside it has none). One read, whatever the span.
    ///
    /// # Errors
    /// [`Error::Validation`] as [`day_ranges`](crate::day_ranges) and
    /// [`FreeSlotFilter::validate`]; storage failures.
    pub async fn availability(
        &self,
        filter: &FreeSlotFilter,
        first_day: NaiveDate,
        last_day: NaiveDate,
        zone: Tz,
    ) -> Result<Availability> {
        filter.validate()?;
        let days = crate::finding::day_ranges(first_day, last_day, zone)?;
        let now = self.now();
        let window = self.policy.window(now);
        let parts = crate::finding::within_window(&days, &window);
        let ranges: Vec<TimeRange> = parts.iter().map(|(_, range)| *range).collect();
        let counts = if ranges.is_empty() {
            Vec::new()
        } else {
            self.store.count_free_slots(filter, &ranges, now).await?
        };
        let mut summary: Vec<DayAvailability> = first_day
            .iter_days()
            .take(days.len())
            .map(|date| DayAvailability {
                date,
                free: 0,
                first_free: None,
            })
            .collect();
        for ((day, _), count) in parts.iter().zip(counts) {
            if let Some(entry) = summary.get_mut(*day) {
                entry.free = count.free;
                entry.first_free = count.first;
            }
        }
        Ok(Availability {
            days: summary,
            window,
        })
    }

    /// The first free slot (as the listing's `available` means) passing `filter` that starts
    /// on or after `after` and inside the booking window now, if the window holds one. One
    /// read along the listing's index, stopping at the first free slot.
    ///
    /// # Errors
    /// [`Error::Validation`] on `after` outside the representable instants and as
    /// [`FreeSlotFilter::validate`]; storage failures.
    pub async fn next_available(
        &self,
        filter: &FreeSlotFilter,
        after: DateTime<Utc>,
    ) -> Result<NextAvailable> {
        filter.validate()?;
        crate::instant::check("after", after)?;
        let now = self.now();
        let window = self.policy.window(now);
        let from = after.max(window.earliest());
        // The window's last start is included: its exclusive end is one microsecond later.
        let to = window
            .latest()
            .checked_add_signed(Duration::microseconds(1))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if from >= to {
            return Ok(NextAvailable { slot: None, window });
        }
        let query = SlotQuery {
            doctor_id: filter.doctor_id,
            specialization: filter.specialization.clone(),
            from: Some(from),
            to: Some(to),
            available: Some(true),
            after: None,
            limit: 1,
        };
        let page = self.store.list_slots(&query, now).await?;
        Ok(NextAvailable {
            slot: page.items.into_iter().next(),
            window,
        })
    }

    /// Books a free slot for a patient: a `CONFIRMED` booking. With an idempotency key, a retry
    /// returns the first booking instead of booking again (even once the slot has left the
    /// booking window). The slot must start inside the booking window ([`Policy::window`]).
    ///
    /// # Errors
    /// [`Error::SlotNotFound`], [`Error::SlotInPast`], [`Error::SlotUnavailable`] when someone
    /// else has it; [`Error::TooSoon`] or [`Error::TooFarAhead`] outside the booking window;
    /// [`Error::Validation`] on `Idempotency-Key` when the key booked another slot.
    pub async fn book(
        &self,
        slot_id: SlotId,
        patient_id: PatientId,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Booking> {
        self.book_or_replay(slot_id, patient_id, idempotency_key, None)
            .await
            .map(|created| created.booking)
    }

    /// As [`book`](Self::book), with the patient's reason for the visit, saying whether the
    /// answer is a retry's replay (which keeps the first request's reason).
    ///
    /// # Errors
    /// As [`book`](Self::book); [`Error::Validation`] on `visit_reason` when it is longer than
    /// [`MAX_REASON_CHARS`] or holds a control character other than tab and line breaks.
    pub async fn book_or_replay(
        &self,
        slot_id: SlotId,
        patient_id: PatientId,
        idempotency_key: Option<IdempotencyKey>,
        visit_reason: Option<String>,
    ) -> Result<Created> {
        let now = self.now();
        let mut draft = draft(
            slot_id,
            patient_id,
            BookingState::Confirmed,
            idempotency_key,
            now,
        );
        draft.visit_reason = free_text("visit_reason", visit_reason)?;
        self.create_booking(draft).await
    }

    /// Holds a free slot for a patient until `now + policy.hold`: a `PENDING` booking to
    /// [`confirm`](Self::confirm).
    ///
    /// # Errors
    /// As [`book`](Self::book).
    pub async fn hold(&self, slot_id: SlotId, patient_id: PatientId) -> Result<Booking> {
        self.hold_with_reason(slot_id, patient_id, None).await
    }

    /// As [`hold`](Self::hold), with the patient's reason for the visit.
    ///
    /// # Errors
    /// As [`book_or_replay`](Self::book_or_replay).
    pub async fn hold_with_reason(
        &self,
        slot_id: SlotId,
        patient_id: PatientId,
        visit_reason: Option<String>,
    ) -> Result<Booking> {
        let visit_reason = free_text("visit_reason", visit_reason)?;
        let now = self.now();
        let state = BookingState::Pending {
            hold_until: now + self.policy.hold,
        };
        let mut draft = draft(slot_id, patient_id, state, None, now);
        draft.visit_reason = visit_reason;
        // Without a key there is nothing to replay.
        self.create_booking(draft)
            .await
            .map(|created| created.booking)
    }

    /// Stores `draft` on its slot: lock the slot, read its occupant (and the first booking made
    /// with the draft's key), decide, write.
    async fn create_booking(&self, draft: Booking) -> Result<Created> {
        let claim = Claim {
            slot: Some(draft.slot_id),
            replay: draft
                .idempotency_key
                .clone()
                .map(|key| (draft.patient_id, key)),
            waitlist: true,
            slot_waitlist_if_lapsed_at: Some(draft.created_at),
            slot_doctor: true,
            ..Claim::default()
        };
        let window = self.policy.window(draft.created_at);
        let seen = SlotSeen::default();
        let decision = self
            .mutate(Actor::Patient(draft.patient_id), &claim, &|locked| {
                seen.note(locked);
                decisions::create_booking(locked, &draft, &window)
            })
            .await?;
        // No reply: the slot's lapsed occupant was tidied and the slot offered to the waitlist
        // first (committed), so this booker is refused.
        let booking = decision
            .reply
            .ok_or(Error::SlotUnavailable(draft.slot_id))?;
        // The draft's id is new: any other booking is the first request's.
        let replayed = booking.id != draft.id;
        Ok(seen.created(booking, replayed))
    }

    /// Confirms the patient's own hold.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::NotOwner`], [`Error::HoldExpired`],
    /// [`Error::InvalidTransition`] when it is not a hold; [`Error::SlotInPast`] when the slot
    /// has started.
    pub async fn confirm(&self, id: BookingId, patient: PatientId) -> Result<Booking> {
        self.apply(id, Actor::Patient(patient), Event::Confirm { patient })
            .await
    }

    /// The patient cancels their own booking or hold: `CANCELLED`, and the slot is free at once.
    /// A confirmed booking can be cancelled only until [`Policy::change_cutoff`] before its slot
    /// starts.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::NotOwner`], [`Error::InvalidTransition`] for a final
    /// booking or an admin's buffer; [`Error::TooLateToChange`] after the cut-off;
    /// [`Error::Validation`] on `reason` when too long or holding a control character other
    /// than tab and line breaks (see [`text`](crate::text)).
    pub async fn cancel_as_patient(
        &self,
        id: BookingId,
        patient: PatientId,
        reason: Option<String>,
    ) -> Result<Booking> {
        let reason = check_reason(reason)?;
        self.apply(
            id,
            Actor::Patient(patient),
            Event::CancelByPatient { patient, reason },
        )
        .await
    }

    /// An admin cancels any booking: a confirmed one goes to `BUFFER` for the policy's buffer
    /// window, a hold is `CANCELLED` at once.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`], [`Error::InvalidTransition`] for a final or buffered
    /// booking; [`Error::Validation`] on `reason` as for
    /// [`cancel_as_patient`](Self::cancel_as_patient).
    pub async fn cancel_as_admin(&self, id: BookingId, reason: Option<String>) -> Result<Booking> {
        let reason = check_reason(reason)?;
        let buffer = self.policy.buffer;
        self.apply(id, self.admin(), Event::CancelByAdmin { reason, buffer })
            .await
    }

    async fn apply(&self, id: BookingId, actor: Actor, event: Event) -> Result<Booking> {
        let now = self.now();
        let cutoff = self.policy.change_cutoff;
        let claim = Claim {
            booking: Some(id),
            waitlist: true,
            ..Claim::default()
        };
        let decision = self
            .mutate(actor, &claim, &|locked| {
                decisions::apply_event(locked, id, &event, cutoff, now)
            })
            .await?;
        decision.reply.ok_or(Error::BookingNotFound(id))
    }

    /// The patient moves their own confirmed booking to another free slot, in one atomic step:
    /// a new `CONFIRMED` booking takes `target` (its
    /// [`rescheduled_from`](Booking::rescheduled_from) names the old one) and the old booking
    /// becomes `RESCHEDULED` (linking to the new one), freeing its slot; or nothing changes.
    /// Allowed only until [`Policy::change_cutoff`] before the old slot starts. With an
    /// idempotency key, a retry answers with the booking the first request made instead of
    /// moving again. Answers with the new booking.
    ///
    /// # Errors
    /// [`Error::BookingNotFound`]; [`Error::NotOwner`]; [`Error::InvalidTransition`] unless the
    /// booking is confirmed; [`Error::TooLateToChange`] after the cut-off;
    /// [`Error::Validation`] on `slot_id` when `target` is the booking's own slot, on
    /// `Idempotency-Key` when the key was used for another request; as [`book`](Self::book)
    /// for `target` ([`Error::SlotNotFound`] when it does not exist or was withdrawn,
    /// [`Error::SlotInPast`], [`Error::SlotUnavailable`], [`Error::TooSoon`],
    /// [`Error::TooFarAhead`]).
    pub async fn reschedule_as_patient(
        &self,
        id: BookingId,
        patient: PatientId,
        target: SlotId,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Booking> {
        self.reschedule_or_replay(id, Some(patient), target, idempotency_key)
            .await
            .map(|created| created.booking)
    }

    /// An admin moves any confirmed booking to another free slot (of any doctor), as
    /// [`reschedule_as_patient`](Self::reschedule_as_patient) does but at any time. The new
    /// booking stays the patient's; an idempotency key is kept on it, so it shares the patient's
    /// keys.
    ///
    /// # Errors
    /// As [`reschedule_as_patient`](Self::reschedule_as_patient), except
    /// [`Error::NotOwner`], [`Error::TooLateToChange`], [`Error::TooSoon`] and
    /// [`Error::TooFarAhead`]: an admin is bound by neither the cut-off nor the booking window.
    pub async fn reschedule_as_admin(
        &self,
        id: BookingId,
        target: SlotId,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Booking> {
        self.reschedule_or_replay(id, None, target, idempotency_key)
            .await
            .map(|created| created.booking)
    }

    /// As [`reschedule_as_patient`](Self::reschedule_as_patient) for `Some(patient)` and
    /// [`reschedule_as_admin`](Self::reschedule_as_admin) for `None`, saying whether the answer
    /// is a retry's replay.
    ///
    /// Locks the booking's slot and `target` (in id order, so two opposite moves cannot
    /// deadlock), then the booking; reads them and the first booking made with the key; decides.
    ///
    /// # Errors
    /// As [`reschedule_as_patient`](Self::reschedule_as_patient) and
    /// [`reschedule_as_admin`](Self::reschedule_as_admin).
    pub async fn reschedule_or_replay(
        &self,
        id: BookingId,
        patient: Option<PatientId>,
        target: SlotId,
        key: Option<IdempotencyKey>,
    ) -> Result<Created> {
        let replay = match (key.clone(), patient) {
            (None, _) => None,
            (Some(key), Some(patient)) => Some((patient, key)),
            // The key is the patient's, kept on their new booking: find whose booking it is (a
            // booking never changes patient, so this read needs no lock).
            (Some(key), None) => Some((self.booking(id).await?.booking.patient_id, key)),
        };
        let now = self.now();
        let request = decisions::Move {
            booking: id,
            target,
            patient,
            key,
            new_id: BookingId::new(),
            cutoff: self.policy.change_cutoff,
            window: self.policy.window(now),
        };
        let claim = Claim {
            slot: Some(target),
            booking: Some(id),
            replay,
            waitlist: true,
            slot_waitlist_if_lapsed_at: Some(now),
            slot_doctor: true,
            ..Claim::default()
        };
        let actor = patient.map_or_else(|| self.admin(), Actor::Patient);
        let seen = SlotSeen::default();
        let decision = self
            .mutate(actor, &claim, &|locked| {
                seen.note(locked);
                decisions::reschedule(locked, &request, now)
            })
            .await?;
        // No reply: the target's lapsed occupant was tidied and the target offered to the
        // waitlist first (committed); the booking did not move.
        let booking = decision.reply.ok_or(Error::SlotUnavailable(target))?;
        // The new booking's id is fresh: any other booking is the first request's.
        let replayed = booking.id != request.new_id;
        Ok(seen.created(booking, replayed))
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

    /// A page of bookings, in the query's [`order`](BookingQuery::order) (newest first unless
    /// it says otherwise).
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500, on `to` when it is not after `from`, and
    /// as [`BookingQuery::validate`].
    pub async fn bookings(&self, query: &BookingQuery) -> Result<Page<BookingView, BookingCursor>> {
        query.validate()?;
        check_limit(query.limit)?;
        check_window(query.from, query.to)?;
        self.store.list_bookings(query, self.now()).await
    }

    /// Tidies the stored statuses of lapsed holds and ended buffers, and moves the waitlist on:
    /// each lapsed booking is expired under its slot's lock ([`expire`](Self::expire)), so a
    /// lapsed offer passes to the next waiting patient and a slot whose hold lapsed or whose
    /// buffer ended is offered to the waitlist. Returns how many bookings changed. Safe to call
    /// at any time; correctness never depends on it: a booking or hold of a slot whose occupant
    /// lapsed does the same first (and is refused when the slot goes to the waitlist).
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn release_expired(&self) -> Result<u64> {
        let now = self.now();
        let claim = Claim {
            lapsed_at: Some(now),
            ..Claim::default()
        };
        let mut released = 0;
        loop {
            // Read the lapsed bookings (no lock, nothing written), then expire each under its
            // slot's lock.
            let seen = std::sync::Mutex::new(Vec::new());
            self.mutate(Actor::System, &claim, &|locked| {
                // A retried attempt overwrites what an earlier one saw.
                if let Ok(mut seen) = seen.lock() {
                    *seen = locked.lapsed.iter().map(|b| b.id).collect();
                }
                Ok(Decision {
                    changes: crate::Changes::at(now),
                    reply: None,
                })
            })
            .await?;
            let mut lapsed = seen.into_inner().unwrap_or_default();
            // Oldest first (ids are time-ordered), so a sweep hands slots to the waitlist in a
            // fixed order.
            lapsed.sort_unstable();
            let mut changed = 0;
            for id in &lapsed {
                changed += self.expire(*id).await?;
            }
            released += changed;
            if lapsed.len() < LAPSED_BATCH || changed == 0 {
                return Ok(released);
            }
        }
    }

    /// Expires one booking if its hold lapsed or its buffer ended, under its slot's lock:
    /// when it was a waitlist offer, the entry is `LAPSED`; when someone waits for the slot,
    /// the first of them is offered it. Returns how many bookings changed (0 or 1).
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn expire(&self, id: BookingId) -> Result<u64> {
        let now = self.now();
        let claim = Claim {
            booking: Some(id),
            waitlist: true,
            ..Claim::default()
        };
        let decision = self
            .mutate(Actor::System, &claim, &|locked| {
                Ok(decisions::expire(locked, now))
            })
            .await?;
        Ok(u64::from(decision.reply.is_some()))
    }

    /// The patient joins the waitlist: they will be offered the first matching slot that
    /// becomes free (a cancel, a lapsed hold or offer, a reschedule away, the end of, or during,
    /// an admin's buffer, a new slot), after everyone who joined before them. Joining does not
    /// look for a slot free now: book that instead.
    ///
    /// # Errors
    /// [`Error::Validation`] on `to` when the window has already ended;
    /// [`Error::DoctorNotFound`] when the entry waits for a doctor that does not exist;
    /// [`Error::WaitlistFull`] when the patient already has [`Policy::waitlist_limit`] active
    /// entries.
    pub async fn join_waitlist(
        &self,
        patient: PatientId,
        request: NewEntry,
    ) -> Result<WaitlistEntry> {
        let now = self.now();
        if request.window.ends_at() <= now {
            return Err(Error::validation("to", "must be in the future"));
        }
        if let crate::WaitlistTarget::Doctor(id) = &request.target {
            self.doctor(*id).await?;
        }
        let entry = WaitlistEntry {
            id: WaitlistEntryId::new(),
            patient_id: patient,
            target: request.target,
            window: request.window,
            time_of_day: request.time_of_day,
            state: crate::EntryState::Waiting,
            joined_at: now,
            updated_at: now,
        };
        let claim = Claim {
            waitlist_patient: Some(patient),
            ..Claim::default()
        };
        let limit = self.policy.waitlist_limit;
        self.mutate(Actor::Patient(patient), &claim, &|locked| {
            decisions::join_waitlist(locked, &entry, limit)
        })
        .await?;
        Ok(entry)
    }

    /// The patient leaves their waiting entry.
    ///
    /// # Errors
    /// [`Error::WaitlistEntryNotFound`] when there is no such entry of this patient;
    /// [`Error::WaitlistEntryNotWaiting`] when it holds a live offer (decline it by cancelling
    /// its hold) or has ended.
    pub async fn leave_waitlist(&self, id: WaitlistEntryId, patient: PatientId) -> Result<()> {
        let now = self.now();
        let claim = Claim {
            entry: Some(id),
            ..Claim::default()
        };
        self.mutate(Actor::Patient(patient), &claim, &|locked| {
            decisions::leave_waitlist(locked, id, patient, now)
        })
        .await?;
        Ok(())
    }

    /// One entry of the patient's.
    ///
    /// # Errors
    /// [`Error::WaitlistEntryNotFound`] when there is no such entry of this patient.
    pub async fn waitlist_entry(
        &self,
        id: WaitlistEntryId,
        patient: PatientId,
    ) -> Result<WaitlistEntry> {
        self.store
            .waitlist_entry(id)
            .await?
            .filter(|e| e.patient_id == patient)
            .ok_or(Error::WaitlistEntryNotFound(id))
    }

    /// The patient's active entries (waiting, or holding an offer), in join order.
    ///
    /// # Errors
    /// Only storage failures.
    pub async fn patient_waitlist(&self, patient: PatientId) -> Result<Vec<WaitlistEntry>> {
        self.store
            .waitlist(&WaitlistQuery {
                patient_id: Some(patient),
                doctor: None,
                limit: MAX_PAGE_SIZE,
            })
            .await
    }

    /// A doctor's waitlist, for the clinic: the active entries that want this doctor (by name
    /// or by specialization), in join order (the order offers are made in), at most `limit`.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`]; [`Error::Validation`] on `limit` outside 1..=500.
    pub async fn doctor_waitlist(&self, id: DoctorId, limit: u32) -> Result<Vec<WaitlistEntry>> {
        check_limit(limit)?;
        let doctor = self.doctor(id).await?;
        self.store
            .waitlist(&WaitlistQuery {
                patient_id: None,
                doctor: Some((id, doctor.specialization)),
                limit,
            })
            .await
    }

    /// A page of the journal (the audit trail), oldest first.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500, on `to` when it is not after `from`.
    pub async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        check_limit(query.limit)?;
        check_window(query.from, query.to)?;
        self.store.journal(query).await
    }

    /// Claims up to `limit` of `channel`'s due outbox messages for `lease` (after which, unsettled, they may be
    /// claimed again), so that this caller alone delivers them meanwhile. Deliver each, then
    /// [`settle_message`](Self::settle_message) it.
    ///
    /// A [reminder](crate::reminder) whose booking is no longer `CONFIRMED` at its slot is not
    /// returned: it is [withdrawn](Self::withdraw_if_stale) here, so no deliverer sends it.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500, on `lease` unless it is between one
    /// second and one hour.
    pub async fn claim_messages(
        &self,
        channel: Channel,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<OutboxMessage>> {
        check_limit(limit)?;
        if lease < Duration::seconds(1) || lease > Duration::hours(1) {
            return Err(Error::validation(
                "lease",
                "must be between 1 second and 1 hour",
            ));
        }
        let now = self.now();
        let claimed = self
            .store
            .claim_messages(channel, now, now + lease, limit)
            .await?;
        let mut current = Vec::with_capacity(claimed.len());
        for message in claimed {
            if !self.withdraw_if_stale(&message).await? {
                current.push(message);
            }
        }
        Ok(current)
    }

    /// Withdraws a claimed message whose news no longer holds, and says whether it did: a
    /// [reminder](crate::reminder) whose booking is no longer `CONFIRMED` at its slot is settled
    /// [withdrawn](Settlement::Withdrawn). Every other message is left as it is.
    ///
    /// [`claim_messages`](Self::claim_messages) looks once; a deliverer looks again just before
    /// it sends each message, so a cancel that commits between the claim and the send still
    /// stops the reminder. (A cancel that commits during the send itself cannot be caught: the
    /// send is outside the store.)
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails; [`Error::Validation`] on `state` when the message
    /// was settled meanwhile (by another deliverer whose claim this one outlived).
    pub async fn withdraw_if_stale(&self, message: &OutboxMessage) -> Result<bool> {
        let entry = &message.entry;
        if entry.kind != EntryKind::BookingReminder {
            return Ok(false);
        }
        let booking = match entry.booking_id {
            Some(id) => self.store.booking(id).await?.map(|view| view.booking),
            None => None,
        };
        if reminder::is_current(entry, booking.as_ref()) {
            return Ok(false);
        }
        self.settle_message(entry.id, message.channel, &Settlement::Withdrawn)
            .await?;
        Ok(true)
    }

    /// Settles `channel`'s copy of one outbox message: delivered, failed (tried again after a backoff, or dead after
    /// the last attempt), or, for a dead one, retried ([`crate::Delivery::settle`]).
    ///
    /// # Errors
    /// [`Error::MessageNotFound`]; [`Error::Validation`] on `state` when the settlement does not
    /// fit the message's state.
    pub async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settlement: &Settlement,
    ) -> Result<OutboxMessage> {
        let now = self.now();
        self.store
            .settle_message(id, channel, &|delivery| {
                delivery.settle(id, settlement, now)
            })
            .await?
            .ok_or(Error::MessageNotFound(id))
    }

    /// A page of outbox messages, oldest first.
    ///
    /// # Errors
    /// [`Error::Validation`] on `limit` outside 1..=500.
    pub async fn messages(
        &self,
        query: &MessageQuery,
    ) -> Result<Page<OutboxMessage, JournalCursor>> {
        check_limit(query.limit)?;
        self.store.messages(query).await
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
        rescheduled_from: None,
        visit_reason: None,
    }
}

/// The range from the earliest start to the latest end of `slots`.
fn span(slots: &[Slot]) -> Option<TimeRange> {
    let starts = slots.iter().map(|s| s.range.starts_at()).min()?;
    let ends = slots.iter().map(|s| s.range.ends_at()).max()?;
    TimeRange::new(starts, ends).ok()
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
    free_text("reason", reason)
}

/// Optional free text over several lines (a reason), trimmed; blank is none.
fn free_text(field: &'static str, text: Option<String>) -> Result<Option<String>> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    match text {
        Some(t) if t.chars().count() > MAX_REASON_CHARS => Err(Error::validation(
            field,
            format!("must be at most {MAX_REASON_CHARS} characters"),
        )),
        Some(t) => crate::text::check(field, &t, crate::text::Lines::Multi).map(|()| Some(t)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_durations_finer_than_a_microsecond() {
        let fine = Policy {
            hold: Duration::minutes(5) + Duration::nanoseconds(1),
            ..Policy::default()
        };
        assert!(matches!(
            fine.validate(),
            Err(Error::Validation { field: "hold", .. })
        ));
        let fine_buffer = Policy {
            buffer: Duration::microseconds(1) + Duration::nanoseconds(500),
            ..Policy::default()
        };
        assert!(matches!(
            fine_buffer.validate(),
            Err(Error::Validation {
                field: "buffer",
                ..
            })
        ));
        assert!(Policy::default().validate().is_ok());
    }

    #[test]
    fn policy_refuses_a_horizon_not_after_the_notice() {
        let policy = |min_notice, horizon| Policy {
            min_notice,
            horizon,
            ..Policy::default()
        };
        let field = |p: Policy| match p.validate() {
            Err(Error::Validation { field, .. }) => Some(field),
            _ => None,
        };
        assert_eq!(
            field(policy(Duration::hours(2), Duration::hours(2))),
            Some("horizon")
        );
        assert_eq!(
            field(policy(Duration::minutes(-1), Duration::days(1))),
            Some("min_notice")
        );
        assert_eq!(
            field(policy(Duration::zero(), MAX_HORIZON + Duration::days(1))),
            Some("horizon")
        );
        assert_eq!(field(policy(Duration::hours(2), Duration::hours(3))), None);
        assert_eq!(Policy::default().horizon, Duration::weeks(8));
    }
}
