//! Making a doctor's slots from their working hours ([`crate::schedule`]), as ordinary slots, so
//! booking keeps its row lock and every store stays as it is.
//!
//! Generating is idempotent: under the doctor's lock it reads the doctor's live slots and
//! creates only the slots the hours make that do not exist yet. Running it twice, or from two
//! processes at once, creates each slot once.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::engine::BookingEngine;
use crate::error::{Error, Result};
use crate::ids::{DoctorId, SlotId};
use crate::schedule::{slots_between, Exception, WorkingHours};
use crate::slot::{Slot, TimeRange};
use crate::unit_of_work::{Changes, Claim, Decision, DoctorClaim, Locked};

/// The most days one generation covers.
pub const MAX_GENERATION_DAYS: i64 = 366;

/// The most slots one generation creates: a year of a long working day in short slots would
/// otherwise be one huge transaction. Generate fewer days at a time.
pub const MAX_SLOTS_PER_GENERATION: usize = 5000;

/// What one generation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generated {
    /// The slots created now, in start order.
    pub created: Vec<Slot>,
    /// How many slots the hours make that existed already, exactly.
    pub existing: usize,
    /// Slots the hours make that overlap another live slot of the doctor (one published by
    /// hand, say): not created.
    pub clashing: Vec<TimeRange>,
}

impl BookingEngine {
    /// Creates the slots that `hours` and `exceptions` make for the doctor from `first_day` to
    /// `last_day` (inclusive, dates in the doctor's zone) that start in the future and do not
    /// exist yet. Slots that exist exactly are left alone; slots that would overlap another of
    /// the doctor's live slots are reported in [`Generated::clashing`] and not created.
    ///
    /// # Errors
    /// [`Error::Validation`] on `last_day` when it is before `first_day` or more than
    /// [`MAX_GENERATION_DAYS`] after it, when the days lie outside the instants every store
    /// can represent, or when more than [`MAX_SLOTS_PER_GENERATION`] slots would be created;
    /// [`Error::DoctorNotFound`]; storage failures.
    pub async fn generate_slots(
        &self,
        doctor_id: DoctorId,
        hours: &[WorkingHours],
        exceptions: &[Exception],
        first_day: NaiveDate,
        last_day: NaiveDate,
    ) -> Result<Generated> {
        if last_day < first_day {
            return Err(Error::validation(
                "last_day",
                "must not be before first_day",
            ));
        }
        if last_day - first_day > Duration::days(MAX_GENERATION_DAYS) {
            return Err(Error::validation(
                "last_day",
                format!("at most {MAX_GENERATION_DAYS} days after first_day"),
            ));
        }
        let now = self.now();
        // Every zone's day lies within a day either side of the same UTC date.
        let window = TimeRange::new(
            first_day.and_time(chrono::NaiveTime::MIN).and_utc() - Duration::days(1),
            last_day.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(2),
        )
        .map_err(|_| Error::validation("last_day", "outside the dates a store can hold"))?;
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id: doctor_id,
                slots_within: Some(window),
                occupants_after: None,
                waiting_within: Some(window),
                hours: false,
            }),
            ..Claim::default()
        };
        let plan = Plan {
            doctor_id,
            hours,
            exceptions,
            first_day,
            last_day,
            now,
        };
        // The store may decide more than once (a retried transaction); the report kept is the
        // one of the last decision, which is the one committed.
        let report = Mutex::new(Generated::default());
        self.mutate(self.admin(), &claim, &|locked| {
            let (decision, generated) = plan.decide(locked)?;
            *report.lock().unwrap_or_else(PoisonError::into_inner) = generated;
            Ok(decision)
        })
        .await?;
        Ok(report.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One generation's input.
struct Plan<'a> {
    doctor_id: DoctorId,
    hours: &'a [WorkingHours],
    exceptions: &'a [Exception],
    first_day: NaiveDate,
    last_day: NaiveDate,
    now: DateTime<Utc>,
}

impl Plan<'_> {
    /// The slots to create, from the doctor (their zone) and live slots read under their lock.
    fn decide(&self, locked: &Locked) -> Result<(Decision, Generated)> {
        let doctor = locked
            .doctor
            .as_ref()
            .ok_or(Error::DoctorNotFound(self.doctor_id))?;
        let wanted = slots_between(
            self.hours,
            self.exceptions,
            doctor.timezone,
            self.first_day,
            self.last_day,
        );
        let mut generated = Generated::default();
        for range in wanted.into_iter().filter(|r| r.starts_at() > self.now) {
            let overlapping = locked
                .doctor_slots
                .iter()
                .filter(|slot| slot.range.overlaps(&range));
            match overlapping.clone().any(|slot| slot.range == range) {
                true => generated.existing += 1,
                false if overlapping.count() > 0 => generated.clashing.push(range),
                false => generated.created.push(Slot {
                    id: SlotId::new(),
                    doctor_id: self.doctor_id,
                    range,
                    created_at: self.now,
                }),
            }
        }
        if generated.created.len() > MAX_SLOTS_PER_GENERATION {
            return Err(Error::validation(
                "last_day",
                format!(
                    "these hours make more than {MAX_SLOTS_PER_GENERATION} new slots; \
                     generate fewer days at a time"
                ),
            ));
        }
        let decision = Decision {
            changes: Changes {
                new_slots: generated.created.clone(),
                ..Changes::at(self.now)
            },
            reply: None,
        };
        Ok((decision, generated))
    }
}
