//! `/doctors/{id}/hours`: a doctor's stored working hours (weekly rules, days off, time off,
//! extra hours). Saving replaces them and, in the same step, withdraws the free future slots
//! they no longer make, creates the missing ones up to the rolling horizon and reports the
//! booked ones now outside the hours; `/hours/preview` answers the same without saving.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use medislot_core::schedule::Exception;
use medislot_core::{Doctor, DoctorHours, DoctorId, HoursOutcome, SlotStatus};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::hours_model::{
    admins_doctor, exceptions, minutes, rules, ExtraHours, Hours, Range, TimeOff,
};
use super::model::SlotOut;
use super::ApiTags;
use crate::auth::{Admin, Caller};
use crate::problem::errors::{ADMIN, BODY, INVALID, NOT_FOUND};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Stored working-hours routes.
pub(crate) struct WorkingHoursApi {
    pub(crate) state: AppState,
}

/// A doctor's working hours: the weekly rules and the exceptions, in the doctor's zone.
#[derive(Debug, Object)]
#[oai(rename = "WorkingHours", example)]
pub(crate) struct StoredHours {
    /// The weekly rules; where two would make overlapping slots, the earlier start wins.
    #[oai(validator(max_items = 10))]
    pub(crate) rules: Vec<Hours>,
    /// Days with no slots at all.
    #[oai(validator(max_items = 300), skip_serializing_if_is_none)]
    pub(crate) days_off: Option<Vec<NaiveDate>>,
    /// Parts of days with no slots.
    #[oai(validator(max_items = 300), skip_serializing_if_is_none)]
    pub(crate) time_off: Option<Vec<TimeOff>>,
    /// Extra hours on single days.
    #[oai(validator(max_items = 300), skip_serializing_if_is_none)]
    pub(crate) extra_hours: Option<Vec<ExtraHours>>,
}

impl Example for StoredHours {
    fn example() -> Self {
        let time = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        let day = |d| NaiveDate::from_ymd_opt(2031, 3, d).unwrap_or_default();
        StoredHours {
            rules: vec![Hours::example_weekday_mornings(day(1))],
            days_off: Some(vec![day(17)]),
            time_off: Some(vec![TimeOff {
                date: day(18),
                from: time(10),
                until: time(11),
            }]),
            extra_hours: None,
        }
    }
}

impl StoredHours {
    /// The hours as the core keeps them; errors name the field (`rules[0].monday[1].until`).
    pub(crate) fn to_core(&self) -> Result<DoctorHours, Problem> {
        let rules = rules(&self.rules, "rules")?;
        let exceptions = exceptions(
            self.days_off.as_deref(),
            self.time_off.as_deref(),
            self.extra_hours.as_deref(),
        )?;
        Ok(DoctorHours::new(rules, exceptions)?)
    }

    /// The API's shape of stored hours.
    pub(crate) fn from_core(hours: &DoctorHours) -> Self {
        let mut stored = StoredHours {
            rules: hours.rules().iter().map(Hours::from).collect(),
            days_off: None,
            time_off: None,
            extra_hours: None,
        };
        for exception in hours.exceptions() {
            match *exception {
                Exception::DayOff(date) => stored.days_off.get_or_insert_default().push(date),
                Exception::TimeOff { date, interval } => {
                    stored.time_off.get_or_insert_default().push(TimeOff {
                        date,
                        from: interval.from(),
                        until: interval.until(),
                    })
                }
                Exception::ExtraHours {
                    date,
                    interval,
                    slot_length,
                } => stored.extra_hours.get_or_insert_default().push(ExtraHours {
                    date,
                    from: interval.from(),
                    until: interval.until(),
                    slot_minutes: minutes(slot_length),
                }),
            }
        }
        stored
    }
}

/// A booked, held or buffered slot that the hours no longer make: kept, for staff to move or
/// cancel its booking.
#[derive(Debug, Object)]
pub(crate) struct OutsideSlot {
    // The slot, with its status now (described on `Slot`: a doc comment here would turn the
    // reference into an `allOf`).
    pub(crate) slot: SlotOut,
    /// The booking that occupies it.
    pub(crate) booking_id: Uuid,
}

/// What saving the hours did, or (previewed) would do, to the doctor's slots up to the
/// rolling horizon.
#[derive(Debug, Object)]
pub(crate) struct HoursChangeOut {
    // The hours, as saved (or previewed); described on `WorkingHours`.
    pub(crate) hours: StoredHours,
    /// The slots created (or to be created), by start time.
    pub(crate) created: Vec<SlotOut>,
    /// The free future slots withdrawn (or to be withdrawn) because the hours no longer make
    /// them, by start time, as they were.
    pub(crate) withdrawn: Vec<SlotOut>,
    /// The booked, held or buffered future slots that lie outside the hours: never withdrawn.
    pub(crate) outside: Vec<OutsideSlot>,
    /// How many slots the hours make that exist already.
    pub(crate) existing: u64,
    /// Slots the hours make that overlap a slot kept outside them: not created.
    pub(crate) clashing: Vec<Range>,
    /// The last day (in the doctor's zone) slots are made up to: the rolling horizon.
    pub(crate) horizon_last_day: Option<NaiveDate>,
}

