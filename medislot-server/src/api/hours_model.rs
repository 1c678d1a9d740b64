//! What the two working-hours resources share: the JSON shapes of a weekly rule and its
//! exceptions (`Hours`, `Interval`, `TimeOff`, `ExtraHours`, `Range`), their conversion to
//! and from the core's schedule types with each error named at its field
//! (`hours[0].monday[1].until`), and the first step of their routes (the admin's engine and
//! the doctor the path names). `generated_slots.rs` makes slots from hours sent in the
//! request; `working_hours.rs` stores them with the doctor.

use chrono::{Duration, NaiveDate, NaiveTime};
use medislot_core::schedule::{Exception, WallInterval, WorkingHours};
use medislot_core::{BookingEngine, Doctor, DoctorId, TimeRange};
use poem_openapi::Object;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;

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

/// A time range, `[starts_at, ends_at)`.
#[derive(Debug, Object)]
pub(crate) struct Range {
    /// Start (RFC 3339, UTC).
    pub(crate) starts_at: chrono::DateTime<chrono::Utc>,
    /// End.
    pub(crate) ends_at: chrono::DateTime<chrono::Utc>,
}

impl From<&TimeRange> for Range {
    fn from(range: &TimeRange) -> Self {
        Range {
            starts_at: range.starts_at(),
            ends_at: range.ends_at(),
        }
    }
}

impl Hours {
    /// The documents' example rule: 09:00 to 12:00 on weekdays in 30-minute slots, from
    /// `valid_from` on.
    pub(crate) fn example_weekday_mornings(valid_from: NaiveDate) -> Self {
        let morning = || {
            Some(vec![Interval {
                from: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
                until: NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default(),
            }])
        };
        Hours {
            monday: morning(),
            tuesday: morning(),
            wednesday: morning(),
            thursday: morning(),
            friday: morning(),
            saturday: None,
            sunday: None,
            slot_minutes: 30,
            gap_minutes: None,
            valid_from,
            valid_until: None,
        }
    }

    /// The rule as the core keeps it; errors name the field under `at` (`rules[0]`).
    fn to_core(&self, at: &str) -> Result<WorkingHours, Problem> {
        let days = [
            ("monday", self.monday.as_deref().unwrap_or_default()),
            ("tuesday", self.tuesday.as_deref().unwrap_or_default()),
            ("wednesday", self.wednesday.as_deref().unwrap_or_default()),
            ("thursday", self.thursday.as_deref().unwrap_or_default()),
            ("friday", self.friday.as_deref().unwrap_or_default()),
            ("saturday", self.saturday.as_deref().unwrap_or_default()),
            ("sunday", self.sunday.as_deref().unwrap_or_default()),
        ];
        let mut week: [Vec<WallInterval>; 7] = Default::default();
        for (i, (name, intervals)) in days.iter().enumerate() {
            for (j, iv) in intervals.iter().enumerate() {
                week[i].push(interval(iv.from, iv.until, &format!("{at}.{name}[{j}]"))?);
            }
        }
        WorkingHours::new(
            week,
            Duration::minutes(self.slot_minutes.into()),
            Duration::minutes(self.gap_minutes.unwrap_or(0).into()),
            self.valid_from,
            self.valid_until,
        )
        .map_err(|err| located(err.into(), at, "slot_minutes"))
    }
}

impl From<&WorkingHours> for Hours {
    fn from(rule: &WorkingHours) -> Self {
        let day = |i: usize| {
            let intervals: Vec<Interval> = rule.week()[i]
                .iter()
                .map(|iv| Interval {
                    from: iv.from(),
                    until: iv.until(),
                })
                .collect();
            (!intervals.is_empty()).then_some(intervals)
        };
        Hours {
            monday: day(0),
            tuesday: day(1),
            wednesday: day(2),
            thursday: day(3),
            friday: day(4),
            saturday: day(5),
            sunday: day(6),
            slot_minutes: minutes(rule.slot_length()),
            gap_minutes: Some(minutes(rule.gap())),
            valid_from: rule.valid_from(),
            valid_until: rule.valid_until(),
        }
    }
}

/// A length in whole minutes, as the shapes carry it.
pub(crate) fn minutes(span: Duration) -> u32 {
    u32::try_from(span.num_minutes()).unwrap_or(0)
}

/// The rules as the core keeps them, their errors named under the body's field `name`
/// (`hours[0].monday[1].until`).
pub(crate) fn rules(hours: &[Hours], name: &str) -> Result<Vec<WorkingHours>, Problem> {
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| h.to_core(&format!("{name}[{i}]")))
        .collect()
}

/// The exceptions as the core keeps them, in the order days off, time off, extra hours; errors
/// name the field (`time_off[0].until`, `extra_hours[1].slot_minutes`).
pub(crate) fn exceptions(
    days_off: Option<&[NaiveDate]>,
    time_off: Option<&[TimeOff]>,
    extra_hours: Option<&[ExtraHours]>,
) -> Result<Vec<Exception>, Problem> {
    let mut all: Vec<Exception> = days_off
        .unwrap_or_default()
        .iter()
        .copied()
        .map(Exception::DayOff)
        .collect();
    for (i, off) in time_off.unwrap_or_default().iter().enumerate() {
        all.push(Exception::TimeOff {
            date: off.date,
            interval: interval(off.from, off.until, &format!("time_off[{i}]"))?,
        });
    }
    for (i, extra) in extra_hours.unwrap_or_default().iter().enumerate() {
        let at = format!("extra_hours[{i}]");
        let span = interval(extra.from, extra.until, &at)?;
        let slot_length = Duration::minutes(extra.slot_minutes.into());
        all.push(
            Exception::extra_hours(extra.date, span, slot_length)
                .map_err(|err| Problem::from(err).with_field(format!("{at}.slot_minutes")))?,
        );
    }
    Ok(all)
}

/// A wall-clock interval from the body, its errors named under `at` (`hours[0].monday[1]`).
fn interval(from: NaiveTime, until: NaiveTime, at: &str) -> Result<WallInterval, Problem> {
    WallInterval::new(from, until).map_err(|err| located(err.into(), at, "until"))
}

/// `problem` with its field put under `at` (`{at}.{field}`), or `{at}.{otherwise}` when it
/// names none.
fn located(problem: Problem, at: &str, otherwise: &str) -> Problem {
    let field = format!("{at}.{}", problem.field().unwrap_or(otherwise));
    problem.with_field(field)
}

/// The first step of every working-hours route: the engine as `admin`, and the doctor `id`
/// names.
///
/// # Errors
/// `doctor_not_found` when there is no such doctor.
pub(crate) async fn admins_doctor(
    admin: &Caller,
    state: &AppState,
    id: Uuid,
) -> Result<(BookingEngine, Doctor), Problem> {
    let engine = admin.engine(state);
    let doctor = engine.doctor(DoctorId::from_uuid(id)).await?;
    Ok((engine, doctor))
}
