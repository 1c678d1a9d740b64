//! The waitlist's rows: the reads a [`Claim`](medislot_core::Claim) asks for, the writes of
//! [`Changes`](medislot_core::Changes), and the listings.

use chrono::{DateTime, Utc};
use medislot_core::waitlist::minute_of_day;
use medislot_core::{
    BookingId, DoctorId, EntryChange, EntryState, PatientId, Result, Slot, StoreError, TimeOfDay,
    TimeRange, WaitlistEntry, WaitlistEntryId, WaitlistQuery, WaitlistTarget,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::error::{corrupt, db};
use crate::rows::{get, get_instant, get_optional_instant, micros};

/// Columns of a waitlist entry aliased `w`.
macro_rules! entry_columns {
    () => {
        "w.id AS w_id, w.patient_id AS w_patient_id, w.doctor_id AS w_doctor_id, \
         w.specialization AS w_specialization, w.window_from AS w_window_from, \
         w.window_to AS w_window_to, w.day_from AS w_day_from, w.day_to AS w_day_to, \
         w.status AS w_status, w.offer_booking_id AS w_offer_booking_id, \
         w.offer_until AS w_offer_until, w.joined_at AS w_joined_at, w.updated_at AS w_updated_at"
    };
}

/// The first entry waiting for the doctor `?1`'s slot starting at `?2` (minute of day `?3`),
/// walking `waitlist_active_by_doctor` in join order.
const FIRST_FOR_DOCTOR: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM waitlist w WHERE w.doctor_id = ?1 AND w.status IN ('WAITING', 'OFFERED') \
     AND w.status = 'WAITING' AND w.window_from <= ?2 AND w.window_to > ?2 \
     AND (w.day_from IS NULL OR (w.day_from <= ?3 AND ?3 < w.day_to)) \
     ORDER BY w.joined_at, w.id LIMIT 1"
);

/// The same for the specialization `?1`, through `waitlist_active_by_specialization`.
const FIRST_FOR_SPECIALIZATION: &str = concat!(
    "SELECT ",
    entry_columns!(),
    " FROM waitlist w WHERE w.specialization = ?1 COLLATE NOCASE \
     AND w.status IN ('WAITING', 'OFFERED') \
     AND w.status = 'WAITING' AND w.window_from <= ?2 AND w.window_to > ?2 \
     AND (w.day_from IS NULL OR (w.day_from <= ?3 AND ?3 < w.day_to)) \
     ORDER BY w.joined_at, w.id LIMIT 1"
);

/// The entry in `w_` columns.
pub(crate) fn entry(row: &SqliteRow) -> Result<WaitlistEntry, StoreError> {
    let doctor: Option<Uuid> = get(row, "w_doctor_id")?;
    let specialization: Option<String> = get(row, "w_specialization")?;
    let target = match (doctor, specialization) {
        (Some(id), None) => WaitlistTarget::Doctor(DoctorId::from_uuid(id)),
        (None, Some(s)) => WaitlistTarget::Specialization(s),
        _ => {
            return Err(corrupt(
                "a waitlist entry waits for one doctor or specialization",
            ))
        }
    };
    let minute = |column: &str| -> Result<Option<u16>, StoreError> {
        get::<Option<i64>>(row, column)?
            .map(|m| u16::try_from(m).map_err(corrupt))
            .transpose()
    };
    let time_of_day = match (minute("w_day_from")?, minute("w_day_to")?) {
        (Some(from), Some(to)) => Some(TimeOfDay::new(from, to).map_err(corrupt)?),
        _ => None,
    };
    let status: String = get(row, "w_status")?;
    let state = EntryState::from_parts(
        &status,
        get::<Option<Uuid>>(row, "w_offer_booking_id")?.map(BookingId::from_uuid),
        get_optional_instant(row, "w_offer_until")?,
    )?;
    Ok(WaitlistEntry {
        id: WaitlistEntryId::from_uuid(get(row, "w_id")?),
        patient_id: PatientId::from_uuid(get(row, "w_patient_id")?),
        target,
        window: TimeRange::new(
            get_instant(row, "w_window_from")?,
            get_instant(row, "w_window_to")?,
        )
        .map_err(corrupt)?,
        time_of_day,
        state,
        joined_at: get_instant(row, "w_joined_at")?,
        updated_at: get_instant(row, "w_updated_at")?,
    })
}

