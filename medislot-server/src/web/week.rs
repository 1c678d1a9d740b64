//! The patient's week view: seven days as columns (a list of days on a phone), each day's free
//! times as buttons that book through the finder's own book form, the previous and next week,
//! and "jump to the next available day" (the engine's next available). Filters (doctor,
//! specialization, zone) are kept in every link and form. The week and its days are in the
//! page's one zone, as the finder's date filter is.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use medislot_core::{
    Doctor, DoctorFilter, DoctorId, FreeSlotFilter, SlotId, SlotQuery, MAX_PAGE_SIZE,
};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::page::PageError;
use super::page::{self, parse_query, query_string, redirect, respond, Errors, Flash, Layout};
use super::time;
use crate::auth::Caller;
use crate::state::AppState;

/// Pages of free slots one week reads at most (each [`MAX_PAGE_SIZE`] long).
const MAX_PAGES: usize = 2;

/// The week view's filters, as its query string carries them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct WeekFilters {
    specialization: String,
    doctor: String,
    tz: String,
    /// Any day of the week to show (`YYYY-MM-DD`, in the page's zone); empty: this week.
    week: String,
    /// The day to bring into view and mark (after a jump).
    day: String,
    /// What a jump found (`none`: no free time ahead).
    done: String,
}

impl WeekFilters {
    /// The query string of the week view for these filters and `week`.
    fn query(&self, week: &str, day: &str) -> String {
        query_string(&[
            ("specialization", &self.specialization),
            ("doctor", &self.doctor),
            ("tz", &self.tz),
            ("week", week),
            ("day", day),
        ])
    }
}

/// One free time as a button.
#[derive(Debug)]
struct TimeButton {
    id: SlotId,
    /// "09:00" in the page's zone.
    clock: String,
    /// "Tue 1 Dec 2026, 09:00–09:30" in the page's zone, for the button's spoken label.
    when: String,
    doctor: String,
    /// A fresh idempotency key for this button's form.
    key: String,
}

/// One day column.
#[derive(Debug)]
struct DayColumn {
    /// `2026-12-01`, the column's anchor.
    date: String,
    /// "Tue 1 Dec".
    heading: String,
    is_today: bool,
    is_focus: bool,
    is_past: bool,
    times: Vec<TimeButton>,
}

#[derive(Template)]
#[template(path = "week.html")]
struct WeekPage {
    layout: Layout,
    filters: WeekFilters,
    specializations: Vec<String>,
    doctors: Vec<Doctor>,
    errors: Errors,
    /// "30 Nov – 6 Dec 2026".
    title: String,
    days: Vec<DayColumn>,
    previous: String,
    next: String,
    this_week: String,
    jump: String,
    /// The week holds more free times than one read shows.
    truncated: bool,
    signed_in: bool,
    sign_in: String,
    own_zone: String,
    doctor_zone: Option<(String, String)>,
    zones: Vec<&'static str>,
}

/// The Monday of the week that holds `day`.
fn monday(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The zone of the page, as the finder picks it: the doctor's when `tz` is `doctor`.
fn page_zone(req: &Request, filters: &WeekFilters, doctor: Option<&Doctor>) -> Tz {
    match (filters.tz.trim(), doctor) {
        ("doctor", Some(doctor)) => time::current(doctor.timezone),
        ("doctor", None) => page::viewer_tz(req, ""),
        (named, _) => page::viewer_tz(req, named),
    }
}

/// The filters' doctor and specialization, checked against the doctors.
fn free_filter<'a>(
    filters: &WeekFilters,
    by_id: &HashMap<DoctorId, &'a Doctor>,
    errors: &mut Errors,
) -> (FreeSlotFilter, Option<&'a Doctor>) {
    let mut filter = FreeSlotFilter::default();
    let mut chosen = None;
    if !filters.specialization.trim().is_empty() {
        filter.specialization = Some(filters.specialization.trim().to_owned());
    }
    if !filters.doctor.trim().is_empty() {
        match Uuid::parse_str(filters.doctor.trim()).map(DoctorId::from_uuid) {
            Ok(id) if by_id.contains_key(&id) => {
                filter.doctor_id = Some(id);
                chosen = by_id.get(&id).copied();
            }
            _ => errors.add("doctor", "Choose a doctor from the list."),
        }
    }
    (filter, chosen)
}

/// `GET /week`: a week of free times.
#[handler]
pub(crate) async fn week_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let filters: WeekFilters = parse_query(req)?;
            let caller = page::viewer(state, req).await?;
            render(state, req, caller.as_ref(), &filters).await
        }
        .await,
    )
}

/// `GET /week/next`: the next available day for the filters, from now: a redirect to its week
/// with that day marked and in view (or back to the week with a word that there is none).
#[handler]
pub(crate) async fn jump(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let filters: WeekFilters = parse_query(req)?;
            let engine = state.engine();
            let doctors = engine.doctors(&DoctorFilter::default()).await?;
            let by_id: HashMap<DoctorId, &Doctor> = doctors.iter().map(|d| (d.id, d)).collect();
            let mut errors = Errors::default();
            let (filter, chosen) = free_filter(&filters, &by_id, &mut errors);
            if errors.any() {
                return Ok(redirect(&format!(
                    "/week?{}",
                    filters.query(&filters.week, "")
                )));
            }
            let tz = page_zone(req, &filters, chosen);
            let next = engine.next_available(&filter, engine.now()).await?;
            Ok(match next.slot {
                Some(view) => {
                    let day = view
                        .slot
                        .range
                        .starts_at()
                        .with_timezone(&tz)
                        .date_naive()
                        .format("%Y-%m-%d")
                        .to_string();
                    redirect(&format!("/week?{}#day-{day}", filters.query(&day, &day)))
                }
                None => {
                    let mut to = format!("/week?{}", filters.query(&filters.week, ""));
                    to.push_str(if to.ends_with('?') {
                        "done=none"
                    } else {
                        "&done=none"
                    });
                    redirect(&to)
                }
            })
        }
        .await,
    )
}

