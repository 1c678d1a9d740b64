//! Finding a slot and booking it (or holding it to confirm shortly).
//!
//! The list shows only bookable slots, a page at a time (the engine's keyset cursor). The
//! outcome of "Book" is the engine's real answer: a redirect to the confirmation page, or the
//! refreshed list with a "just taken" message. Each rendered form carries a fresh idempotency
//! key, so a retried submission of the same form returns the first booking instead of booking
//! twice.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use chrono::NaiveDate;
use medislot_core::{
    Booking, BookingEngine, Cursor, Doctor, DoctorFilter, DoctorId, IdempotencyKey, SlotCursor,
    SlotId, SlotQuery,
};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{
    self, parse_form, parse_query, query_string, redirect, respond, Errors, Flash, Layout,
    PageError,
};
use super::time::{self, Shown};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Slots per page.
const PAGE_SIZE: u32 = 10;

/// The finder's filters, as the query string (and every book form) carries them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct Filters {
    specialization: String,
    doctor: String,
    date: String,
    tz: String,
    cursor: String,
    done: String,
    /// The booking being rescheduled, when the finder was opened from its "Reschedule" action:
    /// each slot then leads to the confirm step of the move instead of booking.
    reschedule: String,
}

impl Filters {
    /// The query string that shows this list again, from `cursor` (empty: the first page).
    fn query(&self, cursor: &str) -> String {
        query_string(&[
            ("specialization", &self.specialization),
            ("doctor", &self.doctor),
            ("date", &self.date),
            ("tz", &self.tz),
            ("cursor", cursor),
            ("reschedule", &self.reschedule),
        ])
    }
}

/// One bookable slot as listed.
#[derive(Debug)]
struct SlotRow {
    id: SlotId,
    doctor: String,
    specialization: String,
    shown: Shown,
    minutes: i64,
    /// A fresh key for this row's book form.
    key: String,
}

#[derive(Template)]
#[template(path = "slots.html")]
struct SlotsPage {
    layout: Layout,
    filters: Filters,
    specializations: Vec<String>,
    doctors: Vec<Doctor>,
    errors: Errors,
    slots: Vec<SlotRow>,
    next_page: Option<String>,
    first_page: Option<String>,
    signed_in: bool,
    date_zone: String,
    /// How long a hold lasts, in minutes.
    hold_minutes: i64,
    /// The booking being rescheduled (see [`Filters::reschedule`]), when it is a valid id.
    moving: Option<Uuid>,
}

/// `GET /slots`: bookable slots, filtered by specialization, doctor and date.
#[handler]
pub(crate) async fn slots_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let filters: Filters = parse_query(req)?;
            let caller = page::viewer(state, req).await?;
            let flash = match filters.done.as_str() {
                "welcome" => Some(Flash::ok("Welcome! Your account is ready: pick a slot.")),
                _ => None,
            };
            list(state, req, caller.as_ref(), &filters, StatusCode::OK, flash).await
        }
        .await,
    )
}

