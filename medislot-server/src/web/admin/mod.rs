//! The clinic's pages (admins only; a patient gets the 403 page): the dashboard, doctors, a
//! day of slots in one form with a preview before saving, a doctor's working hours and time
//! off with a preview before saving, a doctor's waitlist, every booking with filters, the
//! outbox (what each message sends, retrying a dead one) and the audit trail.

use std::collections::HashMap;

use askama::Template;
use chrono_tz::Tz;
use medislot_core::{
    AccountId, BookingOrder, BookingQuery, BookingView, Doctor, DoctorFilter, DoctorId, PatientId,
};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::problem::Problem;
use crate::state::AppState;
use crate::web::bookings::BookingRow;
use crate::web::page::{self, respond, Layout, PageError};

mod audit;
mod bookings;
mod calendar;
mod doctors;
mod hours;
mod hours_form;
mod outbox;
mod profile;
mod slots;
mod waitlist;

pub(crate) use audit::audit_page;
pub(crate) use bookings::all_bookings;
pub(crate) use calendar::doctor_calendar;
pub(crate) use doctors::{create_doctor, delete_doctor, delete_doctor_address, doctors_list};
pub(crate) use hours::{change_hours, hours_page};
pub(crate) use outbox::{outbox_page, retry_address, retry_message};
pub(crate) use profile::{update_profile, update_profile_address};
pub(crate) use slots::{doctor_slots, publish_day, withdraw_slot, withdraw_slot_address};
pub(crate) use waitlist::doctor_waitlist;

/// Rows per page in the admin lists.
pub(super) const PAGE_SIZE: u32 = 20;

/// Bookings on the dashboard.
const DASHBOARD_BOOKINGS: u32 = 8;

/// The patients (name, email) of a page of bookings: one account read per distinct patient on
/// the page (at most a page's worth), never one per row.
async fn patient_names(
    state: &AppState,
    views: &[BookingView],
) -> Result<HashMap<PatientId, (String, String)>, PageError> {
    let mut names = HashMap::new();
    for view in views {
        let patient = view.booking.patient_id;
        if names.contains_key(&patient) {
            continue;
        }
        let account = state
            .accounts()
            .account(AccountId::from_uuid(patient.as_uuid()))
            .await
            .map_err(Problem::from)?;
        let name = account.map_or_else(
            || ("(deleted account)".to_owned(), String::new()),
            |a| (a.name, a.email.to_string()),
        );
        names.insert(patient, name);
    }
    Ok(names)
}

pub(super) async fn rows(
    state: &AppState,
    views: &[BookingView],
    tz: Tz,
) -> Result<Vec<BookingRow>, PageError> {
    let now = state.engine().now();
    let names = patient_names(state, views).await?;
    Ok(views
        .iter()
        .map(|v| {
            let mut row = BookingRow::new(v, now, tz, true);
            if let Some((name, email)) = names.get(&v.booking.patient_id) {
                row.patient.clone_from(name);
                row.patient_email.clone_from(email);
            }
            row
        })
        .collect())
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    layout: Layout,
    doctors: Vec<Doctor>,
    upcoming: Vec<BookingRow>,
    buffer_minutes: i64,
    hold_minutes: i64,
}

/// `GET /admin`: doctors at a glance and the next bookings.
#[handler]
pub(crate) async fn dashboard(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let engine = state.engine();
            let tz = page::viewer_tz(req, "");
            let doctors = engine.doctors(&DoctorFilter::default()).await?;
            let page = engine
                .bookings(&BookingQuery {
                    from: Some(engine.now()),
                    limit: DASHBOARD_BOOKINGS,
                    order: BookingOrder::SoonestAppointment,
                    ..BookingQuery::default()
                })
                .await?;
            let upcoming = rows(state, &page.items, tz).await?;
            page::page(
                StatusCode::OK,
                &DashboardPage {
                    layout: Layout::new("Clinic dashboard", "admin", Some(&caller), tz),
                    doctors,
                    upcoming,
                    buffer_minutes: engine.policy().buffer.num_minutes(),
                    hold_minutes: engine.policy().hold.num_minutes(),
                },
            )
        }
        .await,
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct DoneQuery {
    pub(super) done: String,
    pub(super) n: String,
    pub(super) cursor: String,
    /// The doctor or slot a refusal is about.
    pub(super) doctor: String,
    pub(super) slot: String,
}

pub(super) fn parse_doctor_id(id: &str) -> Result<DoctorId, PageError> {
    Uuid::parse_str(id.trim())
        .map(DoctorId::from_uuid)
        .map_err(|_| PageError::NotFound)
}
