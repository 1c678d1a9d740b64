//! A doctor's working hours: one `jsonb` document per doctor in `doctor_hours`, read and
//! replaced whole (see the migration for why a document).

use chrono::{DateTime, Utc};
use medislot_core::{DoctorHours, DoctorId, HoursChange, Result, StoreError};
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::error::corrupt;
use crate::query::Sql;
use crate::script::{Lit, Script, Stmt};
use crate::store::{no_rule, PgStore};

/// Decodes a row of `document` (as text).
pub(crate) fn decode(row: &PgRow) -> Result<DoctorHours, sqlx::Error> {
    let document: String = row.try_get("document")?;
    DoctorHours::from_document(&document)
        .map_err(|err| corrupt(StoreError::Corrupt(format!("doctor hours: {err}"))))
}

/// Reads the doctor's hours in a mutation's first script (after the doctor's lock).
pub(crate) fn read(script: &mut Script, id: DoctorId) -> Stmt {
    script
        .sql("SELECT document::text AS document FROM doctor_hours WHERE doctor_id = ")
        .uuid(id)
        .end()
}

/// Replaces (or inserts) the doctor's hours, in a mutation's second script.
pub(crate) fn write(script: &mut Script, change: &HoursChange, at: DateTime<Utc>) {
    script
        .sql("INSERT INTO doctor_hours (doctor_id, document, updated_at) VALUES (")
        .uuid(change.doctor)
        .sql(", ")
        .text(&change.hours.to_document())
        .sql("::jsonb, ")
        .ts(at)
        .sql(
            ") ON CONFLICT (doctor_id) DO UPDATE SET document = EXCLUDED.document, \
             updated_at = EXCLUDED.updated_at",
        )
        .end();
}

impl PgStore {
    pub(crate) async fn doctor_hours_impl(&self, id: DoctorId) -> Result<Option<DoctorHours>> {
        self.retrying("doctor_hours", &no_rule, move || async move {
            let mut sql = Sql::new(
                "SELECT h.document::text AS document FROM doctor_hours h \
                 JOIN doctors d ON d.id = h.doctor_id AND d.deleted_at IS NULL \
                 WHERE h.doctor_id = ",
            );
            sql.bind(Lit::Uuid(id.as_uuid()));
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(decode).transpose()?)
        })
        .await
    }
}
