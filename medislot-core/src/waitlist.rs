//! The waitlist: patients who want a slot of a doctor, or of a specialization, within a date
//! range (and optionally a time of day), in the order they joined.
//!
//! When a matching slot becomes free, the first waiting entry gets an exclusive **offer**: an
//! ordinary `PENDING` hold in the patient's name, made by the same mutation that freed the slot
//! ([`follow`]), so the hand-over is atomic and the hold's rules (exclusive while it lasts, a
//! confirm after it lapsed refused) are the offer's. An entry has at most one offer at a time;
//! while it has one it is not waiting, so a second freed slot goes to the next entry.

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::{Booking, BookingState, CancelledBy};
use crate::error::{Error, Result, StoreError};
use crate::ids::{BookingId, DoctorId, PatientId, WaitlistEntryId};
use crate::slot::{Slot, TimeRange};
use crate::unit_of_work::{Changes, Locked};

/// How many active (waiting or offered) entries a patient may have by default.
pub const DEFAULT_WAITLIST_LIMIT: u32 = 5;

/// Minutes in a day: the end of a [`TimeOfDay`] that lasts until midnight.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// What an entry waits for: one doctor's slots, or any doctor's of a specialization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistTarget {
    /// This doctor's slots.
    Doctor(DoctorId),
    /// Slots of any doctor with this specialization (compared ignoring ASCII case).
    Specialization(String),
}

/// A time of day a slot must start in, `[from, to)`, in minutes after midnight UTC (convert at
/// the edge). `from < to <= 1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeOfDay {
    from: u16,
    to: u16,
}

impl TimeOfDay {
    /// Slots starting from `from` until before `to` (minutes after midnight UTC).
    ///
    /// # Errors
    /// [`Error::Validation`] on `time_of_day` unless `from < to <= 1440`.
    pub fn new(from: u16, to: u16) -> Result<Self> {
        if from >= to || to > MINUTES_PER_DAY {
            return Err(Error::validation(
                "time_of_day",
                "must start before it ends, within one day",
            ));
        }
        Ok(Self { from, to })
    }

    /// From two clock times (UTC); `to` of midnight means the end of the day.
    ///
    /// # Errors
    /// As [`TimeOfDay::new`].
    pub fn between(from: NaiveTime, to: NaiveTime) -> Result<Self> {
        let minutes = |t: NaiveTime| {
            // hour < 24 and minute < 60: the value fits a u16.
            u16::try_from(t.hour() * 60 + t.minute()).unwrap_or(MINUTES_PER_DAY)
        };
        let end = match minutes(to) {
            0 => MINUTES_PER_DAY,
            m => m,
        };
        Self::new(minutes(from), end)
    }

    /// The first minute, after midnight UTC.
    pub const fn from_minute(self) -> u16 {
        self.from
    }

    /// The minute it ends before.
    pub const fn to_minute(self) -> u16 {
        self.to
    }

    /// Whether `at` falls in it.
    pub fn contains(self, at: DateTime<Utc>) -> bool {
        let minute = minute_of_day(at);
        self.from <= minute && minute < self.to
    }
}

/// Minutes after midnight UTC of `at`.
pub fn minute_of_day(at: DateTime<Utc>) -> u16 {
    // hour < 24 and minute < 60: the value fits a u16.
    u16::try_from(at.hour() * 60 + at.minute()).unwrap_or(0)
}

/// Where an entry stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryState {
    /// In line, in join order.
    Waiting,
    /// Holds an offer: the `PENDING` booking `booking`, until `until`.
    Offered {
        /// The hold made for the patient.
        booking: BookingId,
        /// When the offer (the hold) lapses.
        until: DateTime<Utc>,
    },
    /// The patient confirmed the offer; final.
    Booked {
        /// The booking, now `CONFIRMED`.
        booking: BookingId,
    },
    /// The offer was declined (cancelled by the patient, or by the clinic); final.
    Declined {
        /// The cancelled hold.
        booking: BookingId,
    },
    /// The offer lapsed unconfirmed; final.
    Lapsed {
        /// The expired hold.
        booking: BookingId,
    },
    /// The patient left the waitlist; final.
    Left,
}

/// The status of an entry, as stored and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryStatus {
    /// In line.
    Waiting,
    /// Holds a live offer.
    Offered,
    /// Confirmed its offer.
    Booked,
    /// Declined its offer.
    Declined,
    /// Let its offer lapse.
    Lapsed,
    /// Left the waitlist.
    Left,
}

