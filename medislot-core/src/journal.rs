//! The journal: one entry for every change a mutation commits, written by the store in the same
//! transaction as the change. It is the audit trail (who, when, what changed from what to what,
//! why, under which request) and the source of the outbox: the entries that tell a patient
//! something ([`EntryKind::is_message`]) are also queued for delivery ([`crate::outbox`]).
//!
//! Entries are derived once, here, from what a mutation read under its locks and the
//! [`Changes`] it decided ([`record`]): no decision and no store writes them by hand, so a new
//! mutation is journalled as soon as it changes something.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::Role;
use crate::booking::{Booking, BookingState, BookingStatus, CancelledBy};
use crate::error::{Error, Result, StoreError};
use crate::ids::{AccountId, BookingId, DoctorId, EntryId, PatientId, SlotId};
use crate::page::Cursor;
use crate::slot::Slot;
use crate::unit_of_work::{Changes, Locked};
use crate::waitlist::{EntryState, WaitlistEntry};

/// The longest accepted request id, in characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A patient, acting on their own bookings.
    Patient(PatientId),
    /// Clinic staff; the account when the caller said which ([`Context::account`]).
    Admin(Option<AccountId>),
    /// MediSlot itself: a hold that lapsed, a buffer that ended.
    System,
}

impl Actor {
    /// The kind as stored: `patient`, `admin` or `system`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Actor::Patient(_) => "patient",
            Actor::Admin(_) => "admin",
            Actor::System => "system",
        }
    }

    /// The account or patient id, if known.
    pub fn id(&self) -> Option<uuid::Uuid> {
        match self {
            Actor::Patient(id) => Some(id.as_uuid()),
            Actor::Admin(id) => id.map(|id| id.as_uuid()),
            Actor::System => None,
        }
    }

    /// Rebuilds an actor from its stored kind and id.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] on an unknown kind or a patient without an id.
    pub fn from_parts(kind: &str, id: Option<uuid::Uuid>) -> Result<Self, StoreError> {
        match (kind, id) {
            ("patient", Some(id)) => Ok(Actor::Patient(PatientId::from_uuid(id))),
            ("admin", id) => Ok(Actor::Admin(id.map(AccountId::from_uuid))),
            ("system", None) => Ok(Actor::System),
            (kind, id) => Err(StoreError::Corrupt(format!(
                "unknown actor {kind:?} with id {id:?}"
            ))),
        }
    }
}

