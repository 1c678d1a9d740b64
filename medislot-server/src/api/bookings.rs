//! `/bookings`: book, confirm a hold, cancel, reschedule, and read bookings. A patient only ever sees their
//! own; another patient's booking answers exactly like a missing one (404).

use chrono::{DateTime, FixedOffset, Utc};
use medislot_core::{
    Booking, BookingCursor, BookingId, BookingOrder, BookingQuery, Created, DoctorId, Email,
    PatientId, SlotId,
};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::idempotency::IdempotencyKeyHeader;
use super::model::{decode_cursor, next_cursor, BookingOut, BookingPage, BookingStatusOut};
use super::ApiTags;
use crate::auth::{Caller, Session};
use crate::calendar::Appointment;
use crate::problem::errors::{BODY, CONFLICT, INVALID, NOT_FOUND, SIGNED_IN, SIGNED_IN_WRITE};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Booking routes.
pub(crate) struct BookingsApi {
    pub(crate) state: AppState,
}

/// What to book.
#[derive(Debug, Object)]
#[oai(example)]
struct BookRequest {
    /// The slot to book.
    slot_id: Uuid,
    /// What the visit is for, in the patient's words: optional, up to 500 characters; tabs
    /// and line breaks are kept, other control characters are refused. Shown to the clinic.
    #[oai(validator(
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    ))]
    visit_reason: Option<String>,
}

impl Example for BookRequest {
    fn example() -> Self {
        Self {
            slot_id: super::model::SlotOut::example().id,
            visit_reason: Some(VISIT_REASON_EXAMPLE.to_owned()),
        }
    }
}

const VISIT_REASON_EXAMPLE: &str = "Follow-up on my blood pressure readings";

/// What a hold may say (the body may be left out).
#[derive(Debug, Object)]
#[oai(example)]
pub(super) struct HoldRequest {
    /// What the visit is for, as for booking.
    #[oai(validator(
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    ))]
    pub(super) visit_reason: Option<String>,
}

impl Example for HoldRequest {
    fn example() -> Self {
        Self {
            visit_reason: Some(VISIT_REASON_EXAMPLE.to_owned()),
        }
    }
}

/// Where to move a booking.
#[derive(Debug, Object)]
#[oai(example)]
struct RescheduleRequest {
    /// The free slot to move the booking to (for an admin, of any doctor).
    slot_id: Uuid,
}

impl Example for RescheduleRequest {
    fn example() -> Self {
        Self {
            slot_id: super::model::SlotOut::example().id,
        }
    }
}

/// Why a booking is cancelled.
#[derive(Debug, Object)]
#[oai(example)]
struct CancelRequest {
    /// An optional reason, up to 500 characters; tabs and line breaks are kept, other control
    /// characters are refused.
    #[oai(validator(
        max_length = 500,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    ))]
    reason: Option<String>,
}

impl Example for CancelRequest {
    fn example() -> Self {
        Self {
            reason: Some("I cannot come after all".to_owned()),
        }
    }
}

#[derive(ApiResponse)]
enum Booked {
    /// The slot is booked (`CONFIRMED`).
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<BookingOut>),
    /// A retry with the same `Idempotency-Key`: the booking the first request made, as it is
    /// now; nothing new was booked.
    #[oai(status = 200, content_type = "application/json")]
    Replayed(
        Json<BookingOut>,
        /// `true`: this answers a retry, from what the first request made.
        #[oai(header = "Idempotent-Replayed")]
        bool,
    ),
}

#[derive(ApiResponse)]
enum Rescheduled {
    /// The new booking (`CONFIRMED` on the new slot; `rescheduled_from` names the old one,
    /// which is now `RESCHEDULED`).
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<BookingOut>),
    /// A retry with the same `Idempotency-Key`: the booking the first request made, as it is
    /// now; nothing moved again.
    #[oai(status = 200, content_type = "application/json")]
    Replayed(
        Json<BookingOut>,
        /// `true`: this answers a retry, from what the first request made.
        #[oai(header = "Idempotent-Replayed")]
        bool,
    ),
}

#[derive(ApiResponse)]
enum BookingList {
    /// A page of bookings; follow `next_cursor` for the next.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<BookingPage>),
}

#[derive(ApiResponse)]
enum BookingFound {
    /// The booking.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<BookingOut>),
}

