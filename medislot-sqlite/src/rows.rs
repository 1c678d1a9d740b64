//! The file format of each value, and rows read back as the core's types.
//!
//! Instants are `INTEGER` microseconds since the Unix epoch, UTC; ids are UUIDs as 16-byte
//! `BLOB`s. Queries select columns under fixed aliases (`b_` for a booking, `s_` for a slot,
//! `d_` for a doctor, `a_` for an account) so that one decoder serves every query that joins them.

use chrono::{DateTime, Utc};
use medislot_core::{
    parse_time_zone, Account, AccountId, AccountProfile, Booking, BookingId, BookingState,
    BookingStatus, CancelledBy, Doctor, DoctorId, DoctorProfile, Email, IdempotencyKey,
    LoginThrottle, PatientId, PhoneNumber, Role, SessionGeneration, Slot, SlotId, StateParts,
    StoreError, TimeRange,
};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use crate::error::corrupt;

/// Columns of a booking aliased `b`.
macro_rules! booking_columns {
    () => {
        "b.id AS b_id, b.slot_id AS b_slot_id, b.patient_id AS b_patient_id, \
         b.status AS b_status, b.hold_until AS b_hold_until, b.buffer_until AS b_buffer_until, \
         b.cancelled_by AS b_cancelled_by, b.cancel_reason AS b_cancel_reason, \
         b.idempotency_key AS b_idempotency_key, b.created_at AS b_created_at, \
         b.updated_at AS b_updated_at, b.rescheduled_to AS b_rescheduled_to, \
         b.rescheduled_from AS b_rescheduled_from, b.visit_reason AS b_visit_reason"
    };
}

/// Columns of a slot aliased `s`.
macro_rules! slot_columns {
    () => {
        "s.id AS s_id, s.doctor_id AS s_doctor_id, s.starts_at AS s_starts_at, \
         s.ends_at AS s_ends_at, s.created_at AS s_created_at"
    };
}

/// Columns of a doctor aliased `d`.
macro_rules! doctor_columns {
    () => {
        "d.id AS d_id, d.name AS d_name, d.specialization AS d_specialization, \
         d.timezone AS d_timezone, d.created_at AS d_created_at, d.bio AS d_bio, \
         d.languages AS d_languages, d.location AS d_location"
    };
}

/// Columns of an account aliased `a`.
macro_rules! account_columns {
    () => {
        "a.id AS a_id, a.email AS a_email, a.name AS a_name, a.role AS a_role, \
         a.password_hash AS a_password_hash, a.created_at AS a_created_at, \
         a.phone AS a_phone, a.time_zone AS a_time_zone, \
         a.session_generation AS a_session_generation, a.failed_logins AS a_failed_logins, \
         a.locked_until AS a_locked_until"
    };
}

/// A slot with its occupying booking (if any) under the `s_` and `b_` aliases.
macro_rules! slot_with_occupant {
    () => {
        concat!(
            "SELECT ",
            slot_columns!(),
            ", ",
            booking_columns!(),
            " FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id \
             AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER')"
        )
    };
}

pub(crate) use {
    account_columns, booking_columns, doctor_columns, slot_columns, slot_with_occupant,
};

/// An instant as stored: microseconds since the epoch, UTC. Finer precision is truncated.
pub(crate) fn micros(instant: DateTime<Utc>) -> i64 {
    instant.timestamp_micros()
}

pub(crate) fn instant(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(format_args!("{micros} is not a valid instant")))
}

pub(crate) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(format_args!("column {column}: {e}")))
}

