//! `/slots`: find slots, hold one, and (admins) withdraw one.

use super::read_after::ReadAfterHeader;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use medislot_core::{DoctorFilter, DoctorId, SlotId, SlotQuery, SlotView};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::bookings::{booking_answer, record_outcome, HoldRequest};
use super::model::{decode_cursor, next_cursor, BookingOut, SlotOut, SlotPage};
use super::ApiTags;
use crate::auth::{Admin, Caller};
use crate::problem::errors::{
    ADMIN, BODY, CONFLICT, INVALID, NOT_FOUND, SIGNED_IN_WRITE, UNAVAILABLE,
};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Slot routes.
pub(crate) struct SlotsApi {
    pub(crate) state: AppState,
}

#[derive(ApiResponse)]
enum Held {
    /// The slot is held for the caller: a `PENDING` booking until `hold_until`.
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<BookingOut>),
}

#[derive(ApiResponse)]
enum SlotList {
    /// A page of slots; follow `next_cursor` for the next.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<SlotPage>),
}

#[derive(ApiResponse)]
enum Withdrawn {
    /// The slot was withdrawn.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Slots")]
impl SlotsApi {
    /// List slots
    ///
    /// Slots by start time, each with its status now and its times in the doctor's zone.
    #[oai(path = "/slots", method = "get", operation_id = "list_slots")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        /// Only this doctor's slots.
        doctor_id: Query<Option<Uuid>>,
        /// Only slots of doctors with this specialization (ignoring case).
        specialization: Query<Option<String>>,
        /// Only slots starting at or after this instant (RFC 3339; write `+` as `%2B`).
        from: Query<Option<DateTime<FixedOffset>>>,
        /// Only slots starting before this instant (RFC 3339; write `+` as `%2B`).
        to: Query<Option<DateTime<FixedOffset>>>,
        /// `true`: only bookable slots; `false`: only slots that are not.
        available: Query<Option<bool>>,
        /// Page size.
        #[oai(
            default = "super::model::default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// The `MediSlot-Written-At` of your last write (see the API's description): the
        /// answer then includes that write, whichever instance made it.
        #[oai(name = "MediSlot-Read-After")]
        _read_after: ReadAfterHeader,
    ) -> Result<SlotList, ApiError<{ INVALID | UNAVAILABLE }>> {
        let query = SlotQuery {
            doctor_id: doctor_id.0.map(DoctorId::from_uuid),
            specialization: specialization
                .0
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            from: from.0.map(|t| t.with_timezone(&Utc)),
            to: to.0.map(|t| t.with_timezone(&Utc)),
            available: available.0,
            after: decode_cursor(cursor.0.as_deref())?,
            limit: limit.0,
        };
        let engine = self.state.engine();
        let page = engine.slots(&query).await?;
        let zones = self.zones(&page.items).await?;
        // A slot whose doctor is gone was withdrawn with it between the two reads: drop it.
        let items = page
            .items
            .iter()
            .filter_map(|view| {
                let tz = zones.get(&view.slot.doctor_id)?;
                Some(SlotOut::from_view(view, *tz))
            })
            .collect();
        Ok(SlotList::Ok(Json(SlotPage {
            next_cursor: next_cursor(&page),
            items,
        })))
    }

    /// Hold a free slot
    ///
    /// Holds the slot for the caller for a few minutes (a `PENDING` booking); confirm the hold
    /// to keep it. A slot outside the clinic's booking window gets 422 `too_soon` or
    /// `too_far_ahead`.
    #[oai(path = "/slots/:id/hold", method = "post", operation_id = "hold_slot")]
    async fn hold(
        &self,
        caller: Caller,
        /// The slot's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<Option<HoldRequest>>,
    ) -> Result<Held, ApiError<{ SIGNED_IN_WRITE | BODY | NOT_FOUND | CONFLICT | INVALID }>> {
        let visit_reason = body.0.and_then(|b| b.visit_reason);
        let result = caller
            .engine(&self.state)
            .hold_with_reason(SlotId::from_uuid(id.0), caller.patient_id(), visit_reason)
            .await
            .map_err(Problem::from);
        let booking = record_outcome(&self.state, "hold", result)?;
        Ok(Held::Created(Json(
            booking_answer(&self.state, booking).await?,
        )))
    }

    /// Withdraw a slot nobody occupies (admin).
    #[oai(path = "/slots/:id", method = "delete", operation_id = "withdraw_slot")]
    async fn withdraw(
        &self,
        Admin(admin): Admin,
        /// The slot's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<Withdrawn, ApiError<{ ADMIN | NOT_FOUND | CONFLICT | INVALID }>> {
        admin
            .engine(&self.state)
            .withdraw_slot(SlotId::from_uuid(id.0))
            .await?;
        tracing::info!(slot = %id.0, "slot withdrawn");
        Ok(Withdrawn::Done)
    }
}

impl SlotsApi {
    /// The time zone of every doctor on a page, in one store read: the doctor itself when the
    /// page has one, else the list of doctors.
    async fn zones(&self, slots: &[SlotView]) -> Result<HashMap<DoctorId, Tz>, Problem> {
        let engine = self.state.engine();
        let wanted: HashSet<DoctorId> = slots.iter().map(|v| v.slot.doctor_id).collect();
        let doctors = match wanted.iter().collect::<Vec<_>>().as_slice() {
            [] => Vec::new(),
            [only] => match engine.doctor(**only).await {
                Ok(doctor) => vec![doctor],
                Err(medislot_core::Error::DoctorNotFound(_)) => Vec::new(),
                Err(err) => return Err(err.into()),
            },
            _ => engine.doctors(&DoctorFilter::default()).await?,
        };
        Ok(doctors
            .into_iter()
            .filter(|d| wanted.contains(&d.id))
            .map(|d| (d.id, d.timezone))
            .collect())
    }
}