/// What a journal entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntryKind {
    /// A doctor was created.
    #[serde(rename = "doctor.created")]
    DoctorCreated,
    /// A doctor's profile was replaced.
    #[serde(rename = "doctor.profile_updated")]
    DoctorProfileUpdated,
    /// A doctor's working hours were saved (the slots it created and withdrew have their own
    /// entries).
    #[serde(rename = "doctor.hours_updated")]
    DoctorHoursUpdated,
    /// A doctor was deleted (their live slots withdrawn with them).
    #[serde(rename = "doctor.deleted")]
    DoctorDeleted,
    /// A slot was published (by hand or from working hours).
    #[serde(rename = "slot.published")]
    SlotPublished,
    /// A free slot was withdrawn.
    #[serde(rename = "slot.withdrawn")]
    SlotWithdrawn,
    /// A patient booked a slot (`CONFIRMED`).
    #[serde(rename = "booking.booked")]
    BookingBooked,
    /// A patient held a slot (`PENDING`).
    #[serde(rename = "booking.held")]
    BookingHeld,
    /// A hold was confirmed.
    #[serde(rename = "booking.confirmed")]
    BookingConfirmed,
    /// The patient cancelled.
    #[serde(rename = "booking.cancelled_by_patient")]
    BookingCancelledByPatient,
    /// The clinic cancelled (a confirmed booking goes to `BUFFER`, a hold is `CANCELLED`).
    #[serde(rename = "booking.cancelled_by_clinic")]
    BookingCancelledByClinic,
    /// The buffer window after the clinic's cancel ended; the slot is public again.
    #[serde(rename = "booking.buffer_ended")]
    BookingBufferEnded,
    /// A hold lapsed unconfirmed.
    #[serde(rename = "booking.hold_lapsed")]
    BookingHoldLapsed,
    /// A booking was moved to another slot; the entry's related booking is the new one.
    #[serde(rename = "booking.rescheduled")]
    BookingRescheduled,
    /// The new booking a reschedule made; the entry's related booking is the old one. The
    /// patient is told once, by the old booking's [`EntryKind::BookingRescheduled`].
    #[serde(rename = "booking.created_by_reschedule")]
    BookingCreatedByReschedule,
    /// A patient joined the waitlist.
    #[serde(rename = "waitlist.joined")]
    WaitlistJoined,
    /// A patient left the waitlist.
    #[serde(rename = "waitlist.left")]
    WaitlistLeft,
    /// A freed slot was offered to the first waiting patient: a hold in their name (the
    /// entry's booking) for the offer window.
    #[serde(rename = "waitlist.offer_made")]
    WaitlistOfferMade,
    /// A waitlist offer lapsed unconfirmed; the slot passes to the next waiting patient.
    #[serde(rename = "waitlist.offer_lapsed")]
    WaitlistOfferLapsed,
    /// A reminder of a confirmed appointment, written when the booking is confirmed and due
    /// [`Policy::reminder_lead`](crate::Policy::reminder_lead) before its slot starts
    /// ([`crate::reminder`]).
    #[serde(rename = "booking.reminder")]
    BookingReminder,
    /// An account's role changed; the entry names the account and both roles.
    #[serde(rename = "account.role_changed")]
    AccountRoleChanged,
    /// Someone asked for a password reset email for the account the entry names. The entry
    /// carries no token: the email deliverer mints one when it sends the email, so the outbox
    /// never holds a usable secret.
    #[serde(rename = "account.password_reset_requested")]
    AccountPasswordResetRequested,
    /// An account's password was set from a reset link; every session of it ended.
    #[serde(rename = "account.password_reset")]
    AccountPasswordReset,
}

impl EntryKind {
    /// Every kind, in declaration order.
    pub const ALL: [EntryKind; 23] = [
        EntryKind::DoctorCreated,
        EntryKind::DoctorProfileUpdated,
        EntryKind::DoctorHoursUpdated,
        EntryKind::DoctorDeleted,
        EntryKind::SlotPublished,
        EntryKind::SlotWithdrawn,
        EntryKind::BookingBooked,
        EntryKind::BookingHeld,
        EntryKind::BookingConfirmed,
        EntryKind::BookingCancelledByPatient,
        EntryKind::BookingCancelledByClinic,
        EntryKind::BookingBufferEnded,
        EntryKind::BookingHoldLapsed,
        EntryKind::BookingRescheduled,
        EntryKind::BookingCreatedByReschedule,
        EntryKind::WaitlistJoined,
        EntryKind::WaitlistLeft,
        EntryKind::WaitlistOfferMade,
        EntryKind::WaitlistOfferLapsed,
        EntryKind::BookingReminder,
        EntryKind::AccountRoleChanged,
        EntryKind::AccountPasswordResetRequested,
        EntryKind::AccountPasswordReset,
    ];

