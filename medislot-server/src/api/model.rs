//! The JSON shapes the API sends, built from the core's types. Times are RFC 3339 with an
//! offset: UTC, plus the doctor's local time where a person reads it.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use medislot_core::{
    Account, BookingState, BookingStatus, BookingView, CancelledBy, Cursor, Doctor, Page, Role,
    Slot, SlotStatus, SlotView,
};
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::problem::Problem;

/// A user account.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Account", example)]
pub struct AccountOut {
    /// The account id (a patient's bookings carry it as `patient_id`).
    pub id: Uuid,
    /// Login email, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    // Described on `Role`: a property that names a schema is a plain `$ref`, which generators
    // read; a description beside it would wrap it in `allOf`, which several cannot.
    #[allow(missing_docs)]
    pub role: RoleOut,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// A phone number in international form (`+` and digits); absent when none was given.
    #[oai(skip_serializing_if_is_none)]
    pub phone: Option<String>,
    /// The IANA zone the person sees times in; absent when the browser's zone is used.
    #[oai(skip_serializing_if_is_none)]
    pub time_zone: Option<String>,
}

/// An account's role: what the account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Role", rename_all = "snake_case")]
pub enum RoleOut {
    /// Books and cancels their own appointments.
    Patient,
    /// Runs the clinic.
    Admin,
}

impl From<Role> for RoleOut {
    fn from(role: Role) -> Self {
        match role {
            Role::Patient => RoleOut::Patient,
            Role::Admin => RoleOut::Admin,
        }
    }
}

impl From<&Account> for AccountOut {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.as_uuid(),
            email: account.email.to_string(),
            name: account.name.clone(),
            role: account.role.into(),
            created_at: account.created_at,
            phone: account
                .profile
                .phone
                .as_ref()
                .map(|p| p.as_str().to_owned()),
            time_zone: account.profile.time_zone.map(|tz| tz.name().to_owned()),
        }
    }
}

/// A doctor (in a booking: the booked slot's doctor).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Doctor", example)]
pub struct DoctorOut {
    /// The doctor's id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Specialization, such as "Cardiology".
    pub specialization: String,
    /// The IANA time zone the doctor works in.
    pub timezone: String,
    /// A short bio for patients; empty when there is none. May span several lines.
    pub bio: String,
    /// The languages the doctor speaks, in the order the clinic gave them.
    pub languages: Vec<String>,
    /// Where the appointment happens (an address or a room); empty when not given.
    pub location: String,
    /// When the doctor was created.
    pub created_at: DateTime<Utc>,
}

impl From<&Doctor> for DoctorOut {
    fn from(doctor: &Doctor) -> Self {
        Self {
            id: doctor.id.as_uuid(),
            name: doctor.name.clone(),
            specialization: doctor.specialization.clone(),
            timezone: doctor.timezone.name().to_owned(),
            bio: doctor.profile.bio().to_owned(),
            languages: doctor.profile.languages().to_vec(),
            location: doctor.profile.location().to_owned(),
            created_at: doctor.created_at,
        }
    }
}

/// A slot's availability when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SlotStatus", rename_all = "snake_case")]
pub enum SlotStatusOut {
    /// Free to book.
    Available,
    /// Held by a patient until `status_until`.
    Held,
    /// Booked.
    Booked,
    /// Out of the pool after an admin's cancellation, until `status_until`.
    Buffer,
    /// Already started.
    Started,
}

/// A published slot, with its status when read.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Slot", example)]
pub struct SlotOut {
    /// The slot's id.
    pub id: Uuid,
    /// The doctor who offers it.
    pub doctor_id: Uuid,
    /// Start, in UTC.
    pub starts_at: DateTime<Utc>,
    /// End (exclusive), in UTC.
    pub ends_at: DateTime<Utc>,
    /// The doctor's time zone.
    pub timezone: String,
    /// Start in the doctor's time zone.
    pub starts_at_local: DateTime<FixedOffset>,
    /// End in the doctor's time zone.
    pub ends_at_local: DateTime<FixedOffset>,
    // Described on `SlotStatus` (see `AccountOut::role`).
    #[allow(missing_docs)]
    pub status: SlotStatusOut,
    /// When a hold or buffer ends, for `held` and `buffer`.
    #[oai(skip_serializing_if_is_none)]
    pub status_until: Option<DateTime<Utc>>,
}

