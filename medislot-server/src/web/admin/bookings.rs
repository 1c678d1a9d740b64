//! Every booking, by appointment time or as booked, with filters (doctor, status, date, part of
//! a patient's name or email) and paging.

use askama::Template;
use chrono::NaiveDate;
use medislot_core::{
    AccountId, BookingCursor, BookingOrder, BookingQuery, BookingStatus, Cursor, Doctor,
    DoctorFilter, DoctorId, PatientId,
};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{rows, PAGE_SIZE};
use crate::problem::Problem;
use crate::state::AppState;
use crate::web::bookings::BookingRow;
use crate::web::page::{self, parse_query, query_string, respond, Errors, Flash, Layout};
use crate::web::time;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct BookingFilters {
    doctor: String,
    status: String,
    date: String,
    patient: String,
    /// `soonest` (the default), `latest` (both by appointment time) or `newest` (when booked).
    order: String,
    cursor: String,
}

impl BookingFilters {
    fn query(&self, cursor: &str) -> String {
        query_string(&[
            ("doctor", &self.doctor),
            ("status", &self.status),
            ("date", &self.date),
            ("patient", &self.patient),
            ("order", &self.order),
            ("cursor", cursor),
        ])
    }

    fn order(&self) -> BookingOrder {
        match self.order.as_str() {
            "latest" => BookingOrder::LatestAppointment,
            "newest" => BookingOrder::Newest,
            _ => BookingOrder::SoonestAppointment,
        }
    }
}

/// How many patients a search lists to pick from.
const PATIENT_MATCHES: u32 = 10;

/// A patient a search found, to pick.
#[derive(Debug)]
struct PatientMatch {
    id: String,
    label: String,
    /// This list, filtered by this patient.
    href: String,
}

#[derive(Template)]
#[template(path = "admin/bookings.html")]
struct BookingsPage {
    layout: Layout,
    filters: BookingFilters,
    doctors: Vec<Doctor>,
    statuses: Vec<&'static str>,
    /// The order chosen (`soonest`, `latest` or `newest`).
    order: &'static str,
    /// The zone of the date filter and of every time on the page.
    zone: String,
    errors: Errors,
    rows: Vec<BookingRow>,
    /// The patient the list is filtered by, in words.
    patient_label: Option<String>,
    /// Several patients match the search: pick one.
    matches: Vec<PatientMatch>,
    /// More patients match than are listed.
    more_matches: bool,
    next_page: Option<String>,
    first_page: Option<String>,
}

/// `GET /admin/bookings`: every booking, by appointment time (soonest or latest first) or as
/// booked (newest first), filtered by doctor, status, date and patient (part of a name or an
/// email), a page at a time.
#[handler]
pub(crate) async fn all_bookings(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let filters: BookingFilters = parse_query(req)?;
            let engine = state.engine();
            let tz = page::viewer_tz(req, "");
            let doctors = engine.doctors(&DoctorFilter::default()).await?;
            let mut errors = Errors::default();
            let order = filters.order();
            let mut query = BookingQuery {
                after: BookingCursor::decode(&filters.cursor),
                limit: PAGE_SIZE,
                order,
                ..BookingQuery::default()
            };
            if !filters.doctor.is_empty() {
                match Uuid::parse_str(filters.doctor.trim()).map(DoctorId::from_uuid) {
                    Ok(id) => query.doctor_id = Some(id),
                    Err(_) => errors.add("doctor", "Choose a doctor from the list."),
                }
            }
            if !filters.status.is_empty() {
                match filters.status.parse::<BookingStatus>() {
                    Ok(status) => query.status = Some(status),
                    Err(_) => errors.add("status", "Choose a status from the list."),
                }
            }
            if !filters.date.trim().is_empty() {
                match NaiveDate::parse_from_str(filters.date.trim(), "%Y-%m-%d") {
                    Ok(date) => {
                        let (from, to) = time::day_window(date, tz);
                        query.from = Some(from);
                        query.to = Some(to);
                    }
                    Err(_) => errors.add("date", "Enter a date such as 2030-01-31."),
                }
            }
            let mut flash = None;
            let mut matches = Vec::new();
            let mut more_matches = false;
            let mut patient_label = None;
            let patient = filters.patient.trim();
            if !patient.is_empty() {
                if let Ok(uuid) = Uuid::parse_str(patient) {
                    query.patient_id = Some(PatientId::from_uuid(uuid));
                    let account = state
                        .accounts()
                        .account(AccountId::from_uuid(uuid))
                        .await
                        .map_err(Problem::from)?;
                    patient_label = account.map(|a| format!("{} <{}>", a.name, a.email));
                } else {
                    let mut found = state
                        .accounts()
                        .search_accounts(patient, PATIENT_MATCHES + 1)
                        .await
                        .map_err(Problem::from)?;
                    more_matches = found.len() > PATIENT_MATCHES as usize;
                    found.truncate(PATIENT_MATCHES as usize);
                    match found.as_slice() {
                        [] => {
                            flash = Some(Flash::error(format!(
                                "No patient's name or email contains “{patient}”."
                            )));
                        }
                        [one] => {
                            query.patient_id = Some(one.patient_id());
                            patient_label = Some(format!("{} <{}>", one.name, one.email));
                        }
                        several => {
                            matches = several
                                .iter()
                                .map(|a| {
                                    let picked = BookingFilters {
                                        patient: a.id.to_string(),
                                        ..filters.clone()
                                    };
                                    PatientMatch {
                                        id: a.id.to_string(),
                                        label: format!("{} <{}>", a.name, a.email),
                                        href: format!("/admin/bookings?{}", picked.query("")),
                                    }
                                })
                                .collect();
                        }
                    }
                }
            }
            let listed = !errors.any() && flash.is_none() && matches.is_empty();
            let (rows, next) = if listed {
                let page = engine.bookings(&query).await?;
                (rows(state, &page.items, tz).await?, page.next)
            } else {
                (Vec::new(), None)
            };
            let status = if errors.any() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            page::page(
                status,
                &BookingsPage {
                    layout: Layout::new("All bookings", "all-bookings", Some(&caller), tz)
                        .with_flash(flash),
                    next_page: next
                        .map(|c| format!("/admin/bookings?{}", filters.query(&c.encode()))),
                    first_page: (!filters.cursor.is_empty())
                        .then(|| format!("/admin/bookings?{}", filters.query(""))),
                    order: match order {
                        BookingOrder::SoonestAppointment => "soonest",
                        BookingOrder::LatestAppointment => "latest",
                        BookingOrder::Newest => "newest",
                    },
                    zone: time::current(tz).name().to_owned(),
                    filters,
                    doctors,
                    statuses: BookingStatus::ALL.iter().map(|s| s.as_str()).collect(),
                    errors,
                    rows,
                    patient_label,
                    matches,
                    more_matches,
                },
            )
        }
        .await,
    )
}