    /// The kind as stored and sent: `booking.booked`, `slot.published`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::DoctorCreated => "doctor.created",
            EntryKind::DoctorProfileUpdated => "doctor.profile_updated",
            EntryKind::DoctorHoursUpdated => "doctor.hours_updated",
            EntryKind::DoctorDeleted => "doctor.deleted",
            EntryKind::SlotPublished => "slot.published",
            EntryKind::SlotWithdrawn => "slot.withdrawn",
            EntryKind::BookingBooked => "booking.booked",
            EntryKind::BookingHeld => "booking.held",
            EntryKind::BookingConfirmed => "booking.confirmed",
            EntryKind::BookingCancelledByPatient => "booking.cancelled_by_patient",
            EntryKind::BookingCancelledByClinic => "booking.cancelled_by_clinic",
            EntryKind::BookingBufferEnded => "booking.buffer_ended",
            EntryKind::BookingHoldLapsed => "booking.hold_lapsed",
            EntryKind::BookingRescheduled => "booking.rescheduled",
            EntryKind::BookingCreatedByReschedule => "booking.created_by_reschedule",
            EntryKind::WaitlistJoined => "waitlist.joined",
            EntryKind::WaitlistLeft => "waitlist.left",
            EntryKind::WaitlistOfferMade => "waitlist.offer_made",
            EntryKind::WaitlistOfferLapsed => "waitlist.offer_lapsed",
            EntryKind::BookingReminder => "booking.reminder",
            EntryKind::AccountRoleChanged => "account.role_changed",
            EntryKind::AccountPasswordResetRequested => "account.password_reset_requested",
            EntryKind::AccountPasswordReset => "account.password_reset",
        }
    }

    /// Whether an entry of this kind is also a message to deliver (something a patient or a
    /// clinic's other systems are told): every booking transition, once, and a waitlist offer
    /// made or lapsed, and a reminder (due later than the change that wrote it).
    pub const fn is_message(self) -> bool {
        match self {
            EntryKind::BookingReminder
            | EntryKind::WaitlistOfferMade
            | EntryKind::WaitlistOfferLapsed
            | EntryKind::BookingBooked
            | EntryKind::BookingHeld
            | EntryKind::BookingConfirmed
            | EntryKind::BookingCancelledByPatient
            | EntryKind::BookingCancelledByClinic
            | EntryKind::BookingBufferEnded
            | EntryKind::BookingHoldLapsed
            | EntryKind::BookingRescheduled
            | EntryKind::AccountPasswordResetRequested => true,
            EntryKind::AccountRoleChanged
            | EntryKind::AccountPasswordReset
            | EntryKind::DoctorCreated
            | EntryKind::DoctorProfileUpdated
            | EntryKind::DoctorHoursUpdated
            | EntryKind::DoctorDeleted
            | EntryKind::SlotPublished
            | EntryKind::SlotWithdrawn
            | EntryKind::BookingCreatedByReschedule
            | EntryKind::WaitlistJoined
            | EntryKind::WaitlistLeft => false,
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        EntryKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown journal entry kind {s:?}")))
    }
}

/// One change, as the audit trail records it. Never updated or deleted once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The entry's id; also the id of the message made from it.
    pub id: EntryId,
    /// When the change was committed (the mutation's instant).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EntryKind,
    /// Who did it.
    pub actor: Actor,
    /// The doctor concerned, when known.
    pub doctor_id: Option<DoctorId>,
    /// The slot concerned, when known.
    pub slot_id: Option<SlotId>,
    /// The booking concerned.
    pub booking_id: Option<BookingId>,
    /// The booking's patient.
    pub patient_id: Option<PatientId>,
    /// The other booking of a reschedule (the new one from the old, the old one from the new).
    pub related_booking_id: Option<BookingId>,
    /// The booking's status before the change; `None` for a new booking.
    pub from: Option<BookingStatus>,
    /// The booking's status after the change.
    pub to: Option<BookingStatus>,
    /// The reason given for a cancellation.
    pub reason: Option<String>,
    /// The request that made the change, when the caller said ([`Context::request_id`]).
    pub request_id: Option<String>,
    /// The account concerned by an account change (a role change, a password reset).
    pub account_id: Option<AccountId>,
    /// The account's role before a role change.
    pub from_role: Option<Role>,
    /// The account's role after a role change.
    pub to_role: Option<Role>,
}

impl JournalEntry {
    /// An entry of `kind` by `actor` at `at`, naming nothing yet.
    fn blank(kind: EntryKind, actor: Actor, at: DateTime<Utc>, request_id: Option<String>) -> Self {
        JournalEntry {
            id: EntryId::new(),
            at,
            kind,
            actor,
            doctor_id: None,
            slot_id: None,
            booking_id: None,
            patient_id: None,
            related_booking_id: None,
            from: None,
            to: None,
            reason: None,
            request_id,
            account_id: None,
            from_role: None,
            to_role: None,
        }
    }
}

/// Who changes an account, when, under which request: what a store needs, beside the change,
/// to journal an account change in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// Who makes the change.
    pub actor: Actor,
    /// The change's instant.
    pub at: DateTime<Utc>,
    /// The request that makes it.
    pub request_id: Option<String>,
}