impl EntryStatus {
    /// Every status.
    pub const ALL: [EntryStatus; 6] = [
        EntryStatus::Waiting,
        EntryStatus::Offered,
        EntryStatus::Booked,
        EntryStatus::Declined,
        EntryStatus::Lapsed,
        EntryStatus::Left,
    ];

    /// The stored spelling: `WAITING`, `OFFERED`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Waiting => "WAITING",
            EntryStatus::Offered => "OFFERED",
            EntryStatus::Booked => "BOOKED",
            EntryStatus::Declined => "DECLINED",
            EntryStatus::Lapsed => "LAPSED",
            EntryStatus::Left => "LEFT",
        }
    }
}

impl std::fmt::Display for EntryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EntryState {
    /// The stored status.
    pub const fn status(&self) -> EntryStatus {
        match self {
            EntryState::Waiting => EntryStatus::Waiting,
            EntryState::Offered { .. } => EntryStatus::Offered,
            EntryState::Booked { .. } => EntryStatus::Booked,
            EntryState::Declined { .. } => EntryStatus::Declined,
            EntryState::Lapsed { .. } => EntryStatus::Lapsed,
            EntryState::Left => EntryStatus::Left,
        }
    }

    /// The status a reader should see at `now`: an offer past its window reads as `LAPSED`,
    /// whether or not the lapse was written yet.
    pub fn status_at(&self, now: DateTime<Utc>) -> EntryStatus {
        match self {
            EntryState::Offered { until, .. } if *until <= now => EntryStatus::Lapsed,
            state => state.status(),
        }
    }

    /// Whether the entry counts against the patient's limit at `now`: waiting, or holding an
    /// offer that has not lapsed.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        matches!(
            self.status_at(now),
            EntryStatus::Waiting | EntryStatus::Offered
        )
    }

    /// The booking of the entry's (last) offer, if it had one.
    pub const fn offer(&self) -> Option<BookingId> {
        match self {
            EntryState::Offered { booking, .. }
            | EntryState::Booked { booking }
            | EntryState::Declined { booking }
            | EntryState::Lapsed { booking } => Some(*booking),
            EntryState::Waiting | EntryState::Left => None,
        }
    }

    /// The instant a live offer lapses.
    pub const fn offer_until(&self) -> Option<DateTime<Utc>> {
        match self {
            EntryState::Offered { until, .. } => Some(*until),
            EntryState::Waiting
            | EntryState::Booked { .. }
            | EntryState::Declined { .. }
            | EntryState::Lapsed { .. }
            | EntryState::Left => None,
        }
    }

    /// Rebuilds a state from its stored columns.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] on an unknown status or a missing column.
    pub fn from_parts(
        status: &str,
        booking: Option<BookingId>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Self, StoreError> {
        let missing = || StoreError::Corrupt(format!("waitlist entry {status} without its offer"));
        Ok(match status {
            "WAITING" => EntryState::Waiting,
            "OFFERED" => EntryState::Offered {
                booking: booking.ok_or_else(missing)?,
                until: until.ok_or_else(missing)?,
            },
            "BOOKED" => EntryState::Booked {
                booking: booking.ok_or_else(missing)?,
            },
            "DECLINED" => EntryState::Declined {
                booking: booking.ok_or_else(missing)?,
            },
            "LAPSED" => EntryState::Lapsed {
                booking: booking.ok_or_else(missing)?,
            },
            "LEFT" => EntryState::Left,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown waitlist status {other:?}"
                )))
            }
        })
    }
}

/// A patient's place on the waitlist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitlistEntry {
    /// The entry's id (time-ordered).
    pub id: WaitlistEntryId,
    /// Whose entry it is.
    pub patient_id: PatientId,
    /// Which slots it wants.
    pub target: WaitlistTarget,
    /// A wanted slot starts within this range.
    pub window: TimeRange,
    /// And, when set, at this time of day.
    pub time_of_day: Option<TimeOfDay>,
    /// Where it stands.
    pub state: EntryState,
    /// When the patient joined: the order of the line (then the id).
    pub joined_at: DateTime<Utc>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}

impl WaitlistEntry {
    /// Whether a slot of a doctor with this specialization is one the entry wants (whatever the
    /// entry's state): its doctor or specialization, starting within the window and the time of
    /// day. Stores read the first waiting entry for which this holds.
    pub fn wants(&self, slot: &Slot, specialization: &str) -> bool {
        let target = match &self.target {
            WaitlistTarget::Doctor(id) => *id == slot.doctor_id,
            WaitlistTarget::Specialization(s) => s.eq_ignore_ascii_case(specialization),
        };
        let start = slot.range.starts_at();
        target
            && self.window.starts_at() <= start
            && start < self.window.ends_at()
            && self.time_of_day.is_none_or(|t| t.contains(start))
    }