impl HoursChangeOut {
    /// The API's shape of an outcome, its slots shown in the doctor's zone.
    pub(crate) fn new(
        hours: &DoctorHours,
        outcome: &HoursOutcome,
        doctor: &Doctor,
        now: DateTime<Utc>,
    ) -> Self {
        let tz = doctor.timezone;
        let free = |slot| SlotOut::new(slot, SlotStatus::Available, tz);
        Self {
            hours: StoredHours::from_core(hours),
            created: outcome.created.iter().map(free).collect(),
            withdrawn: outcome.withdrawn.iter().map(free).collect(),
            outside: outcome
                .outside
                .iter()
                .map(|(slot, booking)| OutsideSlot {
                    slot: SlotOut::new(slot, SlotStatus::at(slot, Some(booking), now), tz),
                    booking_id: booking.id.as_uuid(),
                })
                .collect(),
            existing: outcome.existing as u64,
            clashing: outcome.clashing.iter().map(Range::from).collect(),
            horizon_last_day: outcome.last_day,
        }
    }
}

#[derive(ApiResponse)]
enum HoursRead {
    /// The doctor's working hours (no rules when none were saved).
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<StoredHours>),
}

#[derive(ApiResponse)]
enum HoursChanged {
    /// What the change does to the doctor's slots.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<HoursChangeOut>),
}

/// What a change of hours does: saved, or only previewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// Save the hours and change the slots.
    Save,
    /// Answer what saving would do, saving nothing.
    Preview,
}

impl WorkingHoursApi {
    /// Saves or previews `body` as doctor `id`'s hours: the one step behind `PUT` and preview.
    async fn change(
        &self,
        admin: &Caller,
        id: Uuid,
        body: &StoredHours,
        change: Change,
    ) -> Result<HoursChanged, Problem> {
        let hours = body.to_core()?;
        let (engine, doctor) = admins_doctor(admin, &self.state, id).await?;
        let weeks = self.state.config().horizon_weeks;
        let outcome = match change {
            Change::Save => {
                let outcome = engine.save_hours(doctor.id, hours.clone(), weeks).await?;
                tracing::info!(
                    doctor = %doctor.id,
                    created = outcome.created.len(),
                    withdrawn = outcome.withdrawn.len(),
                    outside = outcome.outside.len(),
                    "working hours saved"
                );
                outcome
            }
            Change::Preview => {
                engine
                    .preview_hours(doctor.id, hours.clone(), weeks)
                    .await?
            }
        };
        let out = HoursChangeOut::new(&hours, &outcome, &doctor, engine.now());
        Ok(HoursChanged::Ok(Json(out)))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Doctors")]
impl WorkingHoursApi {
    /// Read a doctor's working hours (admin)
    #[oai(
        path = "/doctors/:id/hours",
        method = "get",
        operation_id = "get_hours"
    )]
    async fn read(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
    ) -> Result<HoursRead, ApiError<{ ADMIN | NOT_FOUND | INVALID }>> {
        let engine = admin.engine(&self.state);
        let hours = engine.doctor_hours(DoctorId::from_uuid(id.0)).await?;
        Ok(HoursRead::Ok(Json(StoredHours::from_core(&hours))))
    }

    /// Replace a doctor's working hours (admin)
    ///
    /// Saves the hours and, in the same step under the doctor's lock: withdraws the doctor's
    /// free future slots up to the rolling horizon that the hours no longer make (kept in the
    /// history, as a withdrawn slot is), creates the missing ones up to the horizon, and lists
    /// each booked, held or buffered slot that now lies outside the hours (never withdrawn:
    /// move or cancel its booking). Saving the same hours again changes nothing.
    #[oai(
        path = "/doctors/:id/hours",
        method = "put",
        operation_id = "put_hours"
    )]
    async fn replace(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<StoredHours>,
    ) -> Result<HoursChanged, ApiError<{ ADMIN | NOT_FOUND | BODY }>> {
        Ok(self.change(&admin, id.0, &body.0, Change::Save).await?)
    }

    /// Preview a change of working hours (admin)
    ///
    /// Answers what `PUT /doctors/{id}/hours` with this body would do now (the slots it
    /// would create and withdraw, and the booked ones outside the hours), saving nothing.
    #[oai(
        path = "/doctors/:id/hours/preview",
        method = "post",
        operation_id = "preview_hours"
    )]
    async fn preview(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<StoredHours>,
    ) -> Result<HoursChanged, ApiError<{ ADMIN | NOT_FOUND | BODY }>> {
        Ok(self.change(&admin, id.0, &body.0, Change::Preview).await?)
    }
}
