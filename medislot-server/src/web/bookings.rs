//! A booking's page (the confirmation after booking), a patient's bookings, confirming a
//! hold and cancelling (with a confirmation step). A booking that is not the caller's answers
//! exactly like a missing one: the 404 page.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use medislot_core::{
    Booking, BookingCursor, BookingId, BookingQuery, BookingState, BookingStatus, BookingView,
    CancelledBy, Cursor,
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
    pub(crate) shown: Shown,
    pub(crate) status: StatusView,
    /// Whether the viewer may cancel it now.
    pub(crate) cancellable: bool,
    /// The patient's name and email, for admin lists.
    pub(crate) patient: String,
    pub(crate) patient_email: String,
}

impl BookingRow {
    pub(crate) fn new(view: &BookingView, now: DateTime<Utc>, tz: Tz, for_admin: bool) -> Self {
        Self {
            id: view.booking.id,
            doctor: view.doctor.name.clone(),
            specialization: view.doctor.specialization.clone(),
            shown: Shown::new(&view.slot.range, view.doctor.timezone, tz),
            status: StatusView::new(&view.booking, now, tz, for_admin),
            cancellable: cancellable(&view.booking, now),
            patient: String::new(),
            patient_email: String::new(),
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

/// `GET /bookings`: the caller's upcoming (or past) bookings, newest first, a page at a time.
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
                to: past.then_some(now),
                after: BookingCursor::decode(&query.cursor),
                limit: PAGE_SIZE,
                ..BookingQuery::default()
            };
            let page = engine
                .patient_bookings(caller.patient_id(), &bookings)
                .await?;
            let when = if past { "past" } else { "upcoming" };
            let rows = page
                .items
                .iter()
                .map(|v| BookingRow::new(v, now, tz, false))
                .collect();
            page::page(
                StatusCode::OK,
                &MinePage {
                    layout: Layout::new("My bookings", "bookings", Some(&caller), tz),
                    past,
                    rows,
                    next_page: page
                        .next
                        .map(|c| format!("/bookings?when={when}&cursor={}", c.encode())),
                    first_page: (!query.cursor.is_empty())
                        .then(|| format!("/bookings?when={when}")),
                },
            )
        }
        .await,
    )
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
    /// A confirmed booking the viewer may move (their own, or any for an admin): offer
    /// "Reschedule".
    reschedulable: bool,
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
                "rescheduled" => Some(Flash::ok(
                    "Moved. This is the new appointment; the old time is released.",
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
    let heading = match (row.status.code, flash.as_ref()) {
        ("CONFIRMED", Some(_)) => "Your appointment is booked".to_owned(),
        ("PENDING", _) => "Your slot is held".to_owned(),
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
            hold_seconds: hold_until.map_or(0, |t| (t - now).num_seconds().max(0)),
            hold_until: hold_until.map(|t| t.to_rfc3339()),
            is_admin,
            reschedulable: view.booking.state == BookingState::Confirmed && (own || is_admin),
            row,
        },
    )
}

/// `POST /bookings/{id}/confirm`: confirms the caller's hold.
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
            let result = state
                .engine()
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
                    let message = match problem.code() {
                        "hold_expired" => {
                            "Your hold ran out before you confirmed, so the slot was released. \
                             Find it again in the list if it is still free."
                        }
                        "invalid_transition" => "This booking is no longer a hold to confirm.",
                        _ => return Err(problem.into()),
                    };
                    let view = state.engine().booking(view.booking.id).await?;
                    show_page(
                        state,
                        req,
                        &caller,
                        &view,
                        problem.status(),
                        Some(Flash::error(message)),
                    )
                    .await
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
            let engine = state.engine();
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
                    let view = engine.booking(view.booking.id).await?;
                    let now = engine.now();
                    let status = StatusView::new(&view.booking, now, Tz::UTC, caller.is_admin());
                    let message = format!(
                        "This booking can no longer be cancelled: it is {}.",
                        status.label.to_lowercase()
                    );
                    show_page(
                        state,
                        req,
                        &caller,
                        &view,
                        problem.status(),
                        Some(Flash::error(message)),
                    )
                    .await
                }
            }
        }
        .await,
    )
}
