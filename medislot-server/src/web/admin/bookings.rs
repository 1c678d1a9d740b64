//! Every booking, with filters (doctor, status, date, patient) and paging.

use askama::Template;
use chrono::NaiveDate;
use medislot_core::{
    BookingCursor, BookingQuery, BookingStatus, Cursor, Doctor, DoctorFilter, DoctorId, Email,
    PatientId,
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
    cursor: String,
}

impl BookingFilters {
    fn query(&self, cursor: &str) -> String {
        query_string(&[
            ("doctor", &self.doctor),
            ("status", &self.status),
            ("date", &self.date),
            ("patient", &self.patient),
            ("cursor", cursor),
        ])
    }
}

#[derive(Template)]
#[template(path = "admin/bookings.html")]
struct BookingsPage {
    layout: Layout,
    filters: BookingFilters,
    doctors: Vec<Doctor>,
    statuses: Vec<&'static str>,
    errors: Errors,
    rows: Vec<BookingRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

/// `GET /admin/bookings`: every booking, newest first, filtered by doctor, status, date and
/// patient, a page at a time.
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
            let mut query = BookingQuery {
                after: BookingCursor::decode(&filters.cursor),
                limit: PAGE_SIZE,
                ..BookingQuery::default()
            };
            let mut date_tz = tz;
            if !filters.doctor.is_empty() {
                match Uuid::parse_str(filters.doctor.trim()).map(DoctorId::from_uuid) {
                    Ok(id) => {
                        query.doctor_id = Some(id);
                        if let Some(d) = doctors.iter().find(|d| d.id == id) {
                            date_tz = d.timezone;
                        }
                    }
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
                        let (from, to) = time::day_window(date, date_tz);
                        query.from = Some(from);
                        query.to = Some(to);
                    }
                    Err(_) => errors.add("date", "Enter a date such as 2030-01-31."),
                }
            }
            let mut nobody = false;
            let patient = filters.patient.trim();
            if !patient.is_empty() {
                if let Ok(uuid) = Uuid::parse_str(patient) {
                    query.patient_id = Some(PatientId::from_uuid(uuid));
                } else {
                    match Email::parse(patient) {
                        Ok(email) => match state
                            .accounts()
                            .account_by_email(&email)
                            .await
                            .map_err(Problem::from)?
                        {
                            Some(account) => query.patient_id = Some(account.patient_id()),
                            None => nobody = true,
                        },
                        Err(_) => errors.add(
                            "patient",
                            "Enter the patient's email (or account id), such as ada@example.com.",
                        ),
                    }
                }
            }
            let (rows, next) = if errors.any() || nobody {
                (Vec::new(), None)
            } else {
                let page = engine.bookings(&query).await?;
                (rows(state, &page.items, tz).await?, page.next)
            };
            let status = if errors.any() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let flash = nobody.then(|| Flash::error("No patient has that email."));
            page::page(
                status,
                &BookingsPage {
                    layout: Layout::new("All bookings", "all-bookings", Some(&caller), tz)
                        .with_flash(flash),
                    next_page: next
                        .map(|c| format!("/admin/bookings?{}", filters.query(&c.encode()))),
                    first_page: (!filters.cursor.is_empty())
                        .then(|| format!("/admin/bookings?{}", filters.query(""))),
                    filters,
                    doctors,
                    statuses: BookingStatus::ALL.iter().map(|s| s.as_str()).collect(),
                    errors,
                    rows,
                },
            )
        }
        .await,
    )
}