impl Audit {
    /// A change by `actor` at `at` under `context`'s request id.
    pub fn new(actor: Actor, at: DateTime<Utc>, context: &Context) -> Self {
        Self {
            actor,
            at,
            request_id: context.request_id.clone(),
        }
    }
}

/// The account holder as an actor: a patient, or an admin naming their account.
pub fn account_holder(account: AccountId, role: Role) -> Actor {
    match role {
        Role::Patient => Actor::Patient(account.into()),
        Role::Admin => Actor::Admin(Some(account)),
    }
}

/// The entry of a role change of `account` from `from` to `to`, or `None` when the role stays
/// the same (nothing changed, nothing to record).
pub fn role_changed(
    account: AccountId,
    from: Role,
    to: Role,
    audit: &Audit,
) -> Option<JournalEntry> {
    (from != to).then(|| JournalEntry {
        account_id: Some(account),
        from_role: Some(from),
        to_role: Some(to),
        ..JournalEntry::blank(
            EntryKind::AccountRoleChanged,
            audit.actor,
            audit.at,
            audit.request_id.clone(),
        )
    })
}

/// The entry (and message) of a password reset asked for `account`: by no one known (the
/// request is anonymous), so the system's.
pub fn password_reset_requested(account: AccountId, audit: &Audit) -> JournalEntry {
    JournalEntry {
        account_id: Some(account),
        ..JournalEntry::blank(
            EntryKind::AccountPasswordResetRequested,
            audit.actor,
            audit.at,
            audit.request_id.clone(),
        )
    }
}

/// The entry of `account`'s password set from a reset link, by the account's holder (who
/// holds the link).
pub fn password_reset(account: AccountId, role: Role, audit: &Audit) -> JournalEntry {
    JournalEntry {
        account_id: Some(account),
        ..JournalEntry::blank(
            EntryKind::AccountPasswordReset,
            account_holder(account, role),
            audit.at,
            audit.request_id.clone(),
        )
    }
}

/// What the caller of a mutation says about itself, for the journal: the engine's
/// [`in_context`](crate::BookingEngine::in_context).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    account: Option<AccountId>,
    request_id: Option<String>,
}

impl Context {
    /// A context naming the signed-in account (recorded for admin actions) and the request id.
    ///
    /// # Errors
    /// [`Error::Validation`] on `request_id` when empty, longer than
    /// [`MAX_REQUEST_ID_CHARS`] or holding a control character.
    pub fn new(account: Option<AccountId>, request_id: Option<&str>) -> Result<Self> {
        let request_id = match request_id {
            Some(id) if id.is_empty() || id.chars().count() > MAX_REQUEST_ID_CHARS => {
                return Err(Error::validation(
                    "request_id",
                    format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters"),
                ))
            }
            Some(id) => {
                crate::text::check("request_id", id, crate::text::Lines::Single)?;
                Some(id.to_owned())
            }
            None => None,
        };
        Ok(Self {
            account,
            request_id,
        })
    }

    /// The signed-in account.
    pub fn account(&self) -> Option<AccountId> {
        self.account
    }

