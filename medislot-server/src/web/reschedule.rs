//! Moving a booking to another time: "Reschedule" on a booking opens the slot finder in its
//! reschedule mode (`/slots?reschedule={id}`), a slot there leads to a confirmation step, and
//! the confirmation moves the booking in one step (the engine's reschedule) or says why not.

use askama::Template;
use medislot_core::{IdempotencyKey, SlotId};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::bookings::{visible_booking, BookingRow};
use super::page::{self, parse_form, parse_query, redirect, respond, Layout, PageError};
use super::time::Shown;
use crate::problem::Problem;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "reschedule.html")]
struct ConfirmPage {
    layout: Layout,
    row: BookingRow,
    slot_id: SlotId,
    doctor: String,
    specialization: String,
    shown: Shown,
    /// A fresh key, so that a resubmitted form moves the booking once.
    key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfirmQuery {
    slot: String,
}

/// `GET /bookings/{id}/reschedule?slot={slot}`: the confirmation step of a move.
#[handler]
pub(crate) async fn confirm_page(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let query: ConfirmQuery = parse_query(req)?;
            let view = visible_booking(state, &caller, &id).await?;
            let slot_id = SlotId::from_uuid(
                Uuid::parse_str(query.slot.trim()).map_err(|_| PageError::NotFound)?,
            );
            let engine = state.engine();
            let slot = engine.slot(slot_id).await?;
            let doctor = engine.doctor(slot.slot.doctor_id).await?;
            let now = engine.now();
            let tz = page::viewer_tz(req, "");
            let own = view.booking.patient_id == caller.patient_id();
            page::page(
                StatusCode::OK,
                &ConfirmPage {
                    layout: Layout::new("Move booking", "bookings", Some(&caller), tz),
                    row: BookingRow::new(&view, now, tz, caller.is_admin() && !own),
                    slot_id,
                    shown: Shown::new(&slot.slot.range, doctor.timezone, tz),
                    doctor: doctor.name,
                    specialization: doctor.specialization,
                    key: Uuid::now_v7().to_string(),
                },
            )
        }
        .await,
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoveForm {
    slot_id: String,
    idempotency_key: String,
}

/// `POST /bookings/{id}/reschedule`: moves the booking; a refusal leads back to the booking,
/// unchanged, whose page says why.
#[handler]
pub(crate) async fn reschedule(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let form: MoveForm = parse_form(&body)?;
            let view = visible_booking(state, &caller, &id).await?;
            let target = SlotId::from_uuid(
                Uuid::parse_str(form.slot_id.trim()).map_err(|_| PageError::NotFound)?,
            );
            let key = IdempotencyKey::new(form.idempotency_key.trim()).ok();
            let engine = caller.engine(state);
            let result = if caller.is_admin() {
                engine.reschedule_as_admin(view.booking.id, target, key).await
            } else {
                engine
                    .reschedule_as_patient(view.booking.id, caller.patient_id(), target, key)
                    .await
            }
            .map_err(Problem::from);
            match result {
                Ok(booking) => {
                    state.metrics().booking_outcome("reschedule", "ok");
                    tracing::info!(booking = %booking.id, from = %view.booking.id, "rescheduled on the web");
                    Ok(redirect(&format!("/bookings/{}?done=rescheduled", booking.id)))
                }
                Err(problem) => {
                    state.metrics().booking_outcome("reschedule", problem.code());
                    // Post/redirect/get, as every form: the booking's page says why.
                    let done = match problem.code() {
                        "slot_unavailable" => "move_taken",
                        "slot_in_past" | "slot_not_found" => "move_gone",
                        "too_late_to_change" => "move_too_late",
                        "too_soon" | "too_far_ahead" => "move_outside_window",
                        "invalid_transition" => "move_not_confirmed",
                        "validation_failed" => "move_same",
                        _ => return Err(problem.into()),
                    };
                    Ok(redirect(&format!("/bookings/{}?done={done}", view.booking.id)))
                }
            }
        }
        .await,
    )
}