fn local(at: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    at.with_timezone(&tz).fixed_offset()
}

impl SlotOut {
    /// A slot with `status`, its times also shown in `tz`.
    pub fn new(slot: &Slot, status: SlotStatus, tz: Tz) -> Self {
        let (status, status_until) = match status {
            SlotStatus::Available => (SlotStatusOut::Available, None),
            SlotStatus::Held { until } => (SlotStatusOut::Held, Some(until)),
            SlotStatus::Booked => (SlotStatusOut::Booked, None),
            SlotStatus::Buffer { until } => (SlotStatusOut::Buffer, Some(until)),
            SlotStatus::Started => (SlotStatusOut::Started, None),
        };
        Self {
            id: slot.id.as_uuid(),
            doctor_id: slot.doctor_id.as_uuid(),
            starts_at: slot.range.starts_at(),
            ends_at: slot.range.ends_at(),
            timezone: tz.name().to_owned(),
            starts_at_local: local(slot.range.starts_at(), tz),
            ends_at_local: local(slot.range.ends_at(), tz),
            status,
            status_until,
        }
    }

    /// A slot view with its doctor's zone.
    pub fn from_view(view: &SlotView, tz: Tz) -> Self {
        Self::new(&view.slot, view.status, tz)
    }
}

/// A page of slots.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SlotPage", example)]
pub struct SlotPage {
    /// The slots, by start time.
    pub items: Vec<SlotOut>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A booking's status now: a lapsed hold reads `EXPIRED`, an ended buffer `CANCELLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BookingStatus", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatusOut {
    /// Held until `hold_until`; confirm it to keep the slot.
    Pending,
    /// Booked.
    Confirmed,
    /// Cancelled; final.
    Cancelled,
    /// Cancelled by an admin; the slot stays out of the pool until `buffer_until`.
    Buffer,
    /// The hold lapsed; final.
    Expired,
    /// Moved to another slot; final. `rescheduled_to` names the booking that took its place.
    Rescheduled,
}

impl From<BookingStatus> for BookingStatusOut {
    fn from(status: BookingStatus) -> Self {
        match status {
            BookingStatus::Pending => Self::Pending,
            BookingStatus::Confirmed => Self::Confirmed,
            BookingStatus::Cancelled => Self::Cancelled,
            BookingStatus::Buffer => Self::Buffer,
            BookingStatus::Expired => Self::Expired,
            BookingStatus::Rescheduled => Self::Rescheduled,
        }
    }
}

impl From<BookingStatusOut> for BookingStatus {
    fn from(status: BookingStatusOut) -> Self {
        match status {
            BookingStatusOut::Pending => Self::Pending,
            BookingStatusOut::Confirmed => Self::Confirmed,
            BookingStatusOut::Cancelled => Self::Cancelled,
            BookingStatusOut::Buffer => Self::Buffer,
            BookingStatusOut::Expired => Self::Expired,
            BookingStatusOut::Rescheduled => Self::Rescheduled,
        }
    }
}

/// Who cancelled a booking; present once it is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "CancelledBy", rename_all = "snake_case")]
pub enum CancelledByOut {
    /// Its patient.
    Patient,
    /// An admin.
    Admin,
}

/// The booked slot: when it takes place.
#[derive(Debug, Clone, Object)]
#[oai(rename = "BookedSlot")]
pub struct BookedSlot {
    /// The slot's id.
    pub id: Uuid,
    /// Start, in UTC.
    pub starts_at: DateTime<Utc>,
    /// End (exclusive), in UTC.
    pub ends_at: DateTime<Utc>,
    /// Start in the doctor's time zone.
    pub starts_at_local: DateTime<FixedOffset>,
    /// The doctor's time zone.
    pub timezone: String,
}

