//! Rows to core types. Every query selects columns through the lists below, with a prefix per
//! table (`d_`, `s_`, `b_`), so one decoder serves every query that joins the table.

use chrono::{DateTime, Utc};
use medislot_core::{
    parse_time_zone, Account, AccountId, AccountProfile, Booking, BookingId, BookingState,
    BookingStatus, CancelledBy, Doctor, DoctorProfile, Email, IdempotencyKey, LoginThrottle,
    PhoneNumber, Role, SessionGeneration, Slot, StateParts, StoreError, TimeRange,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::error::corrupt;

/// The columns of `doctors d`.
pub(crate) const DOCTOR: &str = "d.id AS d_id, d.name AS d_name, \
    d.specialization AS d_specialization, d.timezone AS d_timezone, d.created_at AS d_created_at, \
    d.bio AS d_bio, d.languages AS d_languages, d.location AS d_location";

/// The columns of `slots s`.
pub(crate) const SLOT: &str = "s.id AS s_id, s.doctor_id AS s_doctor_id, \
    s.starts_at AS s_starts_at, s.ends_at AS s_ends_at, s.created_at AS s_created_at";

/// The columns of `bookings b`.
pub(crate) const BOOKING: &str = "b.id AS b_id, b.slot_id AS b_slot_id, \
    b.patient_id AS b_patient_id, b.status AS b_status, b.hold_until AS b_hold_until, \
    b.buffer_until AS b_buffer_until, b.cancelled_by AS b_cancelled_by, \
    b.cancel_reason AS b_cancel_reason, b.idempotency_key AS b_idempotency_key, \
    b.created_at AS b_created_at, b.updated_at AS b_updated_at, \
    b.rescheduled_to AS b_rescheduled_to, b.rescheduled_from AS b_rescheduled_from, \
    b.visit_reason AS b_visit_reason";

/// The columns of `accounts`.
pub(crate) const ACCOUNT: &str = "id, email, name, role, password_hash, created_at, phone, \
    time_zone, session_generation, failed_logins, locked_until";

/// The statuses that may occupy a slot, as an SQL list.
pub(crate) const OCCUPYING: &str = "('PENDING', 'CONFIRMED', 'BUFFER')";

pub(crate) fn doctor(row: &PgRow) -> Result<Doctor, sqlx::Error> {
    let timezone: String = row.try_get("d_timezone")?;
    let bio: String = row.try_get("d_bio")?;
    let languages: Vec<String> = row.try_get("d_languages")?;
    let location: String = row.try_get("d_location")?;
    Ok(Doctor {
        id: row.try_get::<Uuid, _>("d_id")?.into(),
        name: row.try_get("d_name")?,
        specialization: row.try_get("d_specialization")?,
        timezone: medislot_core::parse_timezone(&timezone).map_err(corrupt)?,
        profile: DoctorProfile::new(&bio, &languages, &location).map_err(corrupt)?,
        created_at: row.try_get("d_created_at")?,
    })
}

pub(crate) fn slot(row: &PgRow) -> Result<Slot, sqlx::Error> {
    let starts_at = row.try_get("s_starts_at")?;
    let ends_at = row.try_get("s_ends_at")?;
    Ok(Slot {
        id: row.try_get::<Uuid, _>("s_id")?.into(),
        doctor_id: row.try_get::<Uuid, _>("s_doctor_id")?.into(),
        range: TimeRange::new(starts_at, ends_at).map_err(corrupt)?,
        created_at: row.try_get("s_created_at")?,
    })
}

/// The `bookings b` columns of a row, `None` when an outer join found no booking.
pub(crate) fn opt_booking(row: &PgRow) -> Result<Option<Booking>, sqlx::Error> {
    match row.try_get::<Option<Uuid>, _>("b_id")? {
        Some(_) => booking(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn booking(row: &PgRow) -> Result<Booking, sqlx::Error> {
    let status: String = row.try_get("b_status")?;
    let cancelled_by: Option<String> = row.try_get("b_cancelled_by")?;
    let parts = StateParts {
        status: status.parse::<BookingStatus>().map_err(corrupt)?,
        hold_until: row.try_get("b_hold_until")?,
        buffer_until: row.try_get("b_buffer_until")?,
        cancelled_by: cancelled_by
            .as_deref()
            .map(str::parse::<CancelledBy>)
            .transpose()
            .map_err(corrupt)?,
        cancel_reason: row.try_get("b_cancel_reason")?,
        rescheduled_to: row
            .try_get::<Option<Uuid>, _>("b_rescheduled_to")?
            .map(BookingId::from_uuid),
    };
    let key: Option<String> = row.try_get("b_idempotency_key")?;
    Ok(Booking {
        id: row.try_get::<Uuid, _>("b_id")?.into(),
        slot_id: row.try_get::<Uuid, _>("b_slot_id")?.into(),
        patient_id: row.try_get::<Uuid, _>("b_patient_id")?.into(),
        state: BookingState::from_parts(parts).map_err(corrupt)?,
        idempotency_key: key
            .as_deref()
            .map(IdempotencyKey::new)
            .transpose()
            .map_err(corrupt)?,
        created_at: row.try_get("b_created_at")?,
        updated_at: row.try_get("b_updated_at")?,
        rescheduled_from: row
            .try_get::<Option<Uuid>, _>("b_rescheduled_from")?
            .map(BookingId::from_uuid),
        visit_reason: row.try_get("b_visit_reason")?,
    })
}

pub(crate) fn account(row: &PgRow) -> Result<Account, sqlx::Error> {
    let id: Uuid = row.try_get("id")?;
    let email: String = row.try_get("email")?;
    let role: String = row.try_get("role")?;
    let created_at: DateTime<Utc> = row.try_get("created_at")?;
    Ok(Account {
        id: AccountId::from_uuid(id),
        email: Email::parse(&email).map_err(corrupt)?,
        name: row.try_get("name")?,
        role: Role::from_stored(&role)
            .ok_or_else(|| corrupt(StoreError::Corrupt(format!("unknown role {role:?}"))))?,
        password_hash: row.try_get("password_hash")?,
        created_at,
        profile: AccountProfile {
            phone: row
                .try_get::<Option<String>, _>("phone")?
                .map(|phone| PhoneNumber::parse(&phone))
                .transpose()
                .map_err(corrupt)?,
            time_zone: row
                .try_get::<Option<String>, _>("time_zone")?
                .map(|zone| parse_time_zone(&zone))
                .transpose()
                .map_err(corrupt)?,
        },
        sessions: SessionGeneration::from_stored(row.try_get("session_generation")?),
        login_throttle: LoginThrottle {
            failures: u32::try_from(row.try_get::<i32, _>("failed_logins")?).map_err(corrupt)?,
            locked_until: row.try_get("locked_until")?,
        },
    })
}
