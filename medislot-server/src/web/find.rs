//! Finding a slot and booking it (or holding it to confirm shortly).
//!
//! The list shows only bookable slots, a page at a time (the engine's keyset cursor), every
//! time and the date filter in one zone (the viewer's, the doctor's or one picked). The
//! outcome of "Book" is the engine's real answer: a redirect to the confirmation page, or to
//! the list with its filters and a "just taken" message. Each rendered form carries a fresh
//! idempotency key, so a retried submission of the same form returns the first booking instead
//! of booking twice.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use chrono::NaiveDate;
use chrono_tz::Tz;
use medislot_core::{
    Booking, BookingEngine, Cursor, Doctor, DoctorFilter, DoctorId, DoctorProfile, IdempotencyKey,
    Page, SlotCursor, SlotId, SlotQuery,
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
    profile: DoctorProfile,
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
    /// The sign-in page that comes back to this list.
    sign_in: String,
    /// The page's zone (its current name).
    zone: String,
    /// The viewer's own zone, and the chosen doctor's name and zone: the first choices.
    own_zone: String,
    doctor_zone: Option<(String, String)>,
    /// The other zones offered: the doctors' and the page's (the zone page lists them all).
    zones: Vec<&'static str>,
    /// The date filter names a day that is over in the page's zone.
    date_passed: bool,
    /// How long a hold lasts, in minutes.
    hold_minutes: i64,
    /// The booking being rescheduled (see [`Filters::reschedule`]), when it is a valid id.
    moving: Option<Uuid>,
    /// The join form of the waitlist, for these filters.
    join_waitlist: String,
    /// The week view's query for these filters (the date's week).
    week_query: String,
}

/// `GET /slots`: bookable slots, filtered by specialization, doctor and date.
#[handler]
pub(crate) async fn slots_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let filters: Filters = parse_query(req)?;
            let caller = page::viewer(state, req).await?;
            let flash = outcome_flash(&filters.done);
            list(state, req, caller.as_ref(), &filters, flash).await
        }
        .await,
    )
}

/// The message for `done`, the outcome a book or hold form was redirected with.
fn outcome_flash(done: &str) -> Option<Flash> {
    let error = |text: &str| Some(Flash::error(text));
    match done {
        "welcome" => Some(Flash::ok("Welcome! Your account is ready: pick a slot.")),
        "taken" => error(
            "Sorry, that slot was just taken by someone else. Nothing was booked for you. \
             Here are the slots that are still free.",
        ),
        "started" => error(
            "That slot has already started, so it can no longer be booked. Here are the \
             slots that are still free.",
        ),
        "gone" => error("That slot is no longer offered. Here are the slots that are still free."),
        "too_soon" => error(
            "That slot starts too soon: the clinic takes bookings only some time ahead. \
             Nothing was booked. Choose a later time.",
        ),
        "too_far_ahead" => error(
            "That slot is too far ahead: the clinic does not take bookings that early yet. \
             Nothing was booked. Choose an earlier time.",
        ),
        "used_form" => error(
            "That booking form was already used for another slot, so nothing was booked. \
             Press Book again.",
        ),
        "reason" => error(
            "The reason for the visit could not be kept: it may be at most 500 characters, \
             without control characters. Nothing was booked.",
        ),
        "incomplete" => {
            error("That booking form was incomplete, so nothing was booked. Press Book again.")
        }
        _ => None,
    }
}