/// A booking, with its slot and doctor.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Booking", example)]
pub struct BookingOut {
    /// The booking's id.
    pub id: Uuid,
    /// The patient who owns it.
    pub patient_id: Uuid,
    // Described on `BookingStatus` (see `AccountOut::role`).
    #[allow(missing_docs)]
    pub status: BookingStatusOut,
    /// For a hold: when it lapses unless confirmed.
    #[oai(skip_serializing_if_is_none)]
    pub hold_until: Option<DateTime<Utc>>,
    /// For an admin's cancellation: when the slot returns to the pool.
    #[oai(skip_serializing_if_is_none)]
    pub buffer_until: Option<DateTime<Utc>>,
    // Described on `CancelledBy` (see `AccountOut::role`).
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_by: Option<CancelledByOut>,
    /// The reason given on cancellation.
    #[oai(skip_serializing_if_is_none)]
    pub cancel_reason: Option<String>,
    /// For a `RESCHEDULED` booking: the booking that took its place.
    #[oai(skip_serializing_if_is_none)]
    pub rescheduled_to: Option<Uuid>,
    /// For a booking made by a reschedule: the booking it replaced.
    #[oai(skip_serializing_if_is_none)]
    pub rescheduled_from: Option<Uuid>,
    /// What the visit is for, as the patient gave it when booking or holding.
    #[oai(skip_serializing_if_is_none)]
    pub visit_reason: Option<String>,
    // Described on `BookedSlot` and `Doctor` (see `AccountOut::role`).
    #[allow(missing_docs)]
    pub slot: BookedSlot,
    #[allow(missing_docs)]
    pub doctor: DoctorOut,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

impl BookingOut {
    /// The booking as a reader sees it at `now`.
    pub fn new(view: &BookingView, now: DateTime<Utc>) -> Self {
        let booking = &view.booking;
        let parts = booking.state.to_parts();
        let tz = view.doctor.timezone;
        let hold_until = match booking.state {
            BookingState::Pending { hold_until } | BookingState::Expired { hold_until } => {
                Some(hold_until)
            }
            BookingState::Confirmed
            | BookingState::Buffer { .. }
            | BookingState::Cancelled { .. }
            | BookingState::Rescheduled { .. } => None,
        };
        Self {
            id: booking.id.as_uuid(),
            patient_id: booking.patient_id.as_uuid(),
            status: booking.state.status_at(now).into(),
            hold_until,
            buffer_until: parts.buffer_until,
            cancelled_by: parts.cancelled_by.map(|by| match by {
                CancelledBy::Patient => CancelledByOut::Patient,
                CancelledBy::Admin => CancelledByOut::Admin,
            }),
            cancel_reason: parts.cancel_reason,
            rescheduled_to: parts.rescheduled_to.map(|id| id.as_uuid()),
            rescheduled_from: booking.rescheduled_from.map(|id| id.as_uuid()),
            visit_reason: booking.visit_reason.clone(),
            slot: BookedSlot {
                id: view.slot.id.as_uuid(),
                starts_at: view.slot.range.starts_at(),
                ends_at: view.slot.range.ends_at(),
                starts_at_local: local(view.slot.range.starts_at(), tz),
                timezone: tz.name().to_owned(),
            },
            doctor: DoctorOut::from(&view.doctor),
            created_at: booking.created_at,
            updated_at: booking.updated_at,
        }
    }
}

/// A page of doctors.
#[derive(Debug, Clone, Object)]
#[oai(rename = "DoctorPage", example)]
pub struct DoctorPage {
    /// The doctors, by name.
    pub items: Vec<DoctorOut>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A page of bookings.
#[derive(Debug, Clone, Object)]
#[oai(rename = "BookingPage", example)]
pub struct BookingPage {
    /// The bookings, newest first.
    pub items: Vec<BookingOut>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// The text of a page's next cursor.
pub fn next_cursor<T, C: Cursor>(page: &Page<T, C>) -> Option<String> {
    page.next.as_ref().map(Cursor::encode)
}

/// Decodes the `cursor` query parameter.
///
/// # Errors
/// A 422 [`Problem`] on `cursor` when it was not made by this server.
pub fn decode_cursor<C: Cursor>(text: Option<&str>) -> Result<Option<C>, Problem> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => C::decode(text).map(Some).ok_or_else(|| {
            Problem::validation(
                "cursor",
                "is not a cursor from a previous page; omit it to start over",
            )
        }),
    }
}

/// The page size when a request gives no `limit`.
pub fn default_limit() -> u32 {
    medislot_core::DEFAULT_PAGE_SIZE
}

// Examples shown in the OpenAPI document: one consistent story (Dr Ada Lovelace in Paris, a
// slot on 2030-01-07 at 09:00 local time, booked by patient Grace).

/// An instant given as seconds since the epoch (examples only; every value used is in range).
fn example_instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// 2030-01-07T08:00:00Z, 09:00 in Paris.
const EXAMPLE_START: i64 = 1_894_003_200;

impl Example for AccountOut {
    fn example() -> Self {
        Self {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            email: "grace@example.com".to_owned(),
            name: "Grace".to_owned(),
            role: RoleOut::Patient,
            created_at: example_instant(EXAMPLE_START - 86_400),
            phone: Some("+442079460958".to_owned()),
            time_zone: Some("Europe/London".to_owned()),
        }
    }
}

impl Example for DoctorOut {
    fn example() -> Self {
        Self {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002),
            name: "Dr Ada Lovelace".to_owned(),
            specialization: "Cardiology".to_owned(),
            timezone: "Europe/Paris".to_owned(),
            bio: "Twenty years in cardiology; sees adults and teenagers.".to_owned(),
            languages: vec!["English".to_owned(), "French".to_owned()],
            location: "Building B, room 4".to_owned(),
            created_at: example_instant(EXAMPLE_START - 7 * 86_400),
        }
    }
}

