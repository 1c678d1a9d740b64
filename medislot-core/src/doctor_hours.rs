//! A doctor's stored working hours: the weekly rules and the exceptions ([`crate::schedule`])
//! kept by the store, and what saving a change does to the doctor's slots.
//!
//! Stores keep the hours as one document per doctor (a JSON text): they are always read and
//! replaced whole, never queried by part, and validated here when read back (like a
//! [`DoctorProfile`](crate::DoctorProfile)), so a stored document that exists is valid.
//!
//! Saving ([`BookingEngine::save_hours`]) is one mutation under the doctor's lock: it writes
//! the hours, withdraws the doctor's free future slots up to the horizon that the new hours do
//! not make, never touches an occupied one (booked, held or in its buffer), creates the missing
//! slots up to the horizon, and reports each occupied slot that now lies outside the hours.
//! [`BookingEngine::preview_hours`] answers the same without writing;
//! [`BookingEngine::extend_hours`] only creates, from the stored hours (the sweeper's job).

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::Booking;
use crate::engine::BookingEngine;
use crate::error::{Error, Result};
use crate::generation::MAX_SLOTS_PER_GENERATION;
use crate::ids::{DoctorId, SlotId};
use crate::schedule::{slots_between, Exception, WallInterval, WorkingHours};
use crate::slot::{Slot, TimeRange};
use crate::unit_of_work::{Changes, Claim, Decision, DoctorClaim, HoursChange, Locked};

/// The most rules one doctor's hours hold.
pub const MAX_RULES: usize = 10;
/// The most exceptions one doctor's hours hold.
pub const MAX_EXCEPTIONS: usize = 1000;
/// The longest accepted rolling horizon, in weeks.
pub const MAX_HORIZON_WEEKS: u32 = 52;
/// The default rolling horizon: slots are kept generated this many weeks ahead.
pub const DEFAULT_HORIZON_WEEKS: u32 = 8;

/// A doctor's working hours as stored: the rules and the exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawHours", into = "RawHours")]
pub struct DoctorHours {
    rules: Vec<WorkingHours>,
    exceptions: Vec<Exception>,
}

impl DoctorHours {
    /// Validated hours (each rule and exception was validated when made).
    ///
    /// # Errors
    /// [`Error::Validation`] on `rules` when there are more than [`MAX_RULES`], on
    /// `exceptions` when there are more than [`MAX_EXCEPTIONS`].
    pub fn new(rules: Vec<WorkingHours>, exceptions: Vec<Exception>) -> Result<Self> {
        if rules.len() > MAX_RULES {
            return Err(Error::validation(
                "rules",
                format!("at most {MAX_RULES} rules"),
            ));
        }
        if exceptions.len() > MAX_EXCEPTIONS {
            return Err(Error::validation(
                "exceptions",
                format!("at most {MAX_EXCEPTIONS} exceptions"),
            ));
        }
        Ok(Self { rules, exceptions })
    }

    /// The weekly rules, in the order given (earlier rules win a tie).
    pub fn rules(&self) -> &[WorkingHours] {
        &self.rules
    }

    /// Days off, time off and extra hours.
    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// Whether the hours make no slot at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.exceptions.is_empty()
    }

    /// The document a store keeps (JSON).
    pub fn to_document(&self) -> String {
        // Serializing plain strings, numbers and lists cannot fail.
        serde_json::to_string(&RawHours::from(self.clone())).unwrap_or_default()
    }

    /// Reads a stored document back, validating it.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the part that is not valid hours.
    pub fn from_document(document: &str) -> Result<Self> {
        let raw: RawHours = serde_json::from_str(document)
            .map_err(|err| Error::validation("hours", format!("not a stored document: {err}")))?;
        Self::try_from(raw)
    }
}

/// The plain shape of stored hours.
#[derive(Serialize, Deserialize)]
struct RawHours {
    rules: Vec<RawRule>,
    exceptions: Vec<RawException>,
}

#[derive(Serialize, Deserialize)]
struct RawRule {
    /// Monday first; each interval as `[from, until]`.
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    slot_minutes: i64,
    gap_minutes: i64,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RawException {
    DayOff {
        date: NaiveDate,
    },
    TimeOff {
        date: NaiveDate,
        from: NaiveTime,
        until: NaiveTime,
    },
    ExtraHours {
        date: NaiveDate,
        from: NaiveTime,
        until: NaiveTime,
        slot_minutes: i64,
    },
}

impl From<DoctorHours> for RawHours {
    fn from(hours: DoctorHours) -> Self {
        let pair = |iv: &WallInterval| (iv.from(), iv.until());
        Self {
            rules: hours
                .rules
                .iter()
                .map(|rule| RawRule {
                    week: std::array::from_fn(|i| rule.week()[i].iter().map(pair).collect()),
                    slot_minutes: rule.slot_length().num_minutes(),
                    gap_minutes: rule.gap().num_minutes(),
                    valid_from: rule.valid_from(),
                    valid_until: rule.valid_until(),
                })
                .collect(),
            exceptions: hours
                .exceptions
                .iter()
                .map(|e| match *e {
                    Exception::DayOff(date) => RawException::DayOff { date },
                    Exception::TimeOff { date, interval } => RawException::TimeOff {
                        date,
                        from: interval.from(),
                        until: interval.until(),
                    },
                    Exception::ExtraHours {
                        date,
                        interval,
                        slot_length,
                    } => RawException::ExtraHours {
                        date,
                        from: interval.from(),
                        until: interval.until(),
                        slot_minutes: slot_length.num_minutes(),
                    },
                })
                .collect(),
        }
    }
}

impl TryFrom<RawHours> for DoctorHours {
    type Error = Error;