    /// The doctor it waits for, when it waits for one.
    pub fn doctor_id(&self) -> Option<DoctorId> {
        match &self.target {
            WaitlistTarget::Doctor(id) => Some(*id),
            WaitlistTarget::Specialization(_) => None,
        }
    }

    /// The specialization it waits for, when it waits for one.
    pub fn specialization(&self) -> Option<&str> {
        match &self.target {
            WaitlistTarget::Doctor(_) => None,
            WaitlistTarget::Specialization(s) => Some(s),
        }
    }
}

/// What a patient asks for when joining the waitlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// Which slots.
    pub target: WaitlistTarget,
    /// Starting within this range.
    pub window: TimeRange,
    /// At this time of day, if set.
    pub time_of_day: Option<TimeOfDay>,
}

impl NewEntry {
    /// A request to join, validated.
    ///
    /// # Errors
    /// [`Error::Validation`] on `specialization` when empty, too long or holding a control
    /// character.
    pub fn new(
        target: WaitlistTarget,
        window: TimeRange,
        time_of_day: Option<TimeOfDay>,
    ) -> Result<Self> {
        if let WaitlistTarget::Specialization(s) = &target {
            let trimmed = s.trim();
            if trimmed.is_empty() || trimmed.chars().count() > crate::MAX_NAME_CHARS {
                return Err(Error::validation(
                    "specialization",
                    format!("must be 1 to {} characters", crate::MAX_NAME_CHARS),
                ));
            }
            crate::text::check("specialization", trimmed, crate::text::Lines::Single)?;
            return Ok(Self {
                target: WaitlistTarget::Specialization(trimmed.to_owned()),
                window,
                time_of_day,
            });
        }
        Ok(Self {
            target,
            window,
            time_of_day,
        })
    }
}

/// Which entries a listing returns: the active ones (waiting, or holding an offer) of a patient
/// or of a doctor (its own and its specialization's), in join order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitlistQuery {
    /// Only this patient's entries.
    pub patient_id: Option<PatientId>,
    /// Only entries that want this doctor: for the doctor itself or its specialization
    /// (compared ignoring ASCII case).
    pub doctor: Option<(DoctorId, String)>,
    /// At most this many.
    pub limit: u32,
}

impl WaitlistQuery {
    /// Whether `entry` belongs in the listing (stored status waiting or offered).
    pub fn matches(&self, entry: &WaitlistEntry) -> bool {
        matches!(
            entry.state.status(),
            EntryStatus::Waiting | EntryStatus::Offered
        ) && self.patient_id.is_none_or(|p| p == entry.patient_id)
            && self
                .doctor
                .as_ref()
                .is_none_or(|(id, spec)| match &entry.target {
                    WaitlistTarget::Doctor(d) => d == id,
                    WaitlistTarget::Specialization(s) => s.eq_ignore_ascii_case(spec),
                })
    }
}

/// A waitlist entry's new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryChange {
    /// The entry.
    pub entry: WaitlistEntryId,
    /// Its new state, written with `updated_at` = the changes' instant.
    pub state: EntryState,
}

/// What a booking's new state makes of the entry whose live offer it is: confirmed → booked,
/// cancelled → declined, expired → lapsed.
fn entry_after(booking: BookingId, state: &BookingState) -> Option<EntryState> {
    match state {
        BookingState::Confirmed => Some(EntryState::Booked { booking }),
        BookingState::Cancelled { .. } | BookingState::Buffer { .. } => {
            Some(EntryState::Declined { booking })
        }
        BookingState::Expired { .. } => Some(EntryState::Lapsed { booking }),
        BookingState::Pending { .. } | BookingState::Rescheduled { .. } => None,
    }
}

/// The hold that offers `slot` to `entry` at `now`, for `window` (never past the slot's start),
/// and the entry's change to `OFFERED`.
fn offer(
    slot: &Slot,
    entry: &WaitlistEntry,
    window: Duration,
    now: DateTime<Utc>,
) -> (Booking, EntryChange) {
    let until = (now + window).min(slot.range.starts_at());
    let hold = Booking {
        id: BookingId::new(),
        slot_id: slot.id,
        patient_id: entry.patient_id,
        state: BookingState::Pending { hold_until: until },
        idempotency_key: None,
        created_at: now,
        updated_at: now,
        rescheduled_from: None,
        visit_reason: None,
    };
    let change = EntryChange {
        entry: entry.id,
        state: EntryState::Offered {
            booking: hold.id,
            until,
        },
    };
    (hold, change)
}