/// Renders the list for `filters`, every time in the page's one zone (see [`page_zone`]).
async fn list(
    state: &AppState,
    req: &Request,
    caller: Option<&Caller>,
    filters: &Filters,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let engine = state.engine();
    let mut errors = Errors::default();
    // One read of the doctors serves the filter lists and every row's doctor (no query per slot).
    let doctors = engine.doctors(&DoctorFilter::default()).await?;
    let by_id: HashMap<DoctorId, &Doctor> = doctors.iter().map(|d| (d.id, d)).collect();
    let specializations = specializations(&doctors);

    let mut query = SlotQuery {
        available: Some(true),
        limit: PAGE_SIZE,
        ..SlotQuery::default()
    };
    if !filters.specialization.trim().is_empty() {
        query.specialization = Some(filters.specialization.trim().to_owned());
    }
    let mut chosen_doctor = None;
    if !filters.doctor.is_empty() {
        match Uuid::parse_str(filters.doctor.trim()).map(DoctorId::from_uuid) {
            Ok(id) if by_id.contains_key(&id) => {
                query.doctor_id = Some(id);
                chosen_doctor = by_id.get(&id).copied();
            }
            _ => errors.add("doctor", "Choose a doctor from the list."),
        }
    }
    let tz = page_zone(req, filters, chosen_doctor);
    let now = engine.now();
    let mut date_passed = false;
    if !filters.date.trim().is_empty() {
        match NaiveDate::parse_from_str(filters.date.trim(), "%Y-%m-%d") {
            Ok(date) => {
                date_passed = date < now.with_timezone(&tz).date_naive();
                let (from, to) = time::day_window(date, tz);
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
    let page = if date_passed {
        Page {
            items: Vec::new(),
            next: None,
        }
    } else {
        engine.slots(&query).await?
    };
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
                profile: doctor.profile.clone(),
                shown: Shown::new(&range, doctor.timezone, tz),
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
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let own_zone = page::viewer_tz(req, "");
    page::page(
        status,
        &SlotsPage {
            layout: Layout::new("Find a slot", "slots", caller, tz).with_flash(flash),
            sign_in: page::sign_in_url(&format!("/slots?{}", filters.query(&filters.cursor))),
            filters: filters.clone(),
            specializations,
            own_zone: time::current(own_zone).name().to_owned(),
            doctor_zone: chosen_doctor
                .map(|d| (d.name.clone(), time::current(d.timezone).name().to_owned())),
            // The doctors' zones and the page's: a short list (every zone is on the zone page).
            zones: doctors
                .iter()
                .map(|d| time::zone_name(&d.timezone))
                .chain([time::zone_name(&tz)])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            zone: tz.name().to_owned(),
            doctors,
            errors,
            slots,
            next_page,
            first_page,
            signed_in: caller.is_some(),
            date_passed,
            hold_minutes: engine.policy().hold.num_minutes(),
            moving: Uuid::parse_str(filters.reschedule.trim()).ok(),
            join_waitlist: super::waitlist::join_url(
                &filters.specialization,
                &filters.doctor,
                &filters.date,
                &filters.tz,
            ),
            week_query: query_string(&[
                ("specialization", &filters.specialization),
                ("doctor", &filters.doctor),
                ("tz", &filters.tz),
                ("week", &filters.date),
            ]),
        },
    )
}

/// The one zone the finder's page is in, for its times and its date filter alike: the
/// doctor's when `tz` says `doctor` and a doctor is chosen, else the zone `tz` names, else the
/// viewer's own.
fn page_zone(req: &Request, filters: &Filters, doctor: Option<&Doctor>) -> Tz {
    match (filters.tz.trim(), doctor) {
        ("doctor", Some(doctor)) => time::current(doctor.timezone),
        ("doctor", None) => page::viewer_tz(req, ""),
        (named, _) => page::viewer_tz(req, named),
    }
}

/// A book or hold form: the key, and the filters to show the list again.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BookForm {
    idempotency_key: String,
    /// What the visit is for (optional); one form serves Book and Hold.
    visit_reason: String,
    #[serde(flatten)]
    filters: Filters,
}

/// `GET /slots/{id}/book` and `/hold`: a form's address, opened again: the list.
#[handler]
pub(crate) fn take_address() -> Response {
    redirect("/slots")
}

/// `POST /slots/{id}/book`: books the slot; a refusal goes back to the list, with its
/// filters and a word on why (post/redirect/get).
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
    let engine: BookingEngine = caller.engine(state);
    // A refusal goes back to the list with the form's filters (post/redirect/get), saying why.
    let back = |done: &str| {
        let mut to = format!("/slots?{}", form.filters.query(""));
        if !to.ends_with('?') {
            to.push('&');
        }
        to.push_str("done=");
        to.push_str(done);
        redirect(&to)
    };
    let visit_reason = Some(form.visit_reason.clone());
    let (operation, result) = match how {
        Take::Book => {
            let Ok(key) = IdempotencyKey::new(form.idempotency_key.trim()) else {
                return Ok(back("incomplete"));
            };
            let result = engine
                .book_or_replay(slot_id, caller.patient_id(), Some(key), visit_reason)
                .await
                .map(|created| created.booking);
            ("book", result)
        }
        Take::Hold => {
            let result = engine
                .hold_with_reason(slot_id, caller.patient_id(), visit_reason)
                .await;
            ("hold", result)
        }
    };
    match result.map_err(Problem::from) {
        Ok(booking) => {
            state.metrics().booking_outcome(operation, "ok");
            Ok(taken(&booking, how))
        }
        Err(problem) => {
            state.metrics().booking_outcome(operation, problem.code());
            let done = match problem.code() {
                "slot_unavailable" => "taken",
                "slot_in_past" => "started",
                "too_soon" => "too_soon",
                "too_far_ahead" => "too_far_ahead",
                "slot_not_found" => "gone",
                "validation_failed" if problem.field() == Some("visit_reason") => "reason",
                "validation_failed" => "used_form",
                _ => return Err(PageError::Problem(problem)),
            };
            tracing::info!(slot = %slot_id, code = problem.code(), "web booking refused");
            Ok(back(done))
        }
    }
}

/// Where a taken slot sends the patient: the booking's page, saying what was done.
fn taken(booking: &Booking, how: Take) -> Response {
    let done = match how {
        Take::Book => "booked",
        Take::Hold => "held",
    };
    tracing::info!(booking = %booking.id, slot = %booking.slot_id, done, "web booking");
    redirect(&format!("/bookings/{}?done={done}", booking.id))
}

/// The doctors' specializations, each once, in order: the choices of the filter forms.
pub(crate) fn specializations(doctors: &[Doctor]) -> Vec<String> {
    doctors
        .iter()
        .map(|d| d.specialization.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