pub(crate) fn get_instant(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, StoreError> {
    instant(get(row, column)?)
}

pub(crate) fn get_optional_instant(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    get::<Option<i64>>(row, column)?.map(instant).transpose()
}

/// The booking in `b_` columns.
pub(crate) fn booking(row: &SqliteRow) -> Result<Booking, StoreError> {
    let status: String = get(row, "b_status")?;
    let cancelled_by: Option<String> = get(row, "b_cancelled_by")?;
    let parts = StateParts {
        status: status
            .parse::<BookingStatus>()
            .map_err(|_| corrupt(format_args!("unknown booking status {status:?}")))?,
        hold_until: get_optional_instant(row, "b_hold_until")?,
        buffer_until: get_optional_instant(row, "b_buffer_until")?,
        cancelled_by: cancelled_by.as_deref().map(str::parse).transpose()?,
        cancel_reason: get(row, "b_cancel_reason")?,
        rescheduled_to: get::<Option<Uuid>>(row, "b_rescheduled_to")?.map(BookingId::from_uuid),
    };
    let key: Option<String> = get(row, "b_idempotency_key")?;
    Ok(Booking {
        id: BookingId::from_uuid(get(row, "b_id")?),
        slot_id: SlotId::from_uuid(get(row, "b_slot_id")?),
        patient_id: PatientId::from_uuid(get(row, "b_patient_id")?),
        state: BookingState::from_parts(parts)?,
        idempotency_key: key
            .map(|k| IdempotencyKey::new(&k))
            .transpose()
            .map_err(corrupt)?,
        created_at: get_instant(row, "b_created_at")?,
        updated_at: get_instant(row, "b_updated_at")?,
        rescheduled_from: get::<Option<Uuid>>(row, "b_rescheduled_from")?.map(BookingId::from_uuid),
        visit_reason: get(row, "b_visit_reason")?,
    })
}

/// The booking in `b_` columns of an outer join, if the join found one.
pub(crate) fn optional_booking(row: &SqliteRow) -> Result<Option<Booking>, StoreError> {
    match get::<Option<Uuid>>(row, "b_id")? {
        Some(_) => booking(row).map(Some),
        None => Ok(None),
    }
}

/// The slot in `s_` columns.
pub(crate) fn slot(row: &SqliteRow) -> Result<Slot, StoreError> {
    let range = TimeRange::new(
        get_instant(row, "s_starts_at")?,
        get_instant(row, "s_ends_at")?,
    )
    .map_err(corrupt)?;
    Ok(Slot {
        id: SlotId::from_uuid(get(row, "s_id")?),
        doctor_id: DoctorId::from_uuid(get(row, "s_doctor_id")?),
        range,
        created_at: get_instant(row, "s_created_at")?,
    })
}

/// The doctor in `d_` columns.
pub(crate) fn doctor(row: &SqliteRow) -> Result<Doctor, StoreError> {
    let timezone: String = get(row, "d_timezone")?;
    let bio: String = get(row, "d_bio")?;
    let languages: String = get(row, "d_languages")?;
    let location: String = get(row, "d_location")?;
    let languages: Vec<&str> = languages.lines().collect();
    Ok(Doctor {
        id: DoctorId::from_uuid(get(row, "d_id")?),
        name: get(row, "d_name")?,
        specialization: get(row, "d_specialization")?,
        timezone: timezone
            .parse()
            .map_err(|_| corrupt(format_args!("unknown time zone {timezone:?}")))?,
        profile: DoctorProfile::new(&bio, &languages, &location).map_err(corrupt)?,
        created_at: get_instant(row, "d_created_at")?,
    })
}

/// The account in `a_` columns.
pub(crate) fn account(row: &SqliteRow) -> Result<Account, StoreError> {
    let role: String = get(row, "a_role")?;
    let email: String = get(row, "a_email")?;
    Ok(Account {
        id: AccountId::from_uuid(get(row, "a_id")?),
        email: Email::parse(&email).map_err(corrupt)?,
        name: get(row, "a_name")?,
        role: Role::from_stored(&role)
            .ok_or_else(|| corrupt(format_args!("unknown role {role:?}")))?,
        password_hash: get(row, "a_password_hash")?,
        created_at: get_instant(row, "a_created_at")?,
        profile: AccountProfile {
            phone: get::<Option<String>>(row, "a_phone")?
                .map(|phone| PhoneNumber::parse(&phone))
                .transpose()
                .map_err(corrupt)?,
            time_zone: get::<Option<String>>(row, "a_time_zone")?
                .map(|zone| parse_time_zone(&zone))
                .transpose()
                .map_err(corrupt)?,
        },
        sessions: SessionGeneration::from_stored(get(row, "a_session_generation")?),
        login_throttle: LoginThrottle {
            failures: get(row, "a_failed_logins")?,
            locked_until: get_optional_instant(row, "a_locked_until")?,
        },
    })
}

/// A booking's state as the columns that hold it.
pub(crate) struct StateColumns {
    pub(crate) status: &'static str,
    pub(crate) hold_until: Option<i64>,
    pub(crate) buffer_until: Option<i64>,
    pub(crate) cancelled_by: Option<&'static str>,
    pub(crate) cancel_reason: Option<String>,
    pub(crate) rescheduled_to: Option<Uuid>,
}

impl StateColumns {
    pub(crate) fn of(state: &BookingState) -> Self {
        let parts = state.to_parts();
        Self {
            status: parts.status.as_str(),
            hold_until: parts.hold_until.map(micros),
            buffer_until: parts.buffer_until.map(micros),
            cancelled_by: parts.cancelled_by.map(CancelledBy::as_str),
            cancel_reason: parts.cancel_reason,
            rescheduled_to: parts.rescheduled_to.map(|id| id.as_uuid()),
        }
    }
}

/// `booking` as it reads back once stored: every instant truncated to whole microseconds.
pub(crate) fn as_stored(booking: Booking) -> Booking {
    let truncate = |t: DateTime<Utc>| DateTime::from_timestamp_micros(micros(t)).unwrap_or(t);
    let state = match booking.state {
        BookingState::Pending { hold_until } => BookingState::Pending {
            hold_until: truncate(hold_until),
        },
        BookingState::Confirmed => BookingState::Confirmed,
        BookingState::Buffer {
            buffer_until,
            reason,
        } => BookingState::Buffer {
            buffer_until: truncate(buffer_until),
            reason,
        },
        BookingState::Cancelled {
            by,
            reason,
            buffer_until,
        } => BookingState::Cancelled {
            by,
            reason,
            buffer_until: buffer_until.map(truncate),
        },
        BookingState::Expired { hold_until } => BookingState::Expired {
            hold_until: truncate(hold_until),
        },
        BookingState::Rescheduled { to } => BookingState::Rescheduled { to },
    };
    Booking {
        state,
        created_at: truncate(booking.created_at),
        updated_at: truncate(booking.updated_at),
        ..booking
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_at_microsecond_precision_and_keep_their_order() {
        let a = DateTime::from_timestamp(1_900_000_000, 123_456_789).unwrap();
        let b = DateTime::from_timestamp(1_900_000_000, 123_457_000).unwrap();
        assert_eq!(
            instant(micros(a)).unwrap(),
            DateTime::from_timestamp(1_900_000_000, 123_456_000).unwrap()
        );
        assert!(micros(a) < micros(b));
        let before_epoch = DateTime::from_timestamp(-5, 0).unwrap();
        assert!(micros(before_epoch) < micros(a));
        assert_eq!(instant(micros(before_epoch)).unwrap(), before_epoch);
    }
}
