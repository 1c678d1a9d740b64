//! A booking's page (the confirmation after booking), a patient's bookings, confirming a
//! hold and cancelling (with a confirmation step). A booking that is not the caller's answers
//! exactly like a missing one: the 404 page.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use medislot_core::{
    Booking, BookingCursor, BookingId, BookingOrder, BookingQuery, BookingState, BookingStatus,
    BookingView, CancelledBy, Cursor, DoctorProfile, SlotId, SlotStatus,
};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{
    self, parse_form, parse_query, redirect, respond, Errors, Flash, Layout, PageError,
};
use super::time::{self, Shown};
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Bookings per page.
const PAGE_SIZE: u32 = 20;

/// How a booking's status reads for the person looking at it.
#[derive(Debug, Clone)]
pub(crate) struct StatusView {
    /// The status as the API names it (`CONFIRMED`, `BUFFER`, ...); a patient sees their
    /// booking in a clinic's buffer as `CANCELLED`.
    pub(crate) code: &'static str,
    /// What it means, in words.
    pub(crate) label: String,
    /// When it changes, or why it is so.
    pub(crate) note: Option<String>,
}

impl StatusView {
    /// The status of `booking` at `now`, in the viewer's zone `tz`; `for_admin` words it for
    /// clinic staff rather than for the patient.
    pub(crate) fn new(booking: &Booking, now: DateTime<Utc>, tz: Tz, for_admin: bool) -> Self {
        let status = booking.state.status_at(now);
        let reason = |r: &Option<String>| r.as_ref().map(|r| format!("Reason: {r}"));
        let (label, note) = match &booking.state {
            BookingState::Pending { hold_until } if *hold_until > now => {
                let until = format!(
                    "Until {} ({} left).",
                    time::clock_zoned(*hold_until, tz),
                    time::remaining(*hold_until - now)
                );
                if for_admin {
                    ("Held by the patient".to_owned(), Some(until))
                } else {
                    (
                        "Held for you".to_owned(),
                        Some(format!("{until} Confirm to keep it.")),
                    )
                }
            }
            BookingState::Pending { .. } | BookingState::Expired { .. } => (
                "Hold expired".to_owned(),
                Some("It was not confirmed in time, so the slot was released.".to_owned()),
            ),
            BookingState::Confirmed => ("Confirmed".to_owned(), None),
            BookingState::Rescheduled { .. } => (
                "Moved to another time".to_owned(),
                Some("A new booking took its place.".to_owned()),
            ),
            BookingState::Buffer {
                buffer_until,
                reason: why,
            } if *buffer_until > now => {
                if for_admin {
                    (
                        "Cancelled by the clinic; the slot rests in a buffer".to_owned(),
                        Some(format!(
                            "The slot returns to the list at {}.",
                            time::when_zoned(*buffer_until, tz)
                        )),
                    )
                } else {
                    ("Cancelled by the clinic".to_owned(), reason(why))
                }
            }
            BookingState::Buffer { reason: why, .. }
            | BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: why,
                ..
            } => ("Cancelled by the clinic".to_owned(), reason(why)),
            BookingState::Cancelled {
                by: CancelledBy::Patient,
                reason: why,
                ..
            } => (
                if for_admin {
                    "Cancelled by the patient"
                } else {
                    "Cancelled by you"
                }
                .to_owned(),
                reason(why),
            ),
        };
        // For the patient a clinic's cancellation is a cancellation; the buffer is about the
        // slot, which only the clinic manages.
        let code = match status {
            BookingStatus::Buffer if !for_admin => BookingStatus::Cancelled.as_str(),
            status => status.as_str(),
        };
        Self { code, label, note }
    }
}