    fn try_from(raw: RawHours) -> Result<Self> {
        let mut rules = Vec::with_capacity(raw.rules.len());
        for rule in raw.rules {
            let mut week: [Vec<WallInterval>; 7] = Default::default();
            for (day, intervals) in week.iter_mut().zip(rule.week) {
                for (from, until) in intervals {
                    day.push(WallInterval::new(from, until)?);
                }
            }
            rules.push(WorkingHours::new(
                week,
                Duration::minutes(rule.slot_minutes),
                Duration::minutes(rule.gap_minutes),
                rule.valid_from,
                rule.valid_until,
            )?);
        }
        let mut exceptions = Vec::with_capacity(raw.exceptions.len());
        for e in raw.exceptions {
            exceptions.push(match e {
                RawException::DayOff { date } => Exception::DayOff(date),
                RawException::TimeOff { date, from, until } => Exception::TimeOff {
                    date,
                    interval: WallInterval::new(from, until)?,
                },
                RawException::ExtraHours {
                    date,
                    from,
                    until,
                    slot_minutes,
                } => Exception::extra_hours(
                    date,
                    WallInterval::new(from, until)?,
                    Duration::minutes(slot_minutes),
                )?,
            });
        }
        Self::new(rules, exceptions)
    }
}

/// What saving hours does (or, previewed, would do) to the doctor's slots up to the horizon.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoursOutcome {
    /// The slots created, in start order.
    pub created: Vec<Slot>,
    /// The free future slots withdrawn because the hours no longer make them, in start order.
    pub withdrawn: Vec<Slot>,
    /// The occupied future slots (booked, held or in their buffer) that the hours no longer
    /// make, each with its occupying booking: kept, for staff to move or cancel.
    pub outside: Vec<(Slot, Booking)>,
    /// How many slots the hours make that exist already.
    pub existing: usize,
    /// Slots the hours make that overlap a kept slot (an occupied one outside the hours):
    /// not created.
    pub clashing: Vec<TimeRange>,
    /// The last day (in the doctor's zone) slots were made for.
    pub last_day: Option<NaiveDate>,
}

/// What one hours mutation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Write the hours, withdraw and create.
    Save,
    /// Decide as [`Mode::Save`] and write nothing.
    Preview,
    /// Create the missing slots of the stored hours; withdraw nothing.
    Extend,
}

impl BookingEngine {
    /// The doctor's stored hours; the empty hours when none were saved.
    ///
    /// # Errors
    /// [`Error::DoctorNotFound`]; storage failures.
    pub async fn doctor_hours(&self, id: DoctorId) -> Result<DoctorHours> {
        self.doctor(id).await?;
        Ok(self.store().doctor_hours(id).await?.unwrap_or_default())
    }

    /// Replaces the doctor's hours and, in the same unit of work under the doctor's lock,
    /// brings their slots up to `horizon_weeks` ahead in line with them (see the
    /// [module docs](crate::doctor_hours)).
    ///
    /// # Errors
    /// [`Error::Validation`] on `horizon_weeks` outside 1 to [`MAX_HORIZON_WEEKS`], or when
    /// more than [`MAX_SLOTS_PER_GENERATION`] slots would be created;
    /// [`Error::DoctorNotFound`]; storage failures.
    pub async fn save_hours(
        &self,
        id: DoctorId,
        hours: DoctorHours,
        horizon_weeks: u32,
    ) -> Result<HoursOutcome> {
        self.hours_mutation(id, Some(hours), horizon_weeks, Mode::Save)
            .await
    }

    /// What [`save_hours`](Self::save_hours) would do now, writing nothing.
    ///
    /// # Errors
    /// As [`save_hours`](Self::save_hours).
    pub async fn preview_hours(
        &self,
        id: DoctorId,
        hours: DoctorHours,
        horizon_weeks: u32,
    ) -> Result<HoursOutcome> {
        self.hours_mutation(id, Some(hours), horizon_weeks, Mode::Preview)
            .await
    }

    /// Creates the slots the doctor's stored hours make up to `horizon_weeks` ahead that do
    /// not exist yet; withdraws nothing. Idempotent: under the doctor's lock, so two
    /// instances at once create each slot once. A doctor without hours gets nothing.
    ///
    /// # Errors
    /// As [`save_hours`](Self::save_hours).
    pub async fn extend_hours(&self, id: DoctorId, horizon_weeks: u32) -> Result<HoursOutcome> {
        // A doctor without hours has nothing to extend: skip the locks. The decision reads the
        // hours again under the doctor's lock.
        if self.store().doctor_hours(id).await?.is_none() {
            return Ok(HoursOutcome::default());
        }
        self.hours_mutation(id, None, horizon_weeks, Mode::Extend)
            .await
    }

