//! A doctor's week calendar: every slot of a week (Monday to Sunday on the doctor's clock) in
//! its day's column, with its state now (free, held, booked, resting in a buffer after an
//! admin's cancel, or started), and the previous and next week. Withdrawn slots are no longer
//! listed by the engine, so they do not appear.

use askama::Template;
use chrono::{Datelike, Duration, NaiveDate};
use medislot_core::{Doctor, SlotQuery, SlotStatus, MAX_PAGE_SIZE};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::parse_doctor_id;
use crate::state::AppState;
use crate::web::page::{self, parse_query, respond, Errors, Layout};
use crate::web::time;

/// Pages of slots one week reads at most (each [`MAX_PAGE_SIZE`] long).
const MAX_PAGES: usize = 4;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CalendarQuery {
    /// Any day of the week to show (`YYYY-MM-DD`, on the doctor's clock); empty: this week.
    week: String,
}

/// One slot in its column.
#[derive(Debug)]
struct CalSlot {
    /// "09:00–09:30".
    clock: String,
    /// `available`, `held`, `booked`, `buffer`, `started`: the CSS class.
    class: &'static str,
    /// "Free", "Held until 10:02 CET", ...
    state: String,
}

#[derive(Debug)]
struct CalDay {
    date: String,
    heading: String,
    is_today: bool,
    slots: Vec<CalSlot>,
}

#[derive(Template)]
#[template(path = "admin/calendar.html")]
struct CalendarPage {
    layout: Layout,
    doctor: Doctor,
    title: String,
    days: Vec<CalDay>,
    previous: String,
    next: String,
    this_week: String,
    errors: Errors,
    truncated: bool,
}

/// `GET /admin/doctors/{id}/calendar`: a week of the doctor's slots with their states.
#[handler]
pub(crate) async fn doctor_calendar(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let query: CalendarQuery = parse_query(req)?;
            let engine = state.engine();
            let doctor = engine.doctor(parse_doctor_id(&id)?).await?;
            let tz = doctor.timezone;
            let now = engine.now();
            let today = now.with_timezone(&tz).date_naive();
            let mut errors = Errors::default();
            let shown = if query.week.trim().is_empty() {
                today
            } else {
                NaiveDate::parse_from_str(query.week.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
                    errors.add("week", "Enter a date such as 2030-01-31.");
                    today
                })
            };
            let first = shown - Duration::days(i64::from(shown.weekday().num_days_from_monday()));
            let last = first + Duration::days(6);
            let (from, _) = time::day_window(first, tz);
            let (_, to) = time::day_window(last, tz);
            let mut listing = SlotQuery {
                doctor_id: Some(doctor.id),
                from: Some(from),
                to: Some(to),
                limit: MAX_PAGE_SIZE,
                ..SlotQuery::default()
            };
            let mut views = Vec::new();
            let mut truncated = false;
            for round in 0..MAX_PAGES {
                let page = engine.slots(&listing).await?;
                views.extend(page.items);
                match page.next {
                    Some(cursor) => {
                        listing.after = Some(cursor);
                        truncated = round + 1 == MAX_PAGES;
                    }
                    None => break,
                }
            }
            let mut days: Vec<CalDay> = first
                .iter_days()
                .take(7)
                .map(|date| CalDay {
                    date: date.format("%Y-%m-%d").to_string(),
                    heading: date.format("%a %-d %b").to_string(),
                    is_today: date == today,
                    slots: Vec::new(),
                })
                .collect();
            for view in &views {
                let range = view.slot.range;
                let start = range.starts_at().with_timezone(&tz);
                let Ok(index) = usize::try_from((start.date_naive() - first).num_days()) else {
                    continue;
                };
                let (class, state) = match view.status {
                    SlotStatus::Available => ("available", "Free".to_owned()),
                    SlotStatus::Held { until } => (
                        "held",
                        format!("Held until {}", time::clock_zoned(until, tz)),
                    ),
                    SlotStatus::Booked => ("booked", "Booked".to_owned()),
                    SlotStatus::Buffer { until } => (
                        "buffer",
                        format!("Buffer until {}", time::clock_zoned(until, tz)),
                    ),
                    SlotStatus::Started => ("started", "Started".to_owned()),
                };
                if let Some(day) = days.get_mut(index) {
                    day.slots.push(CalSlot {
                        clock: format!(
                            "{}–{}",
                            start.format("%H:%M"),
                            range.ends_at().with_timezone(&tz).format("%H:%M")
                        ),
                        class,
                        state,
                    });
                }
            }
            let week = |day: NaiveDate| {
                format!(
                    "/admin/doctors/{}/calendar?week={}",
                    doctor.id,
                    day.format("%Y-%m-%d")
                )
            };
            let status = if errors.any() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            page::page(
                status,
                &CalendarPage {
                    layout: Layout::new(
                        format!("{}: week calendar", doctor.name),
                        "doctors",
                        Some(&caller),
                        tz,
                    )
                    .with_fixed_zone(format!("{}'s zone", doctor.name)),
                    title: format!("{} – {}", first.format("%-d %b"), last.format("%-d %b %Y")),
                    previous: week(first - Duration::days(7)),
                    next: week(first + Duration::days(7)),
                    this_week: format!("/admin/doctors/{}/calendar", doctor.id),
                    doctor,
                    days,
                    errors,
                    truncated,
                },
            )
        }
        .await,
    )
}