/// One booking as a list shows it.
#[derive(Debug)]
pub(crate) struct BookingRow {
    pub(crate) id: BookingId,
    pub(crate) doctor: String,
    pub(crate) specialization: String,
    /// The doctor's bio, languages and location, shown on the booking's page.
    pub(crate) profile: DoctorProfile,
    pub(crate) shown: Shown,
    pub(crate) status: StatusView,
    /// Whether the viewer may cancel it now.
    pub(crate) cancellable: bool,
    /// The patient's name and email, for admin lists.
    pub(crate) patient: String,
    pub(crate) patient_email: String,
    /// What the patient said the visit is for.
    pub(crate) visit_reason: Option<String>,
}

impl BookingRow {
    pub(crate) fn new(view: &BookingView, now: DateTime<Utc>, tz: Tz, for_admin: bool) -> Self {
        Self {
            id: view.booking.id,
            doctor: view.doctor.name.clone(),
            specialization: view.doctor.specialization.clone(),
            profile: view.doctor.profile.clone(),
            shown: Shown::new(&view.slot.range, view.doctor.timezone, tz),
            status: StatusView::new(&view.booking, now, tz, for_admin),
            cancellable: cancellable(&view.booking, now),
            patient: String::new(),
            patient_email: String::new(),
            visit_reason: view.booking.visit_reason.clone(),
        }
    }
}