async fn render(
    state: &AppState,
    req: &Request,
    caller: Option<&Caller>,
    filters: &WeekFilters,
) -> Result<Response, PageError> {
    let engine = state.engine();
    let mut errors = Errors::default();
    let doctors = engine.doctors(&DoctorFilter::default()).await?;
    let by_id: HashMap<DoctorId, &Doctor> = doctors.iter().map(|d| (d.id, d)).collect();
    let specializations = super::find::specializations(&doctors);
    let (filter, chosen) = free_filter(filters, &by_id, &mut errors);
    let tz = page_zone(req, filters, chosen);
    let now = engine.now();
    let today = now.with_timezone(&tz).date_naive();
    let shown = if filters.week.trim().is_empty() {
        today
    } else {
        match NaiveDate::parse_from_str(filters.week.trim(), "%Y-%m-%d") {
            Ok(day) => day,
            Err(_) => {
                errors.add("week", "Enter a date such as 2030-01-31.");
                today
            }
        }
    };
    let focus = NaiveDate::parse_from_str(filters.day.trim(), "%Y-%m-%d").ok();
    let first = monday(shown);
    let last = first + Duration::days(6);
    let (from, _) = time::day_window(first, tz);
    let (_, to) = time::day_window(last, tz);

    // Every free time of the week, in start order: at most a few pages of the listing.
    let mut items = Vec::new();
    let mut truncated = false;
    if !errors.any() && to > now {
        let mut query = SlotQuery {
            doctor_id: filter.doctor_id,
            specialization: filter.specialization.clone(),
            from: Some(from.max(now)),
            to: Some(to),
            available: Some(true),
            after: None,
            limit: MAX_PAGE_SIZE,
        };
        for _ in 0..MAX_PAGES {
            let page = engine.slots(&query).await?;
            items.extend(page.items);
            match page.next {
                Some(cursor) => query.after = Some(cursor),
                None => break,
            }
        }
        truncated = query.after.is_some() && items.len() >= MAX_PAGES * MAX_PAGE_SIZE as usize;
    }
    let mut days: Vec<DayColumn> = first
        .iter_days()
        .take(7)
        .map(|date| DayColumn {
            date: date.format("%Y-%m-%d").to_string(),
            heading: date.format("%a %-d %b").to_string(),
            is_today: date == today,
            is_focus: Some(date) == focus,
            is_past: date < today,
            times: Vec::new(),
        })
        .collect();
    for view in &items {
        let start: DateTime<Utc> = view.slot.range.starts_at();
        let local = start.with_timezone(&tz);
        let index = (local.date_naive() - first).num_days();
        let (Ok(index), Some(doctor)) = (usize::try_from(index), by_id.get(&view.slot.doctor_id))
        else {
            continue;
        };
        if let Some(day) = days.get_mut(index) {
            day.times.push(TimeButton {
                id: view.slot.id,
                clock: local.format("%H:%M").to_string(),
                when: time::span(&view.slot.range, tz),
                doctor: doctor.name.clone(),
                key: Uuid::now_v7().to_string(),
            });
        }
    }
    let week_of = |day: NaiveDate| day.format("%Y-%m-%d").to_string();
    let title = if first.year() == last.year() {
        format!("{} – {}", first.format("%-d %b"), last.format("%-d %b %Y"))
    } else {
        format!(
            "{} – {}",
            first.format("%-d %b %Y"),
            last.format("%-d %b %Y")
        )
    };
    let flash = (filters.done == "none").then(|| {
        Flash::error(
            "No free time ahead matches these filters. Try another doctor or specialization.",
        )
    });
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let here = format!("/week?{}", filters.query(&filters.week, ""));
    let own_zone = page::viewer_tz(req, "");
    page::page(
        status,
        &WeekPage {
            layout: Layout::new(format!("Week of {title}"), "week", caller, tz).with_flash(flash),
            previous: format!(
                "/week?{}",
                filters.query(&week_of(first - Duration::days(7)), "")
            ),
            next: format!(
                "/week?{}",
                filters.query(&week_of(first + Duration::days(7)), "")
            ),
            this_week: format!("/week?{}", filters.query("", "")),
            jump: format!("/week/next?{}", filters.query(&filters.week, "")),
            sign_in: page::sign_in_url(&here),
            title,
            days,
            truncated,
            signed_in: caller.is_some(),
            own_zone: time::current(own_zone).name().to_owned(),
            doctor_zone: chosen
                .map(|d| (d.name.clone(), time::current(d.timezone).name().to_owned())),
            zones: doctors
                .iter()
                .map(|d| time::zone_name(&d.timezone))
                .chain([time::zone_name(&tz)])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            filters: filters.clone(),
            specializations,
            doctors,
            errors,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_starts_on_the_monday_of_any_of_its_days() {
        let monday_30_nov = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        for offset in 0..7 {
            assert_eq!(
                monday(monday_30_nov + Duration::days(offset)),
                monday_30_nov
            );
        }
        assert_eq!(
            monday(monday_30_nov - Duration::days(1)),
            monday_30_nov - Duration::days(7)
        );
    }
}