/// Renders the list for `filters`; `status` and `flash` carry the outcome of a refused booking.
async fn list(
    state: &AppState,
    req: &Request,
    caller: Option<&Caller>,
    filters: &Filters,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let engine = state.engine();
    let viewer_tz = page::viewer_tz(req, &filters.tz);
    let mut errors = Errors::default();
    // One read of the doctors serves the filter lists and every row's doctor (no query per slot).
    let doctors = engine.doctors(&DoctorFilter::default()).await?;
    let by_id: HashMap<DoctorId, &Doctor> = doctors.iter().map(|d| (d.id, d)).collect();
    let specializations: Vec<String> = doctors
        .iter()
        .map(|d| d.specialization.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut query = SlotQuery {
        available: Some(true),
        limit: PAGE_SIZE,
        ..SlotQuery::default()
    };
    if !filters.specialization.trim().is_empty() {
        query.specialization = Some(filters.specialization.trim().to_owned());
    }
    if !filters.doctor.is_empty() {
        match Uuid::parse_str(filters.doctor.trim()) {
            Ok(id) if by_id.contains_key(&DoctorId::from_uuid(id)) => {
                query.doctor_id = Some(DoctorId::from_uuid(id));
            }
            _ => errors.add("doctor", "Choose a doctor from the list."),
        }
    }
    let date_tz = query
        .doctor_id
        .and_then(|id| by_id.get(&id))
        .map_or(viewer_tz, |d| d.timezone);
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
    if !filters.cursor.is_empty() {
        // A cursor that does not parse (edited by hand) starts from the first page.
        query.after = SlotCursor::decode(&filters.cursor);
    }
    let page = engine.slots(&query).await?;
    let slots = page
        .items
        .iter()
        .filter_map(|view| {
            let doctor = by_id.get(&view.slot.doctor_id)?;
            let range = view.slot.range;
            Some(SlotRow {
                id: view.slot.id,
                doctor: doctor.name.clone(),
                specialization: doctor.specialization.clone(),
                shown: Shown::new(&range, doctor.timezone, viewer_tz),
                minutes: (range.ends_at() - range.starts_at()).num_minutes(),
                key: Uuid::now_v7().to_string(),
            })
        })
        .collect();
    let next_page = page
        .next
        .as_ref()
        .map(|c| format!("/slots?{}", filters.query(&c.encode())));
    let first_page = (!filters.cursor.is_empty()).then(|| format!("/slots?{}", filters.query("")));
    let status = if errors.any() && status == StatusCode::OK {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    };
    page::page(
        status,
        &SlotsPage {
            layout: Layout::new("Find a slot", "slots", caller, viewer_tz).with_flash(flash),
            filters: filters.clone(),
            specializations,
            doctors,
            errors,
            slots,
            next_page,
            first_page,
            signed_in: caller.is_some(),
            date_zone: date_tz.name().to_owned(),
            hold_minutes: engine.policy().hold.num_minutes(),
            moving: Uuid::parse_str(filters.reschedule.trim()).ok(),
        },
    )
}

/// A book or hold form: the key, and the filters to show the list again.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BookForm {
    idempotency_key: String,
    #[serde(flatten)]
    filters: Filters,
}

/// `POST /slots/{id}/book`: books the slot; a taken slot shows the refreshed list.
#[handler]
pub(crate) async fn book(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(take(state, req, &id, &body, Take::Book).await)
}

/// `POST /slots/{id}/hold`: holds the slot for a few minutes, to confirm on the next page.
#[handler]
pub(crate) async fn hold(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(take(state, req, &id, &body, Take::Hold).await)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    Book,
    Hold,
}

async fn take(
    state: &AppState,
    req: &Request,
    id: &str,
    body: &[u8],
    how: Take,
) -> Result<Response, PageError> {
    let caller = page::signed_in(state, req).await?;
    let form: BookForm = parse_form(body)?;
    let slot_id = SlotId::from_uuid(Uuid::parse_str(id).map_err(|_| PageError::NotFound)?);
    let engine: &BookingEngine = state.engine();
    let (operation, result) = match how {
        Take::Book => {
            let key = match IdempotencyKey::new(form.idempotency_key.trim()) {
                Ok(key) => key,
                Err(_) => {
                    let flash = Flash::error(
                        "That booking form was incomplete, so nothing was booked. Press Book again.",
                    );
                    return list(
                        state,
                        req,
                        Some(&caller),
                        &form.filters,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some(flash),
                    )
                    .await;
                }
            };
            let result = engine.book(slot_id, caller.patient_id(), Some(key)).await;
            ("book", result)
        }
        Take::Hold => ("hold", engine.hold(slot_id, caller.patient_id()).await),
    };
    match result.map_err(Problem::from) {
        Ok(booking) => {
            state.metrics().booking_outcome(operation, "ok");
            Ok(taken(&booking, how))
        }
        Err(problem) => {
            state.metrics().booking_outcome(operation, problem.code());
            let message = match problem.code() {
                "slot_unavailable" => {
                    "Sorry, that slot was just taken by someone else. Nothing was booked for \
                     you. Here are the slots that are still free."
                }
                "slot_in_past" => {
                    "That slot has already started, so it can no longer be booked. Here are the \
                     slots that are still free."
                }
                "slot_not_found" => {
                    "That slot is no longer offered. Here are the slots that are still free."
                }
                "validation_failed" => {
                    "That booking form was already used for another slot, so nothing was \
                     booked. Press Book again."
                }
                _ => return Err(PageError::Problem(problem)),
            };
            tracing::info!(slot = %slot_id, code = problem.code(), "web booking refused");
            list(
                state,
                req,
                Some(&caller),
                &form.filters,
                problem.status(),
                Some(Flash::error(message)),
            )
            .await
        }
    }
}

fn taken(booking: &Booking, how: Take) -> Response {
    let done = match how {
        Take::Book => "booked",
        Take::Hold => "held",
    };
    tracing::info!(booking = %booking.id, slot = %booking.slot_id, done, "web booking");
    redirect(&format!("/bookings/{}?done={done}", booking.id))
}