/// Whether the rules would let this booking be cancelled now (confirmed, or a live hold).
fn cancellable(booking: &Booking, now: DateTime<Utc>) -> bool {
    match &booking.state {
        BookingState::Confirmed => true,
        BookingState::Pending { hold_until } => *hold_until > now,
        BookingState::Buffer { .. }
        | BookingState::Cancelled { .. }
        | BookingState::Expired { .. }
        | BookingState::Rescheduled { .. } => false,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MineQuery {
    when: String,
    cursor: String,
}

#[derive(Template)]
#[template(path = "bookings.html")]
struct MinePage {
    layout: Layout,
    past: bool,
    rows: Vec<BookingRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

/// Whether a booking belongs under Upcoming at `now`: a live hold or a confirmed booking of a
/// slot still to come. Everything else (cancelled, lapsed, over) is Past or cancelled.
fn upcoming(view: &BookingView, now: DateTime<Utc>) -> bool {
    let active = match view.booking.state.status_at(now) {
        BookingStatus::Pending | BookingStatus::Confirmed => true,
        BookingStatus::Buffer
        | BookingStatus::Cancelled
        | BookingStatus::Expired
        | BookingStatus::Rescheduled => false,
    };
    active && view.slot.range.starts_at() >= now
}

/// `GET /bookings`: the caller's upcoming bookings (soonest first), or the past and cancelled
/// ones (latest first), a page at a time.
#[handler]
pub(crate) async fn mine(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let query: MineQuery = parse_query(req)?;
            let engine = state.engine();
            let now = engine.now();
            let past = query.when == "past";
            let tz = page::viewer_tz(req, "");
            let bookings = BookingQuery {
                from: (!past).then_some(now),
                order: if past {
                    BookingOrder::LatestAppointment
                } else {
                    BookingOrder::SoonestAppointment
                },
                after: BookingCursor::decode(&query.cursor),
                ..BookingQuery::default()
            };
            let (views, next) = tab_page(engine, caller.patient_id(), bookings, |v| {
                upcoming(v, now) != past
            })
            .await?;
            let when = if past { "past" } else { "upcoming" };
            let rows = views
                .iter()
                .map(|v| BookingRow::new(v, now, tz, false))
                .collect();
            page::page(
                StatusCode::OK,
                &MinePage {
                    layout: Layout::new("My bookings", "bookings", Some(&caller), tz),
                    past,
                    rows,
                    next_page: next.map(|c| format!("/bookings?when={when}&cursor={}", c.encode())),
                    first_page: (!query.cursor.is_empty())
                        .then(|| format!("/bookings?when={when}")),
                },
            )
        }
        .await,
    )
}

/// One page of a patient's bookings that pass `keep`: the store's pages are read in turn
/// until a page's worth passes or the list ends (a patient's bookings are few); the cursor
/// continues after the last one shown.
async fn tab_page(
    engine: &medislot_core::BookingEngine,
    patient: medislot_core::PatientId,
    mut query: BookingQuery,
    keep: impl Fn(&BookingView) -> bool,
) -> Result<(Vec<BookingView>, Option<BookingCursor>), PageError> {
    query.limit = 100;
    let mut shown: Vec<BookingView> = Vec::new();
    loop {
        let page = engine.patient_bookings(patient, &query).await?;
        for view in page.items {
            if !keep(&view) {
                continue;
            }
            if shown.len() == PAGE_SIZE as usize {
                let last = shown.last().map(|v| BookingCursor(v.booking.id));
                return Ok((shown, last));
            }
            shown.push(view);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok((shown, None)),
        }
    }
}

#[derive(Template)]
#[template(path = "booking.html")]
struct ShowPage {
    layout: Layout,
    heading: String,
    row: BookingRow,
    patient: Option<String>,
    /// A live hold of the viewer's own: offer to confirm it.
    confirmable: bool,
    /// When the hold ends, for the countdown script.
    hold_until: Option<String>,
    hold_seconds: i64,
    is_admin: bool,
    /// Whether the booking is the viewer's own.
    own: bool,
    /// The viewer's own hold, lapsed or about to: the way to book its slot again (shown at
    /// once for a lapsed hold; for a live one, by the page script when it lapses).
    book_again: Option<BookAgain>,
    /// A confirmed booking the viewer may move (their own, or any for an admin): offer
    /// "Reschedule".
    reschedulable: bool,
}

/// Booking a lapsed hold's slot again.
#[derive(Debug)]
struct BookAgain {
    slot: SlotId,
    /// A fresh idempotency key for the book form.
    key: String,
    /// Whether the slot is free (or held by this very hold); else someone else took it.
    free: bool,
    /// The finder, on this doctor.
    find: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShowQuery {
    done: String,
}

/// `GET /bookings/{id}`: one booking; the confirmation page after booking.
#[handler]
pub(crate) async fn show(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let query: ShowQuery = parse_query(req)?;
            let view = visible_booking(state, &caller, &id).await?;
            let flash = match query.done.as_str() {
                "booked" => Some(Flash::ok("Booked. Your appointment is confirmed.")),
                "held" => Some(Flash::ok(
                    "The slot is held for you. Confirm it before the hold runs out.",
                )),
                "confirmed" => Some(Flash::ok("Confirmed. The appointment is yours.")),
                "cancelled" => Some(Flash::ok("The booking is cancelled.")),
                "hold_expired" => Some(Flash::error(
                    "Your hold ran out before you confirmed, so the slot was released.",
                )),
                "not_a_hold" => Some(Flash::error("This booking is no longer a hold to confirm.")),
                "not_cancellable" => Some(Flash::error(format!(
                    "This booking can no longer be cancelled: it is {}.",
                    StatusView::new(
                        &view.booking,
                        state.engine().now(),
                        Tz::UTC,
                        caller.is_admin()
                    )
                    .label
                    .to_lowercase()
                ))),
                "rescheduled" => Some(Flash::ok(
                    "Moved. This is the new appointment; the old time is released.",
                )),
                "move_taken" => Some(Flash::error(
                    "Sorry, that time was just taken by someone else. Nothing changed: your \
                     booking is as it was. Choose another time.",
                )),
                "move_gone" => Some(Flash::error(
                    "That time is no longer offered. Nothing changed: your booking is as it \
                     was. Choose another time.",
                )),
                "move_too_late" => Some(Flash::error(
                    "It is too late to move this booking: the clinic allows changes only until \
                     shortly before the appointment. Nothing changed.",
                )),
                "move_outside_window" => Some(Flash::error(
                    "The clinic does not take bookings for that time now: it is too soon or \
                     too far ahead. Nothing changed: your booking is as it was.",
                )),
                "move_not_confirmed" => {
                    Some(Flash::error("Only a confirmed booking can be moved."))
                }
                "move_same" => Some(Flash::error(
                    "That is this booking's own time, or the form was already used. Nothing \
                     changed.",
                )),
                _ => None,
            };
            show_page(state, req, &caller, &view, StatusCode::OK, flash).await
        }
        .await,
    )
}

