//! A doctor's page: the upcoming slots, a day of them in one form with a preview before
//! saving (all or nothing), withdrawing a free one, and the doctor's profile (its form is
//! handled in `profile.rs`).

use askama::Template;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use medislot_core::{Cursor, Doctor, SlotCursor, SlotId, SlotQuery, SlotStatus, TimeRange};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::profile::ProfileForm;
use super::{parse_doctor_id, DoneQuery, PAGE_SIZE};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::page::{
    self, encode, parse_form, parse_query, redirect, respond, Errors, Flash, Layout, PageError,
};
use crate::web::time;

/// Longest slot the day form accepts, in minutes.
const MAX_SLOT_MINUTES: i64 = 480;

/// The day form: one day of equal slots in the doctor's time zone.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct DayForm {
    date: String,
    from: String,
    to: String,
    length: String,
    gap: String,
    action: String,
}

/// One slot as the preview and the doctor's list show it.
#[derive(Debug)]
struct SlotLine {
    id: Option<SlotId>,
    when: String,
    status: &'static str,
    note: String,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "admin/doctor.html")]
struct DoctorPage {
    layout: Layout,
    doctor: Doctor,
    zone: String,
    form: DayForm,
    errors: Errors,
    preview: Vec<SlotLine>,
    slots: Vec<SlotLine>,
    next_page: Option<String>,
    first_page: Option<String>,
    profile: ProfileForm,
    profile_errors: Errors,
}

/// `GET /admin/doctors/{id}`: the doctor's upcoming slots and the form to add a day of them.
#[handler]
pub(crate) async fn doctor_slots(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let query: DoneQuery = parse_query(req)?;
            let doctor = state.engine().doctor(parse_doctor_id(&id)?).await?;
            let flash = match query.done.as_str() {
                "created" => Some(Flash::ok(format!("{} slots created.", query.n))),
                "withdrawn" => Some(Flash::ok("Slot deleted.")),
                "profile" => Some(Flash::ok("Profile saved.")),
                "not_withdrawn" => {
                    let slot = Uuid::parse_str(query.slot.trim())
                        .map(|id| state.engine().slot(SlotId::from_uuid(id)));
                    let when = match slot {
                        Ok(read) => read
                            .await
                            .map(|s| format!(" {}", time::span(&s.slot.range, doctor.timezone)))
                            .unwrap_or_default(),
                        Err(_) => String::new(),
                    };
                    Some(Flash::error(format!(
                        "The slot{when} was not deleted: it is booked, held or resting in a \
                         buffer. Cancel its booking first."
                    )))
                }
                _ => None,
            };
            let form = DayForm::first(&doctor, state.engine().now());
            let view = DoctorView {
                form,
                errors: Errors::default(),
                preview: Vec::new(),
                cursor: query.cursor,
                profile: ProfileForm::of(&doctor),
                profile_errors: Errors::default(),
            };
            doctor_page(state, &caller, doctor, view, StatusCode::OK, flash).await
        }
        .await,
    )
}

/// What the doctor's page shows besides the doctor and their slots: both forms as filled in,
/// each with its errors.
pub(super) struct DoctorView {
    form: DayForm,
    errors: Errors,
    preview: Vec<SlotLine>,
    cursor: String,
    profile: ProfileForm,
    profile_errors: Errors,
}

impl DoctorView {
    /// The page after a refused profile form: the day form as the page first shows it.
    pub(super) fn refused_profile(
        doctor: &Doctor,
        now: DateTime<Utc>,
        profile: ProfileForm,
        profile_errors: Errors,
    ) -> Self {
        Self {
            form: DayForm::first(doctor, now),
            errors: Errors::default(),
            preview: Vec::new(),
            cursor: String::new(),
            profile,
            profile_errors,
        }
    }
}

impl DayForm {
    /// Tomorrow in the doctor's zone, 09:00 to 12:00, 30-minute slots.
    fn first(doctor: &Doctor, now: DateTime<Utc>) -> Self {
        let tomorrow = (now.with_timezone(&doctor.timezone) + Duration::days(1)).date_naive();
        Self {
            date: tomorrow.format("%Y-%m-%d").to_string(),
            from: "09:00".to_owned(),
            to: "12:00".to_owned(),
            length: "30".to_owned(),
            gap: "0".to_owned(),
            action: String::new(),
        }
    }
}