/// Completes a decision's `changes` with what they mean for the waitlist, from what was read
/// under the locks ([`Locked::offers`], [`Locked::slot_waiting`],
/// [`Locked::booking_slot_waiting`], [`Locked::doctor_waiting`]). Called by the engine on every
/// decision, so no mutation hands a slot over by itself:
///
/// - a booking that is some entry's live offer moves that entry on (confirmed → `BOOKED`,
///   cancelled → `DECLINED`, expired → `LAPSED`);
/// - a slot that one of the changes frees (its occupant cancelled, expired, moved away) and
///   that no new booking takes, is offered to the first waiting entry that wants it: a `PENDING`
///   hold in that patient's name for `window`, and the entry `OFFERED`;
/// - an admin's cancel puts the booking in `BUFFER` only when nobody waits: when someone does,
///   the buffer ends at once (`CANCELLED` by the clinic) and the slot is offered (the buffer
///   exists for the waitlist);
/// - a newly published slot is offered to the first waiting entry of the doctor that wants it.
///
/// A slot that has started is never offered. Each entry gets at most one offer per call.
pub fn follow(locked: &Locked, changes: &mut Changes, window: Duration) {
    let now = changes.at;
    let mut offered: Vec<WaitlistEntryId> = Vec::new();
    let mut new_offers: Vec<Booking> = Vec::new();
    let mut entry_states: Vec<EntryChange> = Vec::new();
    for change in &mut changes.states {
        if let Some(entry) = locked.offers.iter().find(
            |e| matches!(e.state, EntryState::Offered { booking, .. } if booking == change.booking),
        ) {
            if let Some(state) = entry_after(change.booking, &change.state) {
                entry_states.push(EntryChange {
                    entry: entry.id,
                    state,
                });
            }
        }
        // The slot this booking occupied, and the first waiting entry that wants it.
        let (previous, slot, waiting) = match (&locked.occupant, &locked.booking) {
            (Some(o), _) if o.id == change.booking => {
                (o, locked.slot.as_ref(), locked.slot_waiting.as_ref())
            }
            (_, Some(b)) if b.id == change.booking => (
                b,
                locked.booking_slot.as_ref(),
                locked.booking_slot_waiting.as_ref(),
            ),
            _ => continue,
        };
        let (Some(slot), Some(entry)) = (slot, waiting) else {
            continue;
        };
        if !previous.status().may_occupy_slot()
            || slot.range.starts_at() <= now
            || offered.contains(&entry.id)
            || new_offers.iter().any(|b| b.slot_id == slot.id)
        {
            continue;
        }
        if let BookingState::Buffer { reason, .. } = &change.state {
            // Someone waits: the buffer is theirs, so it ends now and the slot is offered.
            change.state = BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: reason.clone(),
                buffer_until: Some(now),
            };
        }
        if change.state.occupies_slot_at(now) {
            continue;
        }
        let (hold, change) = offer(slot, entry, window, now);
        offered.push(entry.id);
        entry_states.push(change);
        new_offers.push(hold);
    }
    for slot in &changes.new_slots {
        if slot.range.starts_at() <= now {
            continue;
        }
        let Some(doctor) = &locked.doctor else {
            continue;
        };
        let first = locked
            .doctor_waiting
            .iter()
            .find(|e| !offered.contains(&e.id) && e.wants(slot, &doctor.specialization));
        if let Some(entry) = first {
            let (hold, change) = offer(slot, entry, window, now);
            offered.push(entry.id);
            entry_states.push(change);
            new_offers.push(hold);
        }
    }
    new_offers.retain(|b| {
        let keep = !changes.new_bookings.iter().any(|n| n.slot_id == b.slot_id);
        if !keep {
            entry_states.retain(|c| c.state.offer() != Some(b.id));
        }
        keep
    });
    changes.new_bookings.extend(new_offers);
    changes.entry_states.extend(entry_states);
}

/// Whether `booking`, read as the occupant of a slot, lapsed by `now` and someone waits for
/// the slot: then the slot goes to the waitlist first, and a booker is refused.
pub(crate) fn waitlist_first(locked: &Locked, now: DateTime<Utc>) -> bool {
    let lapsed = locked
        .occupant
        .as_ref()
        .is_some_and(|o| o.status().may_occupy_slot() && !o.state.occupies_slot_at(now));
    let started = locked
        .slot
        .as_ref()
        .is_none_or(|s| s.range.starts_at() <= now);
    lapsed && !started && locked.slot_waiting.is_some()
}
