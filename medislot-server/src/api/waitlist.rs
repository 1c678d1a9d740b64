//! `/waitlist`: a patient joins, sees and leaves their entries; `/doctors/{id}/waitlist`: the
//! clinic's view of a doctor's line. An offer is a hold (`offer_booking_id`): confirm it with
//! `POST /bookings/{id}/confirm`, decline it with `POST /bookings/{id}/cancel`.

use chrono::{DateTime, FixedOffset, NaiveTime, Utc};
use medislot_core::{
    DoctorId, EntryStatus, NewEntry, TimeOfDay, TimeRange, WaitlistEntry, WaitlistEntryId,
    WaitlistTarget,
};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::ApiTags;
use crate::auth::{Admin, Caller};
use crate::problem::errors::{
    ADMIN, BODY, CONFLICT, INVALID, NOT_FOUND, SIGNED_IN, SIGNED_IN_WRITE,
};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Waitlist routes.
pub(crate) struct WaitlistApi {
    pub(crate) state: AppState,
}

/// What to wait for: a doctor (`doctor_id`) or a specialization, exactly one of them.
#[derive(Debug, Object)]
#[oai(example)]
struct JoinRequest {
    /// Wait for this doctor's slots.
    doctor_id: Option<Uuid>,
    /// Or for any doctor's slots of this specialization (compared ignoring case).
    #[oai(validator(min_length = 1, max_length = 200))]
    specialization: Option<String>,
    /// A wanted slot starts at or after this instant (RFC 3339).
    from: DateTime<FixedOffset>,
    /// And before this instant, which must be in the future.
    to: DateTime<FixedOffset>,
    /// Only slots starting at or after this time of day, UTC (`HH:MM`); with `time_to`.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    time_from: Option<String>,
    /// And before this time of day, UTC (`HH:MM`, `00:00` for midnight); with `time_from`.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    time_to: Option<String>,
}

impl Example for JoinRequest {
    fn example() -> Self {
        let from = DateTime::parse_from_rfc3339("2030-01-14T00:00:00Z").unwrap_or_default();
        let to = DateTime::parse_from_rfc3339("2030-01-21T00:00:00Z").unwrap_or_default();
        Self {
            doctor_id: None,
            specialization: Some("Cardiology".to_owned()),
            from,
            to,
            time_from: Some("08:00".to_owned()),
            time_to: Some("12:00".to_owned()),
        }
    }
}

impl JoinRequest {
    fn into_entry(self) -> Result<NewEntry, Problem> {
        let target = match (self.doctor_id, self.specialization) {
            (Some(id), None) => WaitlistTarget::Doctor(DoctorId::from_uuid(id)),
            (None, Some(s)) => WaitlistTarget::Specialization(s),
            _ => {
                return Err(Problem::validation(
                    "doctor_id",
                    "exactly one of doctor_id and specialization is required",
                ))
            }
        };
        let window = TimeRange::new(self.from.with_timezone(&Utc), self.to.with_timezone(&Utc))
            .map_err(|_| Problem::validation("to", "must be after from"))?;
        let time = |text: &str, field: &'static str| {
            NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| Problem::validation(field, "must be HH:MM"))
        };
        let time_of_day = match (self.time_from.as_deref(), self.time_to.as_deref()) {
            (None, None) => None,
            (Some(from), Some(to)) => Some(
                TimeOfDay::between(time(from, "time_from")?, time(to, "time_to")?)
                    .map_err(|_| Problem::validation("time_to", "must be after time_from"))?,
            ),
            _ => return Err(Problem::validation("time_to", "is required with time_from")),
        };
        Ok(NewEntry::new(target, window, time_of_day)?)
    }
}

/// Where an entry stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "WaitlistStatus", rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum WaitlistStatusOut {
    /// In line.
    Waiting,
    /// Holds an offer (`offer_booking_id`) until `offer_until`.
    Offered,
    /// Confirmed its offer.
    Booked,
    /// Declined its offer.
    Declined,
    /// Let its offer lapse.
    Lapsed,
    /// Left the waitlist.
    Left,
}

impl From<EntryStatus> for WaitlistStatusOut {
    fn from(status: EntryStatus) -> Self {
        match status {
            EntryStatus::Waiting => Self::Waiting,
            EntryStatus::Offered => Self::Offered,
            EntryStatus::Booked => Self::Booked,
            EntryStatus::Declined => Self::Declined,
            EntryStatus::Lapsed => Self::Lapsed,
            EntryStatus::Left => Self::Left,
        }
    }
}