pub(super) async fn doctor_page(
    state: &AppState,
    caller: &Caller,
    doctor: Doctor,
    view: DoctorView,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let engine = state.engine();
    let now = engine.now();
    let tz = doctor.timezone;
    let page = engine
        .slots(&SlotQuery {
            doctor_id: Some(doctor.id),
            from: Some(now),
            after: SlotCursor::decode(&view.cursor),
            limit: PAGE_SIZE,
            ..SlotQuery::default()
        })
        .await?;
    let slots = page
        .items
        .iter()
        .map(|v| {
            let (status, note) = match v.status {
                SlotStatus::Available => ("AVAILABLE", String::new()),
                SlotStatus::Held { until } => {
                    ("HELD", format!("until {}", time::clock_zoned(until, tz)))
                }
                SlotStatus::Booked => ("BOOKED", String::new()),
                SlotStatus::Buffer { until } => {
                    ("BUFFER", format!("until {}", time::clock_zoned(until, tz)))
                }
                SlotStatus::Started => ("STARTED", String::new()),
            };
            SlotLine {
                id: Some(v.slot.id),
                when: time::span(&v.slot.range, tz),
                status,
                note,
                deletable: v.status.is_available(),
            }
        })
        .collect();
    let base = format!("/admin/doctors/{}", doctor.id);
    page::page(
        status,
        &DoctorPage {
            layout: Layout::new(doctor.name.clone(), "doctors", Some(caller), tz)
                .with_fixed_zone(format!("{}'s zone", doctor.name))
                .with_flash(flash),
            zone: time::zone_label(now, tz),
            next_page: page
                .next
                .map(|c| format!("{base}?cursor={}", encode(&c.encode()))),
            first_page: (!view.cursor.is_empty()).then(|| base.clone()),
            doctor,
            form: view.form,
            errors: view.errors,
            preview: view.preview,
            slots,
            profile: view.profile,
            profile_errors: view.profile_errors,
        },
    )
}

/// Reads the day form into slot ranges, or says next to each field what is wrong.
fn plan_day(form: &DayForm, tz: Tz, now: DateTime<Utc>) -> Result<Vec<TimeRange>, Errors> {
    let mut errors = Errors::default();
    let date = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d")
        .map_err(|_| errors.add("date", "Enter the date, such as 2030-01-31."))
        .ok();
    let parse_time = |text: &str| {
        NaiveTime::parse_from_str(text.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"))
            .ok()
    };
    let from = parse_time(&form.from);
    if from.is_none() {
        errors.add("from", "Enter the first start time, such as 09:00.");
    }
    let to = parse_time(&form.to);
    if to.is_none() {
        errors.add("to", "Enter the end of the day's last slot, such as 12:00.");
    }
    let length = match form.length.trim().parse::<i64>() {
        Ok(n) if (5..=MAX_SLOT_MINUTES).contains(&n) => Some(n),
        _ => {
            errors.add(
                "length",
                format!("Enter a length in minutes from 5 to {MAX_SLOT_MINUTES}."),
            );
            None
        }
    };
    let gap = match form.gap.trim() {
        "" => Some(0),
        text => match text.parse::<i64>() {
            Ok(n) if (0..=MAX_SLOT_MINUTES).contains(&n) => Some(n),
            _ => {
                errors.add(
                    "gap",
                    format!("Enter a gap in minutes from 0 to {MAX_SLOT_MINUTES}."),
                );
                None
            }
        },
    };
    let (Some(date), Some(from), Some(to), Some(length), Some(gap)) = (date, from, to, length, gap)
    else {
        return Err(errors);
    };
    if to <= from {
        errors.add("to", "The end must be later than the start.");
        return Err(errors);
    }
    let mut ranges = Vec::new();
    let mut start = from;
    loop {
        let end = start + Duration::minutes(length);
        // `NaiveTime` wraps at midnight: a slot that would end past it does not fit.
        if end > to || end <= start {
            break;
        }
        let starts_at = time::local_instant(date, start, tz);
        let ends_at = time::local_instant(date, end, tz);
        match (starts_at, ends_at) {
            (Ok(s), Ok(e)) => match TimeRange::new(s, e) {
                Ok(range) => ranges.push(range),
                Err(_) => {
                    errors.add(
                        "from",
                        "The clocks change during these hours; pick other times.",
                    );
                    return Err(errors);
                }
            },
            (Err(message), _) | (_, Err(message)) => {
                errors.add("from", page::sentence(&message));
                return Err(errors);
            }
        }
        let next = end + Duration::minutes(gap);
        if next <= start {
            break;
        }
        start = next;
    }
    if ranges.is_empty() {
        errors.add(
            "length",
            "No slot of this length fits between the start and the end.",
        );
        return Err(errors);
    }
    if let Some(first) = ranges.first() {
        if first.starts_at() <= now {
            errors.add(
                "date",
                format!(
                    "Slots can only be created in the future; the first would start at {}.",
                    time::when(first.starts_at(), tz)
                ),
            );
            return Err(errors);
        }
    }
    Ok(ranges)
}

/// `POST /admin/doctors/{id}`: previews a day of slots (`action=preview`) or saves it, all or
/// nothing (`action=save`), naming the slot that overlaps when refused.
#[handler]
pub(crate) async fn publish_day(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let form: DayForm = parse_form(&body)?;
            let engine = caller.engine(state);
            let doctor = engine.doctor(parse_doctor_id(&id)?).await?;
            let tz = doctor.timezone;
            let mut view = DoctorView {
                form: form.clone(),
                errors: Errors::default(),
                preview: Vec::new(),
                cursor: String::new(),
                profile: ProfileForm::of(&doctor),
                profile_errors: Errors::default(),
            };
            let ranges = match plan_day(&form, tz, engine.now()) {
                Ok(ranges) => ranges,
                Err(errors) => {
                    view.errors = errors;
                    return doctor_page(state, &caller,
                        doctor,
                        view,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        None,
                    )
                    .await;
                }
            };
            if form.action != "save" {
                view.preview = ranges
                    .iter()
                    .map(|r| SlotLine {
                        id: None,
                        when: time::span(r, tz),
                        status: "NEW",
                        note: String::new(),
                        deletable: false,
                    })
                    .collect();
                return doctor_page(state, &caller, doctor, view, StatusCode::OK, None).await;
            }
            match engine.publish_slots(doctor.id, &ranges).await {
                Ok(slots) => {
                    tracing::info!(doctor = %doctor.id, count = slots.len(), "slots published on the web");
                    Ok(redirect(&format!(
                        "/admin/doctors/{}?done=created&n={}",
                        doctor.id,
                        slots.len()
                    )))
                }
                Err(medislot_core::Error::SlotOverlap {
                    starts_at, ends_at, ..
                }) => {
                    let range = TimeRange::new(starts_at, ends_at).map_err(Problem::from)?;
                    view.errors.form = Some(format!(
                        "Nothing was saved: the slot {} overlaps a slot {} already has (or \
                         another slot of this day). Change the times and preview again.",
                        time::span(&range, tz),
                        doctor.name
                    ));
                    doctor_page(state, &caller, doctor, view, StatusCode::CONFLICT, None).await
                }
                Err(err) => {
                    let problem = Problem::from(err);
                    if !problem.status().is_client_error() {
                        return Err(problem.into());
                    }
                    let status = problem.status();
                    match problem.field() {
                        Some("starts_at") => view.errors.add(
                            "date",
                            "Slots can only be created in the future; pick a later date or start.",
                        ),
                        _ => view.errors.form = Some(page::sentence(problem.detail())),
                    }
                    doctor_page(state, &caller, doctor, view, status, None).await
                }
            }
        }
        .await,
    )
}

