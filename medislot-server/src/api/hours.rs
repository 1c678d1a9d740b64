//! `/doctors/{id}/generated-slots`: an admin makes a doctor's slots from working hours (per
//! weekday, in the doctor's zone, exact across daylight saving time) instead of slot by slot.

use chrono::{Duration, NaiveDate, NaiveTime};
use medislot_core::schedule::{Exception, WallInterval, WorkingHours};
use medislot_core::{DoctorId, SlotStatus};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::model::SlotOut;
use super::ApiTags;
use crate::auth::Admin;
use crate::problem::errors::{ADMIN, BODY, NOT_FOUND};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Working-hours routes.
pub(crate) struct HoursApi {
    pub(crate) state: AppState,
}

/// A wall-clock interval of one day in the doctor's zone, in whole minutes.
#[derive(Debug, Object)]
pub(crate) struct Interval {
    /// Start, `HH:MM:SS` (inclusive).
    pub(crate) from: NaiveTime,
    /// End, `HH:MM:SS` (exclusive), after `from` on the same day.
    pub(crate) until: NaiveTime,
}

/// One rule of a doctor's working hours.
#[derive(Debug, Object)]
pub(crate) struct Hours {
    /// Monday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) monday: Option<Vec<Interval>>,
    /// Tuesday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) tuesday: Option<Vec<Interval>>,
    /// Wednesday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) wednesday: Option<Vec<Interval>>,
    /// Thursday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) thursday: Option<Vec<Interval>>,
    /// Friday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) friday: Option<Vec<Interval>>,
    /// Saturday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) saturday: Option<Vec<Interval>>,
    /// Sunday's intervals.
    #[oai(validator(max_items = 8))]
    pub(crate) sunday: Option<Vec<Interval>>,
    /// How long each slot lasts, in minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "720")))]
    pub(crate) slot_minutes: u32,
    /// Minutes between one slot's end and the next one's start (0 when absent).
    #[oai(validator(maximum(value = "1440")))]
    pub(crate) gap_minutes: Option<u32>,
    /// The first date the rule applies to.
    pub(crate) valid_from: NaiveDate,
    /// The last date the rule applies to; open ended when absent.
    pub(crate) valid_until: Option<NaiveDate>,
}

/// Time off within one day.
#[derive(Debug, Object)]
pub(crate) struct TimeOff {
    /// The day.
    pub(crate) date: NaiveDate,
    /// Start of the time off, in the doctor's wall-clock time.
    pub(crate) from: NaiveTime,
    /// End of the time off.
    pub(crate) until: NaiveTime,
}

/// Extra hours on one day, besides the rules'.
#[derive(Debug, Object)]
pub(crate) struct ExtraHours {
    /// The day.
    pub(crate) date: NaiveDate,
    /// Start, in the doctor's wall-clock time.
    pub(crate) from: NaiveTime,
    /// End.
    pub(crate) until: NaiveTime,
    /// How long each slot lasts, in minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "720")))]
    pub(crate) slot_minutes: u32,
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
        let time = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default();
        let day = |d| NaiveDate::from_ymd_opt(2031, 3, d).unwrap_or_default();
        let morning = || {
            vec![Interval {
                from: time(9),
                until: time(12),
            }]
        };
        GenerateSlots {
            hours: vec![Hours {
                monday: Some(morning()),
                tuesday: Some(morning()),
                wednesday: Some(morning()),
                thursday: Some(morning()),
                friday: Some(morning()),
                saturday: None,
                sunday: None,
                slot_minutes: 30,
                gap_minutes: None,
                valid_from: day(1),
                valid_until: None,
            }],
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

/// A time range, `[starts_at, ends_at)`.
#[derive(Debug, Object)]
pub(crate) struct Range {
    /// Start (RFC 3339, UTC).
    pub(crate) starts_at: chrono::DateTime<chrono::Utc>,
    /// End.
    pub(crate) ends_at: chrono::DateTime<chrono::Utc>,
}

#[derive(ApiResponse)]
enum Generated {
    /// What was created, what existed, and what clashes.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<GeneratedSlots>),
}

/// A wall-clock interval from the body, its errors named by `at` (`hours[0].monday[1]`).
pub(crate) fn interval(
    from: NaiveTime,
    until: NaiveTime,
    at: &str,
) -> Result<WallInterval, Problem> {
    WallInterval::new(from, until).map_err(|err| {
        let problem = Problem::from(err);
        let field = format!("{at}.{}", problem.field().unwrap_or("until"));
        problem.with_field(field)
    })
}

pub(crate) fn working_hours(hours: &Hours, at: &str) -> Result<WorkingHours, Problem> {
    let days = [
        ("monday", hours.monday.as_deref().unwrap_or_default()),
        ("tuesday", hours.tuesday.as_deref().unwrap_or_default()),
        ("wednesday", hours.wednesday.as_deref().unwrap_or_default()),
        ("thursday", hours.thursday.as_deref().unwrap_or_default()),
        ("friday", hours.friday.as_deref().unwrap_or_default()),
        ("saturday", hours.saturday.as_deref().unwrap_or_default()),
        ("sunday", hours.sunday.as_deref().unwrap_or_default()),
    ];
    let mut week: [Vec<WallInterval>; 7] = Default::default();
    for (i, (name, intervals)) in days.iter().enumerate() {
        for (j, iv) in intervals.iter().enumerate() {
            week[i].push(interval(iv.from, iv.until, &format!("{at}.{name}[{j}]"))?);
        }
    }
    WorkingHours::new(
        week,
        Duration::minutes(hours.slot_minutes.into()),
        Duration::minutes(hours.gap_minutes.unwrap_or(0).into()),
        hours.valid_from,
        hours.valid_until,
    )
    .map_err(|err| {
        let problem = Problem::from(err);
        let field = format!("{at}.{}", problem.field().unwrap_or("slot_minutes"));
        problem.with_field(field)
    })
}

fn exceptions(body: &GenerateSlots) -> Result<Vec<Exception>, Problem> {
    let mut all: Vec<Exception> = body
        .days_off
        .iter()
        .flatten()
        .copied()
        .map(Exception::DayOff)
        .collect();
    for (i, off) in body.time_off.iter().flatten().enumerate() {
        all.push(Exception::TimeOff {
            date: off.date,
            interval: interval(off.from, off.until, &format!("time_off[{i}]"))?,
        });
    }
    for (i, extra) in body.extra_hours.iter().flatten().enumerate() {
        all.push(Exception::ExtraHours {
            date: extra.date,
            interval: interval(extra.from, extra.until, &format!("extra_hours[{i}]"))?,
            slot_length: Duration::minutes(extra.slot_minutes.into()),
        });
    }
    Ok(all)
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Doctors")]
impl HoursApi {
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
        let hours = body
            .hours
            .iter()
            .enumerate()
            .map(|(i, h)| working_hours(h, &format!("hours[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let exceptions = exceptions(&body)?;
        let engine = admin.engine(&self.state);
        let doctor_id = DoctorId::from_uuid(id.0);
        let doctor = engine.doctor(doctor_id).await?;
        let generated = engine
            .generate_slots(
                doctor_id,
                &hours,
                &exceptions,
                body.first_day,
                body.last_day,
            )
            .await?;
        tracing::info!(
            doctor = %doctor_id,
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
            clashing: generated
                .clashing
                .iter()
                .map(|r| Range {
                    starts_at: r.starts_at(),
                    ends_at: r.ends_at(),
                })
                .collect(),
        })))
    }
}