/// The booking with this id, if the caller may see it; otherwise the 404 page.
pub(super) async fn visible_booking(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<BookingView, PageError> {
    let id = BookingId::from_uuid(Uuid::parse_str(id.trim()).map_err(|_| PageError::NotFound)?);
    let view = state.engine().booking(id).await?;
    if !caller.may_see(&view.booking) {
        return Err(PageError::NotFound);
    }
    Ok(view)
}

pub(super) async fn show_page(
    state: &AppState,
    req: &Request,
    caller: &Caller,
    view: &BookingView,
    status: StatusCode,
    flash: Option<Flash>,
) -> Result<Response, PageError> {
    let now = state.engine().now();
    let tz = page::viewer_tz(req, "");
    let is_admin = caller.is_admin();
    let own = view.booking.patient_id == caller.patient_id();
    let row = BookingRow::new(view, now, tz, is_admin && !own);
    let hold_until = match view.booking.state {
        BookingState::Pending { hold_until } if hold_until > now => Some(hold_until),
        _ => None,
    };
    let patient = if is_admin && !own {
        let account = state
            .accounts()
            .account(medislot_core::AccountId::from_uuid(
                view.booking.patient_id.as_uuid(),
            ))
            .await
            .map_err(Problem::from)?;
        Some(account.map_or_else(
            || view.booking.patient_id.to_string(),
            |a| format!("{} <{}>", a.name, a.email),
        ))
    } else {
        None
    };
    let lapsed_hold = match &view.booking.state {
        BookingState::Pending { hold_until } => *hold_until <= now,
        BookingState::Expired { .. } => true,
        BookingState::Confirmed
        | BookingState::Buffer { .. }
        | BookingState::Cancelled { .. }
        | BookingState::Rescheduled { .. } => false,
    };
    let book_again = if own && (lapsed_hold || hold_until.is_some()) {
        let free = hold_until.is_some()
            || state.engine().slot(view.slot.id).await?.status == SlotStatus::Available;
        Some(BookAgain {
            slot: view.slot.id,
            key: Uuid::now_v7().to_string(),
            free,
            find: format!("/slots?doctor={}", view.doctor.id),
        })
    } else {
        None
    };
    let heading = match (row.status.code, flash.as_ref()) {
        ("CONFIRMED", Some(_)) => "Your appointment is booked".to_owned(),
        ("PENDING", _) => "Your slot is held".to_owned(),
        ("EXPIRED", _) if own => "Your hold has lapsed".to_owned(),
        _ => "Booking".to_owned(),
    };
    page::page(
        status,
        &ShowPage {
            layout: Layout::new(
                "Booking",
                if own { "bookings" } else { "all-bookings" },
                Some(caller),
                tz,
            )
            .with_flash(flash),
            own,
            heading,
            patient,
            confirmable: own && hold_until.is_some(),
            // Rounded up: the page must never say the hold lapsed before the rules do.
            hold_seconds: hold_until
                .map_or(0, |t| ((t - now).num_milliseconds().max(0) + 999) / 1000),
            hold_until: hold_until.map(|t| t.to_rfc3339()),
            is_admin,
            reschedulable: view.booking.state == BookingState::Confirmed && (own || is_admin),
            row,
            book_again,
        },
    )
}

/// `GET /bookings/{id}/confirm`: the form's address, opened again: the booking's page.
#[handler]
pub(crate) fn confirm_address(Path(id): Path<String>) -> Response {
    match Uuid::parse_str(id.trim()) {
        Ok(id) => redirect(&format!("/bookings/{id}")),
        Err(_) => redirect("/bookings"),
    }
}

/// `POST /bookings/{id}/confirm`: confirms the caller's hold; a refusal is shown on the
/// booking's page (post/redirect/get).
#[handler]
pub(crate) async fn confirm(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let view = visible_booking(state, &caller, &id).await?;
            let result = caller
                .engine(state)
                .confirm(view.booking.id, caller.patient_id())
                .await
                .map_err(Problem::from);
            match result {
                Ok(booking) => {
                    state.metrics().booking_outcome("confirm", "ok");
                    Ok(redirect(&format!(
                        "/bookings/{}?done=confirmed",
                        booking.id
                    )))
                }
                Err(problem) => {
                    state.metrics().booking_outcome("confirm", problem.code());
                    let done = match problem.code() {
                        "hold_expired" => "hold_expired",
                        "invalid_transition" => "not_a_hold",
                        _ => return Err(problem.into()),
                    };
                    Ok(redirect(&format!(
                        "/bookings/{}?done={done}",
                        view.booking.id
                    )))
                }
            }
        }
        .await,
    )
}