#[derive(ApiResponse)]
enum CalendarFile {
    /// The appointment as an iCalendar (RFC 5545) file with one event.
    #[oai(status = 200, content_type = "text/calendar")]
    Ok(
        PlainText<String>,
        /// `attachment`, with a file name.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

#[derive(ApiResponse)]
enum BookingChanged {
    /// The booking after the change.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<BookingOut>),
}

/// Counts a booking operation's outcome in the metrics and passes the result on.
pub(crate) fn record_outcome<T>(
    state: &AppState,
    operation: &'static str,
    result: Result<T, Problem>,
) -> Result<T, Problem> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(problem) => problem.code(),
    };
    state.metrics().booking_outcome(operation, outcome);
    result
}

/// How long the answer to a committed write keeps trying to read the booking's slot and doctor
/// while the store is unavailable.
const ANSWER_READ_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// The answer for a booking just written: the write's own result, with its slot and doctor.
///
/// The write has committed, so an error now would tell the client that it failed: a store
/// that is unavailable or busy (a connection lost, the database restarting) is asked again,
/// with growing pauses, for up to [`ANSWER_READ_PATIENCE`]. Only a store still failing after
/// that is answered 503, as before; a retry with the same `Idempotency-Key` then answers with
/// the booking.
pub(crate) async fn booking_answer(
    state: &AppState,
    booking: Booking,
) -> Result<BookingOut, Problem> {
    let give_up = tokio::time::Instant::now() + ANSWER_READ_PATIENCE;
    let mut pause = std::time::Duration::from_millis(10);
    let mut view = loop {
        match state.engine().booking(booking.id).await {
            Ok(view) => break view,
            Err(medislot_core::Error::Store(error))
                if error.is_transient() && tokio::time::Instant::now() + pause < give_up =>
            {
                tracing::warn!(booking = %booking.id, %error, "reading a committed booking back; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(250));
            }
            Err(error) => return Err(error.into()),
        }
    };
    // The write's own result is the truth for this answer, even if a sweep ran since.
    view.booking = booking;
    Ok(BookingOut::new(&view, state.engine().now()))
}

/// The answer for a booking a mutation made (or replayed): from the slot and doctor it read
/// under its locks when it read them, else as [`booking_answer`] builds it.
pub(crate) async fn created_answer(
    state: &AppState,
    created: &Created,
) -> Result<BookingOut, Problem> {
    match created.view() {
        Some(view) => Ok(BookingOut::new(&view, state.engine().now())),
        None => booking_answer(state, created.booking.clone()).await,
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Bookings")]
impl BookingsApi {
    /// Book a free slot
    ///
    /// Books the slot at once (`CONFIRMED`). Send an `Idempotency-Key` so that a retry returns
    /// the first booking instead of booking twice; another patient booking the same slot gets
    /// 409 `slot_unavailable`. A slot outside the clinic's booking window gets 422 `too_soon`
    /// or `too_far_ahead`, whose detail says the earliest or latest start allowed now.
    #[oai(path = "/bookings", method = "post", operation_id = "book")]
    async fn book(
        &self,
        session: Session,
        /// A client-chosen key (1 to 200 visible ASCII characters, sent once) identifying this
        /// attempt. A key that is sent but not valid is refused (422), never ignored.
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 200, pattern = r"^[!-~]+$")
        )]
        idempotency_key: IdempotencyKeyHeader,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<BookRequest>,
    ) -> Result<Booked, ApiError<{ SIGNED_IN_WRITE | BODY | NOT_FOUND | CONFLICT }>> {
        // The session's account is read with the booking's own locks: one round trip less.
        let result = session
            .engine(&self.state)
            .book_or_replay(
                SlotId::from_uuid(body.0.slot_id),
                session.patient_id(),
                idempotency_key.into_key(),
                body.0.visit_reason,
            )
            .await
            .map_err(Problem::from);
        let created = record_outcome(&self.state, "book", result)?;
        let booking = &created.booking;
        tracing::info!(booking = %booking.id, slot = %booking.slot_id, replayed = created.replayed, "booked");
        let answer = Json(created_answer(&self.state, &created).await?);
        Ok(if created.replayed {
            Booked::Replayed(answer, true)
        } else {
            Booked::Created(answer)
        })
    }

    /// List bookings
    ///
    /// Bookings, newest first: a patient's own, or (for an admin) everyone's, with filters.
    #[oai(path = "/bookings", method = "get", operation_id = "list_bookings")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        /// Only bookings with this status now.
        status: Query<Option<BookingStatusOut>>,
        /// Only bookings with this doctor.
        doctor_id: Query<Option<Uuid>>,
        /// Admin only: the patient's account id or email. Ignored for patients.
        patient: Query<Option<String>>,
        /// Only bookings of slots starting at or after this instant (RFC 3339; write `+` as `%2B`).
        from: Query<Option<DateTime<FixedOffset>>>,
        /// Only bookings of slots starting before this instant (RFC 3339; write `+` as `%2B`).
        to: Query<Option<DateTime<FixedOffset>>>,
        /// Page size.
        #[oai(
            default = "super::model::default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<BookingList, ApiError<{ SIGNED_IN | INVALID }>> {
        let engine = self.state.engine();
        let mut query = BookingQuery {
            patient_id: None,
            doctor_id: doctor_id.0.map(DoctorId::from_uuid),
            slot_id: None,
            status: status.0.map(Into::into),
            from: from.0.map(|t| t.with_timezone(&Utc)),
            to: to.0.map(|t| t.with_timezone(&Utc)),
            after: decode_cursor::<BookingCursor>(cursor.0.as_deref())?,
            limit: limit.0,
            order: BookingOrder::Newest,
        };
        let page = if caller.is_admin() {
            match patient
                .0
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                None => {}
                Some(text) => match self.patient_filter(text).await? {
                    Some(id) => query.patient_id = Some(id),
                    None => {
                        return Ok(BookingList::Ok(Json(BookingPage {
                            items: Vec::new(),
                            next_cursor: None,
                        })))
                    }
                },
            }
            engine.bookings(&query).await?
        } else {
            engine.patient_bookings(caller.patient_id(), &query).await?
        };
        let now = engine.now();
        Ok(BookingList::Ok(Json(BookingPage {
            next_cursor: next_cursor(&page),
            items: page.items.iter().map(|v| BookingOut::new(v, now)).collect(),
        })))
    }

    /// A booking: the caller's own, or any for an admin.
    #[oai(path = "/bookings/:id", method = "get", operation_id = "get_booking")]
    async fn get(
        &self,
        caller: Caller,
        /// The booking's id.
        id: Path<Uuid>,
    ) -> Result<BookingFound, ApiError<{ SIGNED_IN | NOT_FOUND | INVALID }>> {
        let id = BookingId::from_uuid(id.0);
        let view = self.state.engine().booking(id).await?;
        if !caller.may_see(&view.booking) {
            return Err(medislot_core::Error::BookingNotFound(id).into());
        }
        Ok(BookingFound::Ok(Json(BookingOut::new(
            &view,
            self.state.engine().now(),
        ))))
    }

    /// Add a booking to a calendar
    ///
    /// The appointment as an iCalendar (RFC 5545) file, for any calendar app. Its `UID` stays
    /// the same across reschedules and its `SEQUENCE` rises with every change, so opening a
    /// newer file updates the one event; a cancelled appointment is `METHOD:CANCEL`. The
    /// booking of an earlier time, before a reschedule, gives the appointment as it is now.
    /// Only for the booking's patient and admins; another patient's booking is 404.
    #[oai(
        path = "/bookings/:id/calendar.ics",
        method = "get",
        operation_id = "booking_calendar"
    )]
    async fn calendar(
        &self,
        caller: Caller,
        /// The booking's id.
        id: Path<Uuid>,
    ) -> Result<CalendarFile, ApiError<{ SIGNED_IN | NOT_FOUND | INVALID }>> {
        let id = BookingId::from_uuid(id.0);
        let engine = self.state.engine();
        let appointment = Appointment::of(engine, id).await?;
        if !caller.may_see(&appointment.view.booking) {
            return Err(medislot_core::Error::BookingNotFound(id).into());
        }
        Ok(CalendarFile::Ok(
            PlainText(appointment.ics(engine.now(), None)),
            format!(
                "attachment; filename=\"appointment-{}.ics\"",
                appointment.first
            ),
        ))
    }

    /// Confirm a hold
    ///
    /// Confirms the caller's hold: `CONFIRMED`, or 409 `hold_expired` when it lapsed.
    #[oai(
        path = "/bookings/:id/confirm",
        method = "post",
        operation_id = "confirm_booking"
    )]
    async fn confirm(
        &self,
        caller: Caller,
        /// The booking's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<BookingChanged, ApiError<{ SIGNED_IN_WRITE | NOT_FOUND | CONFLICT | INVALID }>>
    {
        let result = caller
            .engine(&self.state)
            .confirm(BookingId::from_uuid(id.0), caller.patient_id())
            .await
            .map_err(Problem::from);
        let booking = record_outcome(&self.state, "confirm", result)?;
        Ok(BookingChanged::Ok(Json(
            booking_answer(&self.state, booking).await?,
        )))
    }

    /// Cancel a booking
    ///
    /// A patient cancels their own (`CANCELLED`, the slot is free at once); an admin cancels
    /// any (`BUFFER`: the slot stays out of the pool for a while). Cancelling a final booking
    /// is 409 and changes nothing.
    #[oai(
        path = "/bookings/:id/cancel",
        method = "post",
        operation_id = "cancel_booking"
    )]
    async fn cancel(
        &self,
        caller: Caller,
        /// The booking's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<Option<CancelRequest>>,
    ) -> Result<BookingChanged, ApiError<{ SIGNED_IN_WRITE | BODY | NOT_FOUND | CONFLICT }>> {
        let id = BookingId::from_uuid(id.0);
        let reason = body.0.and_then(|b| b.reason);
        let engine = caller.engine(&self.state);
        let result = if caller.is_admin() {
            engine.cancel_as_admin(id, reason).await
        } else {
            engine
                .cancel_as_patient(id, caller.patient_id(), reason)
                .await
        }
        .map_err(Problem::from);
        let booking = record_outcome(&self.state, "cancel", result)?;
        tracing::info!(booking = %booking.id, by_admin = caller.is_admin(), "cancelled");
        Ok(BookingChanged::Ok(Json(
            booking_answer(&self.state, booking).await?,
        )))
    }

    /// Reschedule a booking
    ///
    /// Moves a `CONFIRMED` booking to another free slot in one step: a new `CONFIRMED` booking
    /// takes the slot and the old one becomes `RESCHEDULED`, freeing its slot; or nothing
    /// changes. A patient moves their own booking, until the clinic's cut-off before it starts
    /// (409 `too_late_to_change` says until when), to a slot inside the clinic's booking window
    /// (422 `too_soon` or `too_far_ahead`); an admin moves any booking, to any doctor's slot,
    /// at any time. The target taken is 409 `slot_unavailable`; the booking's own slot, or a
    /// slot that has started, is 422. Send an `Idempotency-Key` so that a retry returns
    /// the new booking instead of failing.
    #[oai(
        path = "/bookings/:id/reschedule",
        method = "post",
        operation_id = "reschedule_booking"
    )]
    async fn reschedule(
        &self,
        caller: Caller,
        /// The booking's id.
        id: Path<Uuid>,
        /// A client-chosen key (1 to 200 visible ASCII characters, sent once) identifying this
        /// attempt. A key that is sent but not valid is refused (422), never ignored.
        #[oai(
            name = "Idempotency-Key",
            validator(min_length = 1, max_length = 200, pattern = r"^[!-~]+$")
        )]
        idempotency_key: IdempotencyKeyHeader,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<RescheduleRequest>,
    ) -> Result<Rescheduled, ApiError<{ SIGNED_IN_WRITE | BODY | NOT_FOUND | CONFLICT }>> {
        let id = BookingId::from_uuid(id.0);
        let target = SlotId::from_uuid(body.0.slot_id);
        // An admin moves any booking; a patient only their own.
        let patient = (!caller.is_admin()).then(|| caller.patient_id());
        let result = caller
            .engine(&self.state)
            .reschedule_or_replay(id, patient, target, idempotency_key.into_key())
            .await
            .map_err(Problem::from);
        let created = record_outcome(&self.state, "reschedule", result)?;
        let booking = &created.booking;
        tracing::info!(
            booking = %booking.id,
            from = ?booking.rescheduled_from,
            slot = %booking.slot_id,
            by_admin = caller.is_admin(),
            replayed = created.replayed,
            "rescheduled"
        );
        let answer = Json(created_answer(&self.state, &created).await?);
        Ok(if created.replayed {
            Rescheduled::Replayed(answer, true)
        } else {
            Rescheduled::Created(answer)
        })
    }
}

impl BookingsApi {
    /// The patient a filter names, by account id or email; `None` when nobody matches.
    async fn patient_filter(&self, text: &str) -> Result<Option<PatientId>, Problem> {
        if let Ok(uuid) = Uuid::parse_str(text) {
            return Ok(Some(PatientId::from_uuid(uuid)));
        }
        let email = Email::parse(text).map_err(|_| {
            Problem::validation("patient", "must be a patient's account id or email")
        })?;
        Ok(self
            .state
            .accounts()
            .account_by_email(&email)
            .await?
            .map(|a| a.patient_id()))
    }
}