    /// The request id.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

/// The journal entries of one mutation: one per change in `changes`, from `actor`, with what
/// was read under the locks (`locked`) supplying each changed booking's previous status and
/// each slot's doctor.
///
/// A hold that lapsed or a buffer that ended is recorded as the system's doing, whichever
/// mutation tidied it.
pub fn record(
    locked: &Locked,
    changes: &Changes,
    actor: Actor,
    context: &Context,
) -> Vec<JournalEntry> {
    let slots = known_slots(locked, changes);
    let doctor_of = |slot: SlotId| slots.get(&slot).copied();
    let before = known_bookings(locked);
    let entry = |kind: EntryKind, actor: Actor| {
        JournalEntry::blank(kind, actor, changes.at, context.request_id.clone())
    };
    let mut entries = Vec::new();
    if let Some(doctor) = &changes.new_doctor {
        entries.push(JournalEntry {
            doctor_id: Some(doctor.id),
            ..entry(EntryKind::DoctorCreated, actor)
        });
    }
    if let Some(change) = &changes.profile {
        entries.push(JournalEntry {
            doctor_id: Some(change.doctor),
            ..entry(EntryKind::DoctorProfileUpdated, actor)
        });
    }
    if let Some(change) = &changes.hours {
        entries.push(JournalEntry {
            doctor_id: Some(change.doctor),
            ..entry(EntryKind::DoctorHoursUpdated, actor)
        });
    }
    for slot in &changes.new_slots {
        entries.push(JournalEntry {
            doctor_id: Some(slot.doctor_id),
            slot_id: Some(slot.id),
            ..entry(EntryKind::SlotPublished, actor)
        });
    }
    for slot in &changes.withdrawn_slots {
        entries.push(JournalEntry {
            doctor_id: doctor_of(*slot),
            slot_id: Some(*slot),
            ..entry(EntryKind::SlotWithdrawn, actor)
        });
    }
    if let Some(doctor) = changes.deleted_doctor {
        entries.push(JournalEntry {
            doctor_id: Some(doctor),
            ..entry(EntryKind::DoctorDeleted, actor)
        });
    }
    // The offers these changes make and the offers that lapse, by booking: each is told once,
    // as the waitlist's, instead of as a hold made or lapsed.
    let offer_made = |booking: BookingId| {
        changes
            .entry_states
            .iter()
            .any(|c| matches!(c.state, EntryState::Offered { booking: b, .. } if b == booking))
    };
    let offer_lapsed = |booking: BookingId| {
        changes
            .entry_states
            .iter()
            .any(|c| matches!(c.state, EntryState::Lapsed { booking: b } if b == booking))
    };
    for change in &changes.states {
        let previous = before.get(&change.booking);
        let from = previous.map(|b| b.status());
        let (kind, by) = match transition_kind(from, &change.state, actor) {
            (EntryKind::BookingHoldLapsed, by) if offer_lapsed(change.booking) => {
                (EntryKind::WaitlistOfferLapsed, by)
            }
            other => other,
        };
        let related = match &change.state {
            BookingState::Rescheduled { to } => Some(*to),
            _ => None,
        };
        entries.push(JournalEntry {
            doctor_id: previous.and_then(|b| doctor_of(b.slot_id)),
            slot_id: previous.map(|b| b.slot_id),
            booking_id: Some(change.booking),
            patient_id: previous.map(|b| b.patient_id),
            related_booking_id: related,
            from,
            to: Some(change.state.status()),
            reason: reason_of(&change.state),
            ..entry(kind, by)
        });
    }
    for booking in &changes.new_bookings {
        let kind = match (&booking.state, booking.rescheduled_from) {
            _ if offer_made(booking.id) => EntryKind::WaitlistOfferMade,
            (_, Some(_)) => EntryKind::BookingCreatedByReschedule,
            (BookingState::Pending { .. }, None) => EntryKind::BookingHeld,
            (_, None) => EntryKind::BookingBooked,
        };
        entries.push(JournalEntry {
            doctor_id: doctor_of(booking.slot_id),
            slot_id: Some(booking.slot_id),
            booking_id: Some(booking.id),
            patient_id: Some(booking.patient_id),
            related_booking_id: booking.rescheduled_from,
            to: Some(booking.status()),
            ..entry(
                kind,
                if offer_made(booking.id) {
                    Actor::System
                } else {
                    actor
                },
            )
        });
    }
    for joined in &changes.new_entries {
        entries.push(JournalEntry {
            doctor_id: joined.doctor_id(),
            patient_id: Some(joined.patient_id),
            ..entry(EntryKind::WaitlistJoined, actor)
        });
    }
    for change in &changes.entry_states {
        if change.state == EntryState::Left {
            let left = locked.entry.as_ref().filter(|e| e.id == change.entry);
            entries.push(JournalEntry {
                doctor_id: left.and_then(WaitlistEntry::doctor_id),
                patient_id: left.map(|e| e.patient_id),
                ..entry(EntryKind::WaitlistLeft, actor)
            });
        }
    }
    entries
}

/// What a booking's move to `state` from status `from` is called, and who is recorded as having
/// made it.
fn transition_kind(
    from: Option<BookingStatus>,
    state: &BookingState,
    actor: Actor,
) -> (EntryKind, Actor) {
    match state {
        BookingState::Confirmed => (EntryKind::BookingConfirmed, actor),
        BookingState::Pending { .. } => (EntryKind::BookingHeld, actor),
        BookingState::Cancelled {
            by: CancelledBy::Patient,
            ..
        } => (EntryKind::BookingCancelledByPatient, actor),
        BookingState::Cancelled {
            by: CancelledBy::Admin,
            ..
        } if from == Some(BookingStatus::Buffer) => (EntryKind::BookingBufferEnded, Actor::System),
        BookingState::Cancelled {
            by: CancelledBy::Admin,
            ..
        }
        | BookingState::Buffer { .. } => (EntryKind::BookingCancelledByClinic, actor),
        BookingState::Expired { .. } => (EntryKind::BookingHoldLapsed, Actor::System),
        BookingState::Rescheduled { .. } => (EntryKind::BookingRescheduled, actor),
    }
}

fn reason_of(state: &BookingState) -> Option<String> {
    match state {
        BookingState::Buffer { reason, .. } | BookingState::Cancelled { reason, .. } => {
            reason.clone()
        }
        BookingState::Pending { .. }
        | BookingState::Confirmed
        | BookingState::Expired { .. }
        | BookingState::Rescheduled { .. } => None,
    }
}

/// Each slot the mutation read or writes, with its doctor.
fn known_slots(locked: &Locked, changes: &Changes) -> HashMap<SlotId, DoctorId> {
    let read: [&[Slot]; 3] = [
        locked.slot.as_slice(),
        locked.booking_slot.as_slice(),
        &locked.doctor_slots,
    ];
    read.into_iter()
        .flatten()
        .chain(&changes.new_slots)
        .map(|slot| (slot.id, slot.doctor_id))
        .collect()
}

/// Each booking the mutation read, as it was before the mutation.
fn known_bookings(locked: &Locked) -> HashMap<BookingId, &Booking> {
    let single = [&locked.booking, &locked.occupant, &locked.replay];
    single
        .into_iter()
        .flatten()
        .chain(&locked.lapsed)
        .chain(&locked.doctor_occupants)
        .map(|booking| (booking.id, booking))
        .collect()
}

/// Which journal entries to read, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// Only entries about this booking.
    pub booking_id: Option<BookingId>,
    /// Only entries about this patient's bookings.
    pub patient_id: Option<PatientId>,
    /// Only entries about this doctor (their profile, slots and bookings).
    pub doctor_id: Option<DoctorId>,
    /// Only entries by this actor.
    pub actor: Option<Actor>,
    /// Only entries about this account (its role changes and password resets).
    pub account_id: Option<AccountId>,
    /// Only entries at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this entry.
    pub after: Option<JournalCursor>,
    /// At most this many entries.
    pub limit: u32,
}