#[derive(Template)]
#[template(path = "cancel.html")]
struct CancelPage {
    layout: Layout,
    row: BookingRow,
    reason: String,
    errors: Errors,
    is_admin: bool,
    buffer_minutes: i64,
}

/// `GET /bookings/{id}/cancel`: the confirmation step before cancelling.
#[handler]
pub(crate) async fn cancel_page(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let view = visible_booking(state, &caller, &id).await?;
            render_cancel(
                state,
                req,
                &caller,
                &view,
                String::new(),
                Errors::default(),
                StatusCode::OK,
            )
        }
        .await,
    )
}

fn render_cancel(
    state: &AppState,
    req: &Request,
    caller: &Caller,
    view: &BookingView,
    reason: String,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let now = state.engine().now();
    let tz = page::viewer_tz(req, "");
    let is_admin = caller.is_admin();
    page::page(
        status,
        &CancelPage {
            layout: Layout::new("Cancel booking", "bookings", Some(caller), tz),
            row: BookingRow::new(view, now, tz, is_admin),
            reason,
            errors,
            is_admin,
            buffer_minutes: state.engine().policy().buffer.num_minutes(),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CancelForm {
    reason: String,
}

/// `POST /bookings/{id}/cancel`: a patient cancels their own booking (`CANCELLED`, the slot is
/// free at once); an admin cancels any (`BUFFER` until the buffer ends).
#[handler]
pub(crate) async fn cancel(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let form: CancelForm = parse_form(&body)?;
            let view = visible_booking(state, &caller, &id).await?;
            let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
            let engine = caller.engine(state);
            let result = if caller.is_admin() {
                engine.cancel_as_admin(view.booking.id, reason).await
            } else {
                engine
                    .cancel_as_patient(view.booking.id, caller.patient_id(), reason)
                    .await
            }
            .map_err(Problem::from);
            match result {
                Ok(booking) => {
                    state.metrics().booking_outcome("cancel", "ok");
                    tracing::info!(booking = %booking.id, by_admin = caller.is_admin(), "cancelled on the web");
                    Ok(redirect(&format!("/bookings/{}?done=cancelled", booking.id)))
                }
                Err(problem) => {
                    state.metrics().booking_outcome("cancel", problem.code());
                    if problem.code() == "validation_failed" {
                        let mut errors = Errors::default();
                        errors.add_problem(&problem, &[("reason", "The reason")]);
                        return render_cancel(
                            state,
                            req,
                            &caller,
                            &view,
                            form.reason,
                            errors,
                            problem.status(),
                        );
                    }
                    if problem.code() != "invalid_transition" {
                        return Err(problem.into());
                    }
                    Ok(redirect(&format!(
                        "/bookings/{}?done=not_cancellable",
                        view.booking.id
                    )))
                }
            }
        }
        .await,
    )
}