impl Example for SlotOut {
    fn example() -> Self {
        let starts_at = example_instant(EXAMPLE_START);
        let ends_at = example_instant(EXAMPLE_START + 1_800);
        Self {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003),
            doctor_id: DoctorOut::example().id,
            starts_at,
            ends_at,
            timezone: "Europe/Paris".to_owned(),
            starts_at_local: local(starts_at, chrono_tz::Europe::Paris),
            ends_at_local: local(ends_at, chrono_tz::Europe::Paris),
            status: SlotStatusOut::Available,
            status_until: None,
        }
    }
}

impl Example for SlotPage {
    fn example() -> Self {
        Self {
            items: vec![SlotOut::example()],
            next_cursor: None,
        }
    }
}

impl Example for BookingOut {
    fn example() -> Self {
        let slot = SlotOut::example();
        let created_at = example_instant(EXAMPLE_START - 3_600);
        Self {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004),
            patient_id: AccountOut::example().id,
            status: BookingStatusOut::Confirmed,
            hold_until: None,
            buffer_until: None,
            cancelled_by: None,
            cancel_reason: None,
            rescheduled_to: None,
            rescheduled_from: None,
            visit_reason: Some("Follow-up on my blood pressure readings".to_owned()),
            slot: BookedSlot {
                id: slot.id,
                starts_at: slot.starts_at,
                ends_at: slot.ends_at,
                starts_at_local: slot.starts_at_local,
                timezone: slot.timezone,
            },
            doctor: DoctorOut::example(),
            created_at,
            updated_at: created_at,
        }
    }
}

impl Example for DoctorPage {
    fn example() -> Self {
        Self {
            items: vec![DoctorOut::example()],
            next_cursor: None,
        }
    }
}

impl Example for BookingPage {
    fn example() -> Self {
        Self {
            items: vec![BookingOut::example()],
            next_cursor: None,
        }
    }
}