    async fn hours_mutation(
        &self,
        id: DoctorId,
        hours: Option<DoctorHours>,
        horizon_weeks: u32,
        mode: Mode,
    ) -> Result<HoursOutcome> {
        if !(1..=MAX_HORIZON_WEEKS).contains(&horizon_weeks) {
            return Err(Error::validation(
                "horizon_weeks",
                format!("must be from 1 to {MAX_HORIZON_WEEKS}"),
            ));
        }
        let now = self.now();
        let horizon = Duration::weeks(i64::from(horizon_weeks));
        // Every zone's day lies within a day either side of the same UTC date.
        let window = TimeRange::new(now, now + horizon + Duration::days(2)).map_err(|_| {
            Error::validation("horizon_weeks", "outside the dates a store can hold")
        })?;
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id,
                slots_within: Some(window),
                occupants_after: (mode != Mode::Extend).then_some(now),
                waiting_within: (mode != Mode::Preview).then_some(window),
                hours: hours.is_none(),
            }),
            ..Claim::default()
        };
        let report = Mutex::new(HoursOutcome::default());
        self.mutate(self.admin(), &claim, &|locked| {
            let (decision, outcome) = decide(locked, id, hours.as_ref(), horizon, mode, now)?;
            // A retried attempt overwrites this, so the committed attempt's report remains.
            *report.lock().unwrap_or_else(PoisonError::into_inner) = outcome;
            Ok(decision)
        })
        .await?;
        Ok(report.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The one decision of saving, previewing and extending hours, from what was read under the
/// doctor's lock.
fn decide(
    locked: &Locked,
    id: DoctorId,
    new_hours: Option<&DoctorHours>,
    horizon: Duration,
    mode: Mode,
    now: DateTime<Utc>,
) -> Result<(Decision, HoursOutcome)> {
    let doctor = locked.doctor.as_ref().ok_or(Error::DoctorNotFound(id))?;
    let stored = locked.doctor_hours.clone().unwrap_or_default();
    let hours = new_hours.unwrap_or(&stored);
    let first_day = now.with_timezone(&doctor.timezone).date_naive();
    let last_day = (now + horizon).with_timezone(&doctor.timezone).date_naive();
    let wanted: Vec<TimeRange> = slots_between(
        hours.rules(),
        hours.exceptions(),
        doctor.timezone,
        first_day,
        last_day,
    )
    .into_iter()
    .filter(|r| r.starts_at() > now)
    .collect();
    let mut outcome = HoursOutcome {
        last_day: Some(last_day),
        ..HoursOutcome::default()
    };
    let mut future: Vec<&Slot> = locked
        .doctor_slots
        .iter()
        .filter(|s| s.range.starts_at() > now)
        .collect();
    future.sort_by_key(|s| (s.range.starts_at(), s.id));
    // The slots that stay: every one the hours make, every occupied one; and, when only
    // extending, every one.
    let mut kept: Vec<&Slot> = Vec::new();
    for slot in future {
        let made = wanted.binary_search_by_key(&slot.range.starts_at(), |r| r.starts_at());
        let fits = made.is_ok_and(|i| wanted[i] == slot.range);
        let occupant = locked
            .doctor_occupants
            .iter()
            .find(|b| b.slot_id == slot.id && b.state.occupies_slot_at(now));
        match (fits, occupant, mode) {
            (true, _, _) | (false, _, Mode::Extend) => kept.push(slot),
            (false, Some(booking), _) => {
                outcome.outside.push((slot.clone(), booking.clone()));
                kept.push(slot);
            }
            (false, None, _) => outcome.withdrawn.push(slot.clone()),
        }
    }
    for range in wanted {
        let overlapping = kept.iter().filter(|s| s.range.overlaps(&range));
        match overlapping.clone().any(|s| s.range == range) {
            true => outcome.existing += 1,
            false if overlapping.count() > 0 => outcome.clashing.push(range),
            false => outcome.created.push(Slot {
                id: SlotId::new(),
                doctor_id: id,
                range,
                created_at: now,
            }),
        }
    }
    if outcome.created.len() > MAX_SLOTS_PER_GENERATION {
        return Err(Error::validation(
            "rules",
            format!(
                "these hours make more than {MAX_SLOTS_PER_GENERATION} new slots within the \
                 horizon; use longer slots or a shorter horizon"
            ),
        ));
    }
    let changes = match mode {
        Mode::Preview => Changes::at(now),
        Mode::Save | Mode::Extend => Changes {
            hours: new_hours.map(|hours| HoursChange {
                doctor: id,
                hours: hours.clone(),
            }),
            new_slots: outcome.created.clone(),
            withdrawn_slots: outcome.withdrawn.iter().map(|s| s.id).collect(),
            ..Changes::at(now)
        },
    };
    Ok((
        Decision {
            changes,
            reply: None,
        },
        outcome,
    ))
}
