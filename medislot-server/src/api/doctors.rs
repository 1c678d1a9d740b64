//! `/doctors`: browse doctors; admins create and delete them and publish their slots.

use super::read_after::ReadAfterHeader;
use chrono::{DateTime, FixedOffset, Utc};
use medislot_core::{DoctorCursor, DoctorFilter, DoctorId, DoctorProfile, NewDoctor, TimeRange};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::body::JsonBody;
use super::model::{decode_cursor, next_cursor, DoctorOut, DoctorPage, SlotOut};
use super::ApiTags;
use crate::auth::Admin;
use crate::problem::errors::{ADMIN, BODY, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Doctor routes.
pub(crate) struct DoctorsApi {
    pub(crate) state: AppState,
}

/// A new doctor.
#[derive(Debug, Object)]
#[oai(example)]
struct CreateDoctor {
    /// Display name: not blank, no control characters; surrounding spaces are trimmed.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    ))]
    name: String,
    /// Specialization, such as "Cardiology": not blank, no control characters; surrounding
    /// spaces are trimmed.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    ))]
    specialization: String,
    /// IANA time zone name, such as "Europe/Paris" (a name the tz database knows; others are
    /// refused with 422 on `timezone`).
    #[oai(validator(
        max_length = 64,
        pattern = r"^\s*[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*\s*$"
    ))]
    timezone: String,
    /// The doctor's profile; empty when left out.
    #[oai(flatten)]
    profile: ProfileIn,
}

impl Example for CreateDoctor {
    fn example() -> Self {
        Self {
            name: "Dr Ada Lovelace".to_owned(),
            specialization: "Cardiology".to_owned(),
            timezone: "Europe/Paris".to_owned(),
            profile: ProfileIn::example(),
        }
    }
}

/// A doctor's profile, as patients read it before booking. Every part may be empty or left
/// out (an absent part is empty).
#[derive(Debug, Default, Object)]
#[oai(example)]
struct ProfileIn {
    /// A short bio (at most 1000 characters): no control characters except tab and line
    /// breaks; surrounding spaces are trimmed.
    #[oai(validator(
        max_length = 1000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    ))]
    bio: Option<String>,
    /// The languages the doctor speaks (at most 10; each at most 40 characters, no control
    /// characters, no comma). Blank entries are dropped; a repeated one is kept once.
    #[oai(validator(
        max_items = 10,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f,]*$"
    ))]
    languages: Option<Vec<String>>,
    /// Where the appointment happens, an address or a room (at most 200 characters, one
    /// line).
    #[oai(validator(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"))]
    location: Option<String>,
}

impl Example for ProfileIn {
    fn example() -> Self {
        Self {
            bio: Some("Twenty years in cardiology; sees adults and teenagers.".to_owned()),
            languages: Some(vec!["English".to_owned(), "French".to_owned()]),
            location: Some("Building B, room 4".to_owned()),
        }
    }
}

impl ProfileIn {
    /// The core's profile: the one validation, whatever the schema already checked.
    fn validate(&self) -> medislot_core::Result<DoctorProfile> {
        DoctorProfile::new(
            self.bio.as_deref().unwrap_or_default(),
            self.languages.as_deref().unwrap_or_default(),
            self.location.as_deref().unwrap_or_default(),
        )
    }
}

/// One slot to publish.
#[derive(Debug, Object)]
struct NewSlot {
    /// Start, RFC 3339 with an offset.
    starts_at: DateTime<FixedOffset>,
    /// End (exclusive), after the start.
    ends_at: DateTime<FixedOffset>,
}

/// Slots to publish, all or none.
#[derive(Debug, Object)]
#[oai(example)]
struct PublishSlots {
    /// 1 to 500 slots (`MAX_SLOTS_PER_PUBLISH`), each starting in the future, that overlap
    /// neither each other nor the doctor's existing slots.
    #[oai(validator(min_items = 1, max_items = 500))]
    slots: Vec<NewSlot>,
}

impl Example for PublishSlots {
    fn example() -> Self {
        let paris = |hour: u32| {
            DateTime::parse_from_rfc3339(&format!("2030-01-07T{hour:02}:00:00+01:00"))
                .unwrap_or_default()
        };
        Self {
            slots: vec![
                NewSlot {
                    starts_at: paris(9),
                    ends_at: paris(10),
                },
                NewSlot {
                    starts_at: paris(10),
                    ends_at: paris(11),
                },
            ],
        }
    }
}

#[derive(ApiResponse)]
enum DoctorCreated {
    /// The doctor.
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<DoctorOut>),
}

#[derive(ApiResponse)]
enum SlotsCreated {
    /// The new slots, in the order given.
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<Vec<SlotOut>>),
}

#[derive(ApiResponse)]
enum DoctorList {
    /// A page of the doctors that match, by name; follow `next_cursor` for the next.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<DoctorPage>),
}

#[derive(ApiResponse)]
enum DoctorFound {
    /// The doctor.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<DoctorOut>),
}

#[derive(ApiResponse)]
enum ProfileUpdated {
    /// The doctor, with the new profile.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<DoctorOut>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted, with its slots.
    #[oai(status = 204)]
    Done,
}

/// Names the slot behind the engine's "starts in the past" refusal (`slots[2].starts_at`).
fn locate_past_start(
    err: medislot_core::Error,
    ranges: &[TimeRange],
    now: DateTime<Utc>,
) -> Problem {
    let past = matches!(
        err,
        medislot_core::Error::Validation {
            field: "starts_at",
            ..
        }
    );
    let problem = Problem::from(err);
    match ranges.iter().position(|r| r.starts_at() <= now) {
        Some(i) if past => problem.with_field(format!("slots[{i}].starts_at")),
        _ => problem,
    }
}

fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Doctors")]
impl DoctorsApi {
    /// List doctors, by name.
    #[oai(path = "/doctors", method = "get", operation_id = "list_doctors")]
    async fn list(
        &self,
        /// Only this specialization (ignoring case).
        specialization: Query<Option<String>>,
        /// Only names containing this text (ignoring case).
        q: Query<Option<String>>,
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
    ) -> Result<DoctorList, ApiError<{ INVALID | UNAVAILABLE }>> {
        let filter = DoctorFilter {
            specialization: trimmed(specialization.0),
            name_contains: trimmed(q.0),
            after: decode_cursor::<DoctorCursor>(cursor.0.as_deref())?,
            limit: None,
        };
        let page = self.state.engine().doctors_page(&filter, limit.0).await?;
        Ok(DoctorList::Ok(Json(DoctorPage {
            next_cursor: next_cursor(&page),
            items: page.items.iter().map(DoctorOut::from).collect(),
        })))
    }

    /// A doctor.
    #[oai(path = "/doctors/:id", method = "get", operation_id = "get_doctor")]
    async fn get(
        &self,
        /// The doctor's id.
        id: Path<Uuid>,
    ) -> Result<DoctorFound, ApiError<{ NOT_FOUND | INVALID | UNAVAILABLE }>> {
        let doctor = self
            .state
            .engine()
            .doctor(DoctorId::from_uuid(id.0))
            .await?;
        Ok(DoctorFound::Ok(Json(DoctorOut::from(&doctor))))
    }

    /// Create a doctor (admin).
    #[oai(path = "/doctors", method = "post", operation_id = "create_doctor")]
    async fn create(
        &self,
        Admin(admin): Admin,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<CreateDoctor>,
    ) -> Result<DoctorCreated, ApiError<{ ADMIN | BODY }>> {
        let JsonBody(body) = body;
        let new = NewDoctor::new(&body.name, &body.specialization, &body.timezone)?
            .with_profile(body.profile.validate()?);
        let doctor = admin.engine(&self.state).create_doctor(new).await?;
        tracing::info!(doctor = %doctor.id, "doctor created");
        Ok(DoctorCreated::Created(Json(DoctorOut::from(&doctor))))
    }

    /// Replace a doctor's profile (admin)
    ///
    /// The body replaces the whole profile: a part left out is emptied.
    #[oai(
        path = "/doctors/:id/profile",
        method = "put",
        operation_id = "update_doctor_profile"
    )]
    async fn update_profile(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<ProfileIn>,
    ) -> Result<ProfileUpdated, ApiError<{ ADMIN | NOT_FOUND | BODY }>> {
        let JsonBody(body) = body;
        let profile = body.validate()?;
        let doctor = admin
            .engine(&self.state)
            .update_doctor_profile(DoctorId::from_uuid(id.0), profile)
            .await?;
        tracing::info!(doctor = %doctor.id, "doctor profile updated");
        Ok(ProfileUpdated::Ok(Json(DoctorOut::from(&doctor))))
    }

    /// Delete a doctor (admin)
    ///
    /// Deletes the doctor and withdraws its slots. Refused with 409 while it has active
    /// bookings; past bookings stay in the history.
    #[oai(
        path = "/doctors/:id",
        method = "delete",
        operation_id = "delete_doctor"
    )]
    async fn delete(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<Deleted, ApiError<{ ADMIN | NOT_FOUND | CONFLICT | INVALID }>> {
        admin
            .engine(&self.state)
            .delete_doctor(DoctorId::from_uuid(id.0))
            .await?;
        tracing::info!(doctor = %id.0, "doctor deleted");
        Ok(Deleted::Done)
    }

    /// Publish slots for a doctor, all or none (admin).
    #[oai(
        path = "/doctors/:id/slots",
        method = "post",
        operation_id = "publish_slots"
    )]
    async fn publish(
        &self,
        Admin(admin): Admin,
        /// The doctor's id.
        id: Path<Uuid>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<PublishSlots>,
    ) -> Result<SlotsCreated, ApiError<{ ADMIN | NOT_FOUND | CONFLICT | BODY }>> {
        let JsonBody(body) = body;
        let ranges = body
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                TimeRange::new(
                    slot.starts_at.with_timezone(&Utc),
                    slot.ends_at.with_timezone(&Utc),
                )
                .map_err(|err| {
                    let problem = Problem::from(err);
                    let field = format!("slots[{i}].{}", problem.field().unwrap_or("ends_at"));
                    problem.with_field(field)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let engine = admin.engine(&self.state);
        let doctor_id = DoctorId::from_uuid(id.0);
        let slots = engine
            .publish_slots(doctor_id, &ranges)
            .await
            .map_err(|err| locate_past_start(err, &ranges, engine.now()))?;
        let doctor = engine.doctor(doctor_id).await?;
        tracing::info!(doctor = %doctor_id, count = slots.len(), "slots published");
        let now = engine.now();
        Ok(SlotsCreated::Created(Json(
            slots
                .iter()
                .map(|slot| {
                    let status = medislot_core::SlotStatus::at(slot, None, now);
                    SlotOut::new(slot, status, doctor.timezone)
                })
                .collect(),
        )))
    }
}