/// `POST /admin/slots/{id}/delete`: withdraws a slot nobody occupies.
#[handler]
pub(crate) async fn withdraw_slot(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let id =
                SlotId::from_uuid(Uuid::parse_str(id.trim()).map_err(|_| PageError::NotFound)?);
            let engine = caller.engine(state);
            let slot = engine.slot(id).await?;
            let doctor = engine.doctor(slot.slot.doctor_id).await?;
            match engine.withdraw_slot(id).await {
                Ok(()) => {
                    tracing::info!(slot = %id, "slot withdrawn on the web");
                    Ok(redirect(&format!(
                        "/admin/doctors/{}?done=withdrawn",
                        doctor.id
                    )))
                }
                Err(medislot_core::Error::SlotHasActiveBooking(_)) => Ok(redirect(&format!(
                    "/admin/doctors/{}?done=not_withdrawn&slot={id}",
                    doctor.id
                ))),
                Err(err) => Err(err.into()),
            }
        }
        .await,
    )
}

/// `GET /admin/slots/{id}/delete`: the form's address, opened again: the doctor's page.
#[handler]
pub(crate) async fn withdraw_slot_address(
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    let slot = match Uuid::parse_str(id.trim()) {
        Ok(id) => state.engine().slot(SlotId::from_uuid(id)).await.ok(),
        Err(_) => None,
    };
    match slot {
        Some(slot) => redirect(&format!("/admin/doctors/{}", slot.slot.doctor_id)),
        None => redirect("/admin/doctors"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(date: &str, from: &str, to: &str, length: &str, gap: &str) -> DayForm {
        DayForm {
            date: date.into(),
            from: from.into(),
            to: to.into(),
            length: length.into(),
            gap: gap.into(),
            action: String::new(),
        }
    }

    fn past() -> DateTime<Utc> {
        "2020-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_day_is_cut_into_slots_with_gaps_in_the_doctors_zone() {
        let f = form("2030-01-15", "09:00", "11:00", "30", "10");
        let ranges = plan_day(&f, chrono_tz::Europe::Paris, past()).unwrap();
        let starts: Vec<String> = ranges
            .iter()
            .map(|r| time::clock_zoned(r.starts_at(), chrono_tz::Europe::Paris))
            .collect();
        assert_eq!(starts, ["09:00 CET", "09:40 CET", "10:20 CET"]);
        assert_eq!(
            ranges[0].starts_at().to_rfc3339(),
            "2030-01-15T08:00:00+00:00"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let errors = plan_day(&form("31/01", "9", "", "0", "x"), Tz::UTC, past()).unwrap_err();
        for field in ["date", "from", "to", "length", "gap"] {
            assert!(errors.get(field).is_some(), "{field} should have an error");
        }
        let errors = plan_day(
            &form("2030-01-15", "10:00", "09:00", "30", ""),
            Tz::UTC,
            past(),
        )
        .unwrap_err();
        assert!(errors.get("to").is_some());
    }

    #[test]
    fn a_day_in_the_past_is_refused_on_the_date() {
        let now: DateTime<Utc> = "2030-01-16T00:00:00Z".parse().unwrap();
        let errors = plan_day(
            &form("2030-01-15", "09:00", "10:00", "30", "0"),
            Tz::UTC,
            now,
        )
        .unwrap_err();
        assert!(errors.get("date").is_some());
    }
}