fn entries(rows: &[SqliteRow]) -> Result<Vec<WaitlistEntry>> {
    Ok(rows
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, StoreError>>()?)
}

/// The first entry, in join order, waiting for `slot` of a doctor with `specialization`: the
/// earlier of the doctor's and the specialization's first.
pub(crate) async fn first_waiting(
    conn: &mut SqliteConnection,
    slot: &Slot,
    specialization: &str,
) -> Result<Option<WaitlistEntry>> {
    let start = micros(slot.range.starts_at());
    let minute = i64::from(minute_of_day(slot.range.starts_at()));
    let by_doctor = sqlx::query(FIRST_FOR_DOCTOR)
        .bind(slot.doctor_id.as_uuid())
        .bind(start)
        .bind(minute)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let by_specialization = sqlx::query(FIRST_FOR_SPECIALIZATION)
        .bind(specialization)
        .bind(start)
        .bind(minute)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    let mut found = Vec::new();
    for row in by_doctor.iter().chain(&by_specialization) {
        found.push(entry(row)?);
    }
    Ok(found.into_iter().min_by_key(|e| (e.joined_at, e.id)))
}

/// The specialization of the doctor `id`, deleted or not.
pub(crate) async fn specialization_of(
    conn: &mut SqliteConnection,
    id: DoctorId,
) -> Result<Option<String>> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT specialization FROM doctors WHERE id = ?1")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await
            .map_err(db)?;
    Ok(found)
}

/// The entries whose live offer is one of `bookings`.
pub(crate) async fn offers(
    conn: &mut SqliteConnection,
    bookings: &[BookingId],
) -> Result<Vec<WaitlistEntry>> {
    let mut found = Vec::new();
    for id in bookings {
        let row = sqlx::query(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM waitlist w WHERE w.offer_booking_id = ?1 AND w.status = 'OFFERED'"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            found.push(entry(&row)?);
        }
    }
    Ok(found)
}

/// The entry `id`.
pub(crate) async fn by_id(
    conn: &mut SqliteConnection,
    id: WaitlistEntryId,
) -> Result<Option<WaitlistEntry>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM waitlist w WHERE w.id = ?1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    Ok(row.as_ref().map(entry).transpose()?)
}

/// The entries passing `query`, in join order.
pub(crate) async fn list(
    conn: &mut SqliteConnection,
    query: &WaitlistQuery,
) -> Result<Vec<WaitlistEntry>> {
    let mut sql: QueryBuilder<'_, Sqlite> = QueryBuilder::new(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM waitlist w WHERE w.status IN ('WAITING', 'OFFERED')"
    ));
    if let Some(patient) = query.patient_id {
        sql.push(" AND w.patient_id = ")
            .push_bind(patient.as_uuid());
    }
    if let Some((doctor, specialization)) = &query.doctor {
        sql.push(" AND (w.doctor_id = ")
            .push_bind(doctor.as_uuid())
            .push(" OR w.specialization = ")
            .push_bind(specialization.clone())
            .push(" COLLATE NOCASE)");
    }
    sql.push(" ORDER BY w.joined_at, w.id LIMIT ")
        .push_bind(i64::from(query.limit));
    let rows = sql.build().fetch_all(conn).await.map_err(db)?;
    entries(&rows)
}

