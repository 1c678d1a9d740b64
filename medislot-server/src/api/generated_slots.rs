//! `/doctors/{id}/generated-slots`: an admin makes a doctor's slots from working hours sent in
//! the request (per weekday, in the doctor's zone, exact across daylight saving time) instead of
//! slot by slot. The hours' shapes are shared with the stored hours (`hours_model.rs`).

use chrono::NaiveDate;
use medislot_core::SlotStatus;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::hours_model::{admins_doctor, exceptions, rules, ExtraHours, Hours, Range, TimeOff};
use super::model::SlotOut;
use super::ApiTags;
use crate::auth::Admin;
use crate::problem::errors::{ADMIN, BODY, NOT_FOUND};
use crate::problem::ApiError;
use crate::state::AppState;

/// The route that makes slots from working hours in the request.
pub(crate) struct GeneratedSlotsApi {
    pub(crate) state: AppState,
}

/// Working hours and the days to make slots for.
#[derive(Debug, Object)]
#[oai(example)]
struct GenerateSlots {
    /// The rules; where two would make overlapping slots, the earlier start wins.
    #[oai(validator(min_items = 1, max_items = 10))]
    hours: Vec<Hours>,
    /// Days with no slots at all.
    #[oai(validator(max_items = 366))]
    days_off: Option<Vec<NaiveDate>>,
    /// Parts of days with no slots.
    #[oai(validator(max_items = 366))]
    time_off: Option<Vec<TimeOff>>,
    /// Extra hours on single days.
    #[oai(validator(max_items = 366))]
    extra_hours: Option<Vec<ExtraHours>>,
    /// The first day to make slots for, in the doctor's zone.
    first_day: NaiveDate,
    /// The last day (inclusive), at most 366 days after `first_day`.
    last_day: NaiveDate,
}

impl Example for GenerateSlots {
    fn example() -> Self {
        let day = |d| NaiveDate::from_ymd_opt(2031, 3, d).unwrap_or_default();
        GenerateSlots {
            hours: vec![Hours::example_weekday_mornings(day(1))],
            days_off: Some(vec![day(17)]),
            time_off: None,
            extra_hours: None,
            first_day: day(1),
            last_day: day(31),
        }
    }
}

/// What generating did.
#[derive(Debug, Object)]
struct GeneratedSlots {
    /// The slots created now, by start time.
    created: Vec<SlotOut>,
    /// How many slots the hours make that existed already.
    existing: u64,
    /// Slots the hours make that overlap another live slot of the doctor (one published by
    /// hand, say): not created.
    clashing: Vec<Range>,
}

#[derive(ApiResponse)]
enum Generated {
    /// What was created, what existed, and what clashes.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<GeneratedSlots>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Doctors")]
impl GeneratedSlotsApi {
    /// Make a doctor's slots from working hours (admin)
    ///
    /// Creates the future slots that the hours make from `first_day` to `last_day`, in the
    /// doctor's zone, that do not exist yet. Sending the same hours again creates nothing new,
    /// so this is safe to repeat (to roll the calendar forward, say). A wall-clock time skipped
    /// when clocks go forward makes no slot; an hour repeated when they go back is used once.
    #[oai(
        path = "/doctors/:id/generated-slots",
        method = "post",
        operation_id = "generate_slots"
    )]
    async fn generate(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<GenerateSlots>,
    ) -> Result<Generated, ApiError<{ ADMIN | NOT_FOUND | BODY }>> {
        let JsonBody(body) = body;
        let hours = rules(&body.hours, "hours")?;
        let exceptions = exceptions(
            body.days_off.as_deref(),
            body.time_off.as_deref(),
            body.extra_hours.as_deref(),
        )?;
        let (engine, doctor) = admins_doctor(&admin, &self.state, id.0).await?;
        let generated = engine
            .generate_slots(
                doctor.id,
                &hours,
                &exceptions,
                body.first_day,
                body.last_day,
            )
            .await?;
        tracing::info!(
            doctor = %doctor.id,
            created = generated.created.len(),
            existing = generated.existing,
            clashing = generated.clashing.len(),
            "slots generated from working hours"
        );
        let now = engine.now();
        Ok(Generated::Ok(Json(GeneratedSlots {
            created: generated
                .created
                .iter()
                .map(|slot| SlotOut::new(slot, SlotStatus::at(slot, None, now), doctor.timezone))
                .collect(),
            existing: generated.existing as u64,
            clashing: generated.clashing.iter().map(Range::from).collect(),
        })))
    }
}
