//! A doctor's working hours: one JSON document per doctor in `doctor_hours`, read and replaced
//! whole (see the migration for why a document).

use chrono::{DateTime, Utc};
use medislot_core::{DoctorHours, DoctorId, HoursChange, Result};
use sqlx::{Row as _, SqliteConnection};

use crate::error::{corrupt, db};
use crate::rows::micros;

/// The hours of a live doctor, `?1`.
pub(crate) const HOURS: &str = "SELECT h.document FROM doctor_hours h \
     JOIN doctors d ON d.id = h.doctor_id AND d.deleted_at IS NULL WHERE h.doctor_id = ?1";

/// Decodes a stored document.
pub(crate) fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<DoctorHours> {
    let document: String = row.try_get("document").map_err(db)?;
    DoctorHours::from_document(&document)
        .map_err(|err| medislot_core::Error::Store(corrupt(format!("doctor hours: {err}"))))
}

/// The doctor's hours, read on the writer connection under the transaction's lock.
pub(crate) async fn read(conn: &mut SqliteConnection, id: DoctorId) -> Result<Option<DoctorHours>> {
    let row = sqlx::query(HOURS)
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    row.as_ref().map(decode).transpose()
}

/// Replaces (or inserts) the doctor's hours.
pub(crate) async fn write(
    conn: &mut SqliteConnection,
    change: &HoursChange,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO doctor_hours (doctor_id, document, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (doctor_id) DO UPDATE SET document = excluded.document, \
         updated_at = excluded.updated_at",
    )
    .bind(change.doctor.as_uuid())
    .bind(change.hours.to_document())
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}