/// The doctor's waiting entries (by id or by `specialization`) whose window overlaps `range`,
/// in join order.
pub(crate) async fn doctor_waiting(
    conn: &mut SqliteConnection,
    doctor: DoctorId,
    specialization: &str,
    range: TimeRange,
) -> Result<Vec<WaitlistEntry>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM waitlist w WHERE w.status IN ('WAITING', 'OFFERED') AND w.status = 'WAITING' \
         AND (w.doctor_id = ?1 OR w.specialization = ?2 COLLATE NOCASE) \
         AND w.window_from < ?4 AND w.window_to > ?3 ORDER BY w.joined_at, w.id"
    ))
    .bind(doctor.as_uuid())
    .bind(specialization)
    .bind(micros(range.starts_at()))
    .bind(micros(range.ends_at()))
    .fetch_all(conn)
    .await
    .map_err(db)?;
    entries(&rows)
}

/// The patient's entries stored `WAITING` or `OFFERED`.
pub(crate) async fn patient_entries(
    conn: &mut SqliteConnection,
    patient: PatientId,
) -> Result<Vec<WaitlistEntry>> {
    list(
        conn,
        &WaitlistQuery {
            patient_id: Some(patient),
            doctor: None,
            limit: u32::MAX,
        },
    )
    .await
}

/// Inserts a new entry.
pub(crate) async fn insert(conn: &mut SqliteConnection, e: &WaitlistEntry) -> Result<()> {
    let columns = StateColumns::of(&e.state);
    sqlx::query(
        "INSERT INTO waitlist (id, patient_id, doctor_id, specialization, window_from, \
         window_to, day_from, day_to, status, offer_booking_id, offer_until, joined_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(e.id.as_uuid())
    .bind(e.patient_id.as_uuid())
    .bind(e.doctor_id().map(|d| d.as_uuid()))
    .bind(e.specialization())
    .bind(micros(e.window.starts_at()))
    .bind(micros(e.window.ends_at()))
    .bind(e.time_of_day.map(|t| i64::from(t.from_minute())))
    .bind(e.time_of_day.map(|t| i64::from(t.to_minute())))
    .bind(columns.status)
    .bind(columns.offer)
    .bind(columns.until)
    .bind(micros(e.joined_at))
    .bind(micros(e.updated_at))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Writes an entry's new state, as of `at`.
pub(crate) async fn write_state(
    conn: &mut SqliteConnection,
    change: &EntryChange,
    at: DateTime<Utc>,
) -> Result<()> {
    let columns = StateColumns::of(&change.state);
    sqlx::query(
        "UPDATE waitlist SET status = ?2, offer_booking_id = ?3, offer_until = ?4, \
         updated_at = ?5 WHERE id = ?1",
    )
    .bind(change.entry.as_uuid())
    .bind(columns.status)
    .bind(columns.offer)
    .bind(columns.until)
    .bind(micros(at))
    .execute(conn)
    .await
    // `waitlist_moves_forward` refuses an entry moved backwards: under the write lock the
    // decision moved it from the state it read, so only a writer that does not follow these
    // steps can reach it.
    .map_err(db)?;
    Ok(())
}

/// An entry state as columns.
struct StateColumns {
    status: &'static str,
    offer: Option<Uuid>,
    until: Option<i64>,
}

impl StateColumns {
    fn of(state: &EntryState) -> Self {
        Self {
            status: state.status().as_str(),
            offer: state.offer().map(|b| b.as_uuid()),
            until: state.offer_until().map(micros),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    #[tokio::test]
    async fn the_first_waiting_entry_is_read_along_its_index_in_join_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("w.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for (sql, index) in [
            (FIRST_FOR_DOCTOR, "waitlist_active_by_doctor"),
            (
                FIRST_FOR_SPECIALIZATION,
                "waitlist_active_by_specialization",
            ),
        ] {
            let steps = store.query_plan(sql).await;
            // One step: the partial index walked in join order, so the first waiting entry
            // that fits is found without sorting the line.
            assert!(steps.iter().all(|s| s.contains(index)), "{sql}\n{steps:#?}");
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "{sql}\n{steps:#?}"
            );
        }
    }
}