/// A place on the waitlist.
#[derive(Debug, Object)]
#[oai(rename = "WaitlistEntry")]
pub(crate) struct WaitlistEntryOut {
    /// The entry's id.
    id: Uuid,
    /// Whose entry it is (shown to admins).
    patient_id: Uuid,
    // Described on `WaitlistStatus` (a plain `$ref`).
    #[allow(missing_docs)]
    status: WaitlistStatusOut,
    /// The doctor it waits for; absent when it waits for a specialization.
    #[oai(skip_serializing_if_is_none)]
    doctor_id: Option<Uuid>,
    /// The specialization it waits for; absent when it waits for a doctor.
    #[oai(skip_serializing_if_is_none)]
    specialization: Option<String>,
    /// A wanted slot starts at or after this instant.
    from: DateTime<Utc>,
    /// And before this one.
    to: DateTime<Utc>,
    /// And at or after this time of day, UTC (`HH:MM`); absent for any time.
    #[oai(skip_serializing_if_is_none)]
    time_from: Option<String>,
    /// And before this time of day, UTC (`HH:MM`, `24:00` for midnight).
    #[oai(skip_serializing_if_is_none)]
    time_to: Option<String>,
    /// When the patient joined: their place in line.
    joined_at: DateTime<Utc>,
    /// The live offer: a hold in the patient's name; confirm or cancel it as a booking.
    #[oai(skip_serializing_if_is_none)]
    offer_booking_id: Option<Uuid>,
    /// When the live offer lapses.
    #[oai(skip_serializing_if_is_none)]
    offer_until: Option<DateTime<Utc>>,
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl WaitlistEntryOut {
    pub(crate) fn new(entry: &WaitlistEntry, now: DateTime<Utc>) -> Self {
        let status = entry.state.status_at(now);
        let live = status == EntryStatus::Offered;
        Self {
            id: entry.id.as_uuid(),
            patient_id: entry.patient_id.as_uuid(),
            status: status.into(),
            doctor_id: entry.doctor_id().map(|d| d.as_uuid()),
            specialization: entry.specialization().map(str::to_owned),
            from: entry.window.starts_at(),
            to: entry.window.ends_at(),
            time_from: entry.time_of_day.map(|t| clock(t.from_minute())),
            time_to: entry.time_of_day.map(|t| clock(t.to_minute())),
            joined_at: entry.joined_at,
            offer_booking_id: entry.state.offer().filter(|_| live).map(|b| b.as_uuid()),
            offer_until: entry.state.offer_until().filter(|_| live),
        }
    }
}

#[derive(ApiResponse)]
enum Joined {
    /// In line (`WAITING`).
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<WaitlistEntryOut>),
}

#[derive(ApiResponse)]
enum EntryList {
    /// The active entries (waiting, or holding an offer), in join order.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<Vec<WaitlistEntryOut>>),
}

#[derive(ApiResponse)]
enum Left {
    /// Left the waitlist.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Waitlist")]
impl WaitlistApi {
    /// Join the waitlist
    ///
    /// Waits for a slot of a doctor or of a specialization starting within `from`..`to` (and
    /// optionally at a time of day). When a matching slot is freed, the first patient in line
    /// is offered it: a hold in their name (`offer_booking_id`) for the offer window. A patient
    /// has at most a few active entries (409 `waitlist_full`).
    #[oai(path = "/waitlist", method = "post", operation_id = "join_waitlist")]
    async fn join(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<JoinRequest>,
    ) -> Result<Joined, ApiError<{ SIGNED_IN_WRITE | BODY | NOT_FOUND | CONFLICT }>> {
        let request = body.0.into_entry()?;
        let engine = caller.engine(&self.state);
        let entry = engine.join_waitlist(caller.patient_id(), request).await?;
        tracing::info!(entry = %entry.id, "joined the waitlist");
        Ok(Joined::Created(Json(WaitlistEntryOut::new(
            &entry,
            engine.now(),
        ))))
    }

    /// My waitlist
    ///
    /// The caller's active entries (waiting, or holding an offer), in join order.
    #[oai(path = "/waitlist", method = "get", operation_id = "list_my_waitlist")]
    async fn mine(&self, caller: Caller) -> Result<EntryList, ApiError<{ SIGNED_IN }>> {
        let engine = self.state.engine();
        let entries = engine.patient_waitlist(caller.patient_id()).await?;
        let now = engine.now();
        Ok(EntryList::Ok(Json(
            entries
                .iter()
                .map(|e| WaitlistEntryOut::new(e, now))
                .collect(),
        )))
    }

    /// Leave the waitlist
    ///
    /// Leaves one of the caller's waiting entries. An entry holding a live offer cannot be
    /// left (409 `waitlist_entry_not_waiting`): decline the offer by cancelling its booking.
    #[oai(
        path = "/waitlist/:id",
        method = "delete",
        operation_id = "leave_waitlist"
    )]
    async fn leave(
        &self,
        caller: Caller,
        /// The entry's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<Left, ApiError<{ SIGNED_IN_WRITE | NOT_FOUND | CONFLICT | INVALID }>> {
        caller
            .engine(&self.state)
            .leave_waitlist(WaitlistEntryId::from_uuid(id.0), caller.patient_id())
            .await?;
        Ok(Left::Done)
    }

    /// A doctor's waitlist
    ///
    /// Admins only: the active entries that want this doctor (by name or by specialization),
    /// in the order offers are made.
    #[oai(
        path = "/doctors/:id/waitlist",
        method = "get",
        operation_id = "list_doctor_waitlist"
    )]
    async fn doctor(
        &self,
        _admin: Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// At most this many entries.
        #[oai(
            default = "super::model::default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
    ) -> Result<EntryList, ApiError<{ ADMIN | NOT_FOUND | INVALID }>> {
        let engine = self.state.engine();
        let entries = engine
            .doctor_waitlist(DoctorId::from_uuid(id.0), limit.0)
            .await?;
        let now = engine.now();
        Ok(EntryList::Ok(Json(
            entries
                .iter()
                .map(|e| WaitlistEntryOut::new(e, now))
                .collect(),
        )))
    }
}