impl JournalQuery {
    /// Whether `entry` passes the filters (not the cursor or the limit).
    pub fn matches(&self, entry: &JournalEntry) -> bool {
        self.booking_id
            .is_none_or(|id| entry.booking_id == Some(id))
            && self
                .patient_id
                .is_none_or(|id| entry.patient_id == Some(id))
            && self.doctor_id.is_none_or(|id| entry.doctor_id == Some(id))
            && self.actor.is_none_or(|actor| entry.actor == actor)
            && self
                .account_id
                .is_none_or(|id| entry.account_id == Some(id))
            && self.from.is_none_or(|from| entry.at >= from)
            && self.to.is_none_or(|to| entry.at < to)
    }
}

/// A position in the journal: the last entry of the previous page. Entries are ordered by
/// instant, then id (time-ordered, so the entries of one mutation keep their order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JournalCursor {
    /// The instant of the last entry on the previous page.
    pub at: DateTime<Utc>,
    /// Its id.
    pub id: EntryId,
}

impl JournalCursor {
    /// The cursor that continues after `entry`.
    pub fn after(entry: &JournalEntry) -> Self {
        Self {
            at: entry.at,
            id: entry.id,
        }
    }

    /// Whether `entry` comes after this cursor.
    pub fn precedes(&self, entry: &JournalEntry) -> bool {
        (entry.at, entry.id) > (self.at, self.id)
    }
}

impl Cursor for JournalCursor {
    fn encode(&self) -> String {
        format!("{}_{}", self.at.timestamp_micros(), self.id)
    }

    fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        Some(Self {
            at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}
