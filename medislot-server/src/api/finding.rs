//! Finding a time: `/availability` (free slots per day in a zone) and `/next-available` (the
//! first free slot on or after an instant). Both answer for patients, so both keep to the
//! clinic's booking window and say which window that was.

use super::read_after::ReadAfterHeader;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;
use medislot_core::{BookingWindow, DoctorId, FreeSlotFilter};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::model::SlotOut;
use super::ApiTags;
use crate::problem::errors::{INVALID, UNAVAILABLE};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Finding-a-time routes.
pub(crate) struct FindingApi {
    pub(crate) state: AppState,
}

/// The slot starts a patient may book now; an answer counts and offers no slot outside.
#[derive(Debug, Clone, Object)]
#[oai(rename = "BookingWindow")]
pub(crate) struct WindowOut {
    /// The earliest start a patient may book now (included): now plus the clinic's minimum
    /// notice.
    pub(crate) earliest: DateTime<Utc>,
    /// The latest start a patient may book now (included): now plus the clinic's horizon.
    pub(crate) latest: DateTime<Utc>,
}

impl From<BookingWindow> for WindowOut {
    fn from(window: BookingWindow) -> Self {
        Self {
            earliest: window.earliest(),
            latest: window.latest(),
        }
    }
}

/// One day of an availability summary.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AvailabilityDay")]
pub(crate) struct DayOut {
    /// The day, in the summary's zone.
    pub(crate) date: NaiveDate,
    /// How many free slots start that day, inside the booking window.
    pub(crate) free: u64,
    /// The first of them, in UTC; absent when there is none.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) first_free: Option<DateTime<Utc>>,
    /// The same instant in the summary's zone.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) first_free_local: Option<DateTime<FixedOffset>>,
}

/// Free slots per day.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Availability")]
pub(crate) struct AvailabilityOut {
    /// The IANA zone the days are counted in.
    pub(crate) zone: String,
    /// One entry per day from `from` to `to`, in order.
    pub(crate) days: Vec<DayOut>,
    // Described on `BookingWindow` (see `AccountOut::role`).
    #[allow(missing_docs)]
    pub(crate) window: WindowOut,
}

/// The first free slot on or after an instant.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NextAvailable")]
pub(crate) struct NextAvailableOut {
    // The slot, in its doctor's zone; absent when the booking window holds no free slot.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub(crate) slot: Option<SlotOut>,
    // Described on `BookingWindow`.
    #[allow(missing_docs)]
    pub(crate) window: WindowOut,
}

#[derive(ApiResponse)]
enum AvailabilityAnswer {
    /// One entry per day asked for.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<AvailabilityOut>),
}

#[derive(ApiResponse)]
enum NextAnswer {
    /// The first free slot, or none.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<NextAvailableOut>),
}

fn filter(doctor_id: Option<Uuid>, specialization: Option<String>) -> FreeSlotFilter {
    FreeSlotFilter {
        doctor_id: doctor_id.map(DoctorId::from_uuid),
        specialization: specialization
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Slots")]
impl FindingApi {
    /// Free slots per day
    ///
    /// For each day from `from` to `to` (both included, at most 62 days) in the IANA `zone`:
    /// how many slots a patient can book now start that day, and the first of them. Free means
    /// what `GET /slots?available=true` lists (a lapsed hold or an ended buffer is free), and
    /// only slots inside the clinic's booking window count (see `window`).
    #[oai(path = "/availability", method = "get", operation_id = "availability")]
    async fn availability(
        &self,
        /// Only this doctor's slots.
        doctor_id: Query<Option<Uuid>>,
        /// Only slots of doctors with this specialization (ignoring case); no control
        /// characters.
        #[oai(validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
        specialization: Query<Option<String>>,
        /// The IANA time zone the days are counted in, such as `Europe/Paris`.
        zone: Query<String>,
        /// The first day (`YYYY-MM-DD`), in `zone`.
        from: Query<NaiveDate>,
        /// The last day (`YYYY-MM-DD`), in `zone`; at most 61 days after `from`.
        to: Query<NaiveDate>,
        /// The `MediSlot-Written-At` of your last write (see the API's description): the
        /// answer then includes that write, whichever instance made it.
        #[oai(name = "MediSlot-Read-After")]
        _read_after: ReadAfterHeader,
    ) -> Result<AvailabilityAnswer, ApiError<{ INVALID | UNAVAILABLE }>> {
        let tz = parse_zone(&zone.0)?;
        let availability = self
            .state
            .engine()
            .availability(&filter(doctor_id.0, specialization.0), from.0, to.0, tz)
            .await?;
        let days = availability
            .days
            .iter()
            .map(|day| DayOut {
                date: day.date,
                free: day.free,
                first_free: day.first_free,
                first_free_local: day
                    .first_free
                    .map(|at| at.with_timezone(&tz).fixed_offset()),
            })
            .collect();
        Ok(AvailabilityAnswer::Ok(Json(AvailabilityOut {
            zone: tz.name().to_owned(),
            days,
            window: availability.window.into(),
        })))
    }

    /// The next free slot
    ///
    /// The first slot a patient can book now that starts on or after `after` (default: now),
    /// by doctor, by specialization, or among all; absent when the clinic's booking window
    /// holds none.
    #[oai(
        path = "/next-available",
        method = "get",
        operation_id = "next_available"
    )]
    async fn next_available(
        &self,
        /// Only this doctor's slots.
        doctor_id: Query<Option<Uuid>>,
        /// Only slots of doctors with this specialization (ignoring case); no control
        /// characters.
        #[oai(validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
        specialization: Query<Option<String>>,
        /// Only slots starting at or after this instant (RFC 3339; write `+` as `%2B`).
        after: Query<Option<DateTime<FixedOffset>>>,
        /// The `MediSlot-Written-At` of your last write (see the API's description): the
        /// answer then includes that write, whichever instance made it.
        #[oai(name = "MediSlot-Read-After")]
        _read_after: ReadAfterHeader,
    ) -> Result<NextAnswer, ApiError<{ INVALID | UNAVAILABLE }>> {
        let engine = self.state.engine();
        let after = after
            .0
            .map_or_else(|| engine.now(), |t| t.with_timezone(&Utc));
        let found = engine
            .next_available(&filter(doctor_id.0, specialization.0), after)
            .await?;
        let slot = match found.slot {
            Some(view) => match engine.doctor(view.slot.doctor_id).await {
                Ok(doctor) => Some(SlotOut::from_view(&view, doctor.timezone)),
                // Deleted between the two reads: its slots went with it.
                Err(medislot_core::Error::DoctorNotFound(_)) => None,
                Err(err) => return Err(Problem::from(err).into()),
            },
            None => None,
        };
        Ok(NextAnswer::Ok(Json(NextAvailableOut {
            slot,
            window: found.window.into(),
        })))
    }
}

fn parse_zone(zone: &str) -> Result<Tz, Problem> {
    zone.trim().parse::<Tz>().map_err(|_| {
        Problem::validation(
            "zone",
            "is not an IANA time zone name (such as Europe/Paris)",
        )
    })
}
