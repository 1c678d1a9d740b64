//! [`SlotStore`] for [`SqliteStore`]: doctors, slots and bookings.
//!
//! Every mutation is one `BEGIN IMMEDIATE` transaction on the single writer connection: it holds
//! SQLite's write lock (the whole database, which covers "lock the slot, then the booking")
//! from its first read, calls the core's rule, writes the answer and commits; any error rolls
//! back. Reads run on the reader connections and, in WAL mode, never wait for the writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    state, Booking, BookingCursor, BookingId, BookingQuery, BookingState, BookingStatus,
    BookingView, Doctor, DoctorFilter, DoctorId, Error, Event, Page, Result, Slot, SlotCursor,
    SlotId, SlotQuery, SlotStatus, SlotStore, SlotView, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::{db, extended_code, SQLITE_CONSTRAINT_UNIQUE};
use crate::rows::{
    self, as_stored, booking_columns, doctor_columns, micros, slot_columns, StateColumns,
};
use crate::store::{commit, SqliteStore};

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

/// A booking with its slot and doctor under the `b_`, `s_` and `d_` aliases.
macro_rules! booking_view {
    () => {
        concat!(
            "SELECT ",
            booking_columns!(),
            ", ",
            slot_columns!(),
            ", ",
            doctor_columns!(),
            " FROM bookings b JOIN slots s ON s.id = b.slot_id JOIN doctors d ON d.id = s.doctor_id"
        )
    };
}

fn slot_view(row: &SqliteRow, now: DateTime<Utc>) -> Result<SlotView, StoreError> {
    let slot = rows::slot(row)?;
    let occupant = rows::optional_booking(row)?;
    let status = SlotStatus::at(&slot, occupant.as_ref(), now);
    Ok(SlotView { slot, status })
}

fn booking_view(row: &SqliteRow) -> Result<BookingView, StoreError> {
    Ok(BookingView {
        booking: rows::booking(row)?,
        slot: rows::slot(row)?,
        doctor: rows::doctor(row)?,
    })
}

/// [`BookingState::occupies_slot_at`] in SQL, for booking `b` (outer-joined in an occupying
/// status, so possibly NULL): true when it occupies its slot at `now`, false otherwise.
fn push_occupies(sql: &mut QueryBuilder<'_, Sqlite>, now: i64) {
    sql.push("COALESCE(b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_until > ")
        .push_bind(now)
        .push(") OR (b.status = 'BUFFER' AND b.buffer_until > ")
        .push_bind(now)
        .push("), FALSE)");
}

/// [`BookingState::status_at`] in SQL: true when booking `b` reads as `status` at `now`.
fn push_status_at(sql: &mut QueryBuilder<'_, Sqlite>, status: BookingStatus, now: i64) {
    match status {
        BookingStatus::Pending => {
            sql.push("(b.status = 'PENDING' AND b.hold_until > ")
                .push_bind(now)
                .push(")");
        }
        BookingStatus::Confirmed => {
            sql.push("b.status = 'CONFIRMED'");
        }
        BookingStatus::Buffer => {
            sql.push("(b.status = 'BUFFER' AND b.buffer_until > ")
                .push_bind(now)
                .push(")");
        }
        BookingStatus::Cancelled => {
            sql.push("(b.status = 'CANCELLED' OR (b.status = 'BUFFER' AND b.buffer_until <= ")
                .push_bind(now)
                .push("))");
        }
        BookingStatus::Expired => {
            sql.push("(b.status = 'EXPIRED' OR (b.status = 'PENDING' AND b.hold_until <= ")
                .push_bind(now)
                .push("))");
        }
    }
}

/// The page query of [`SlotStore::list_slots`]: one statement, read through
/// `slots_live_by_start` or `slots_live_by_doctor` in listing order.
fn list_slots_sql(query: &SlotQuery, now: DateTime<Utc>) -> QueryBuilder<'static, Sqlite> {
    let now_us = micros(now);
    let mut sql = QueryBuilder::new(concat!(
        "SELECT ",
        slot_columns!(),
        ", ",
        booking_columns!(),
        " FROM slots s"
    ));
    if let Some(specialization) = &query.specialization {
        sql.push(" JOIN doctors d ON d.id = s.doctor_id AND d.specialization = ")
            .push_bind(specialization.trim().to_owned())
            .push(" COLLATE NOCASE");
    }
    sql.push(
        " LEFT JOIN bookings b ON b.slot_id = s.id \
         AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER') \
         WHERE s.withdrawn_at IS NULL",
    );
    if let Some(doctor) = query.doctor_id {
        sql.push(" AND s.doctor_id = ").push_bind(doctor.as_uuid());
    }
    if let Some(from) = query.from {
        sql.push(" AND s.starts_at >= ").push_bind(micros(from));
    }
    if let Some(to) = query.to {
        sql.push(" AND s.starts_at < ").push_bind(micros(to));
    }
    if let Some(after) = query.after {
        sql.push(" AND (s.starts_at, s.id) > (")
            .push_bind(micros(after.starts_at))
            .push(", ")
            .push_bind(after.id.as_uuid())
            .push(")");
    }
    // Available at `now` = not started and not occupied ([`SlotStatus::at`]).
    match query.available {
        Some(true) => {
            sql.push(" AND s.starts_at > ")
                .push_bind(now_us)
                .push(" AND NOT ");
            push_occupies(&mut sql, now_us);
        }
        Some(false) => {
            sql.push(" AND (s.starts_at <= ")
                .push_bind(now_us)
                .push(" OR ");
            push_occupies(&mut sql, now_us);
            sql.push(")");
        }
        None => {}
    }
    sql.push(" ORDER BY s.starts_at, s.id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    sql
}

/// The page query of [`SlotStore::list_bookings`]: one statement joining each booking's slot
/// and doctor, newest first through the primary key or `bookings_by_patient`,
/// `bookings_by_doctor` or `bookings_by_slot`.
fn list_bookings_sql(query: &BookingQuery, now: DateTime<Utc>) -> QueryBuilder<'static, Sqlite> {
    let mut sql = QueryBuilder::new(concat!(booking_view!(), " WHERE TRUE"));
    if let Some(patient) = query.patient_id {
        sql.push(" AND b.patient_id = ")
            .push_bind(patient.as_uuid());
    }
    if let Some(doctor) = query.doctor_id {
        sql.push(" AND b.doctor_id = ").push_bind(doctor.as_uuid());
    }
    if let Some(slot) = query.slot_id {
        sql.push(" AND b.slot_id = ").push_bind(slot.as_uuid());
    }
    if let Some(status) = query.status {
        sql.push(" AND ");
        push_status_at(&mut sql, status, micros(now));
    }
    if let Some(from) = query.from {
        sql.push(" AND s.starts_at >= ").push_bind(micros(from));
    }
    if let Some(to) = query.to {
        sql.push(" AND s.starts_at < ").push_bind(micros(to));
    }
    if let Some(BookingCursor(after)) = query.after {
        sql.push(" AND b.id < ").push_bind(after.as_uuid());
    }
    sql.push(" ORDER BY b.id DESC LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    sql
}

/// The live slot `id` and its occupying booking, if any.
async fn live_slot(
    conn: &mut SqliteConnection,
    id: SlotId,
) -> Result<Option<(Slot, Option<Booking>)>> {
    let row = sqlx::query(concat!(
        slot_with_occupant!(),
        " WHERE s.id = ?1 AND s.withdrawn_at IS NULL"
    ))
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    match row {
        Some(row) => Ok(Some((rows::slot(&row)?, rows::optional_booking(&row)?))),
        None => Ok(None),
    }
}

/// Writes a booking's new state, as of `now`.
async fn write_state(
    conn: &mut SqliteConnection,
    id: BookingId,
    state: &BookingState,
    now: DateTime<Utc>,
) -> Result<()> {
    let columns = StateColumns::of(state);
    sqlx::query(
        "UPDATE bookings SET status = ?2, hold_until = ?3, buffer_until = ?4, cancelled_by = ?5, \
         cancel_reason = ?6, updated_at = ?7 WHERE id = ?1",
    )
    .bind(id.as_uuid())
    .bind(columns.status)
    .bind(columns.hold_until)
    .bind(columns.buffer_until)
    .bind(columns.cancelled_by)
    .bind(columns.cancel_reason)
    .bind(micros(now))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all, fields(doctor = %doctor.id))]
async fn insert_doctor(conn: &mut SqliteConnection, doctor: &Doctor) -> Result<()> {
    sqlx::query(
        "INSERT INTO doctors (id, name, specialization, timezone, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(doctor.id.as_uuid())
    .bind(&doctor.name)
    .bind(&doctor.specialization)
    .bind(doctor.timezone.name())
    .bind(micros(doctor.created_at))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip(conn))]
async fn delete_doctor(
    conn: &mut SqliteConnection,
    id: DoctorId,
    now: DateTime<Utc>,
) -> Result<()> {
    let live = sqlx::query("SELECT 1 FROM doctors WHERE id = ?1 AND deleted_at IS NULL")
        .bind(id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if live.is_none() {
        return Err(Error::DoctorNotFound(id));
    }
    // The occupying bookings of the doctor's live slots that have not ended; whether each
    // still occupies its slot is the core's rule.
    let occupants = sqlx::query(concat!(
        "SELECT ",
        booking_columns!(),
        " FROM slots s JOIN bookings b ON b.slot_id = s.id \
         AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER') \
         WHERE s.doctor_id = ?1 AND s.withdrawn_at IS NULL AND s.ends_at > ?2"
    ))
    .bind(id.as_uuid())
    .bind(micros(now))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for row in &occupants {
        if rows::booking(row)?.state.occupies_slot_at(now) {
            return Err(Error::DoctorHasActiveBookings(id));
        }
    }
    sqlx::query("UPDATE slots SET withdrawn_at = ?2 WHERE doctor_id = ?1 AND withdrawn_at IS NULL")
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query("UPDATE doctors SET deleted_at = ?2 WHERE id = ?1")
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Inserts `slots` in order, each after checking that it overlaps no live slot of the doctor,
/// the earlier ones of `slots` included (they are already inserted when it is checked).
#[tracing::instrument(level = "debug", skip(conn, slots), fields(count = slots.len()))]
async fn insert_slots(
    conn: &mut SqliteConnection,
    doctor_id: DoctorId,
    slots: &[Slot],
) -> Result<()> {
    let live = sqlx::query("SELECT 1 FROM doctors WHERE id = ?1 AND deleted_at IS NULL")
        .bind(doctor_id.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    if live.is_none() {
        return Err(Error::DoctorNotFound(doctor_id));
    }
    for slot in slots {
        let (starts_at, ends_at) = (micros(slot.range.starts_at()), micros(slot.range.ends_at()));
        // Live slots of one doctor never overlap, so their ends grow with their starts: only
        // the last one starting before this slot ends can reach into it.
        let reach: Option<i64> = sqlx::query_scalar(
            "SELECT ends_at FROM slots \
             WHERE doctor_id = ?1 AND withdrawn_at IS NULL AND starts_at < ?2 \
             ORDER BY starts_at DESC, id DESC LIMIT 1",
        )
        .bind(doctor_id.as_uuid())
        .bind(ends_at)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if reach.is_some_and(|end| end > starts_at) {
            return Err(Error::SlotOverlap {
                doctor_id,
                starts_at: slot.range.starts_at(),
                ends_at: slot.range.ends_at(),
            });
        }
        sqlx::query(
            "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(slot.id.as_uuid())
        .bind(doctor_id.as_uuid())
        .bind(starts_at)
        .bind(ends_at)
        .bind(micros(slot.created_at))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

#[tracing::instrument(level = "debug", skip(conn))]
async fn withdraw_slot(conn: &mut SqliteConnection, id: SlotId, now: DateTime<Utc>) -> Result<()> {
    let (_, occupant) = live_slot(conn, id).await?.ok_or(Error::SlotNotFound(id))?;
    if occupant.is_some_and(|b| b.state.occupies_slot_at(now)) {
        return Err(Error::SlotHasActiveBooking(id));
    }
    sqlx::query("UPDATE slots SET withdrawn_at = ?2 WHERE id = ?1")
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

#[tracing::instrument(
    level = "debug",
    skip_all,
    fields(slot = %draft.slot_id, booking = %draft.id)
)]
async fn create_booking(
    conn: &mut SqliteConnection,
    draft: &Booking,
    now: DateTime<Utc>,
) -> Result<Booking> {
    let (slot, occupant) = live_slot(conn, draft.slot_id)
        .await?
        .ok_or(Error::SlotNotFound(draft.slot_id))?;
    if let Some(key) = &draft.idempotency_key {
        let first = sqlx::query(concat!(
            "SELECT ",
            booking_columns!(),
            " FROM bookings b WHERE b.patient_id = ?1 AND b.idempotency_key = ?2"
        ))
        .bind(draft.patient_id.as_uuid())
        .bind(key.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some(first) = first {
            return state::replay(&rows::booking(&first)?, draft.slot_id);
        }
    }
    if let Some(tidy) = state::check_bookable(&slot, occupant.as_ref(), now)? {
        write_state(conn, tidy.occupant, &tidy.state, now).await?;
    }
    let columns = StateColumns::of(&draft.state);
    let inserted = sqlx::query(
        "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, status, hold_until, \
         buffer_until, cancelled_by, cancel_reason, idempotency_key, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(draft.id.as_uuid())
    .bind(draft.slot_id.as_uuid())
    .bind(slot.doctor_id.as_uuid())
    .bind(draft.patient_id.as_uuid())
    .bind(columns.status)
    .bind(columns.hold_until)
    .bind(columns.buffer_until)
    .bind(columns.cancelled_by)
    .bind(columns.cancel_reason)
    .bind(draft.idempotency_key.as_ref().map(|k| k.as_str()))
    .bind(micros(draft.created_at))
    .bind(micros(draft.updated_at))
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(as_stored(draft.clone())),
        // Under the write lock, with the occupant and the key checked above, the unique index
        // that can still refuse this row is `bookings_one_active_per_slot` (the other,
        // `bookings_patient_idempotency_key`, was looked up first). Reaching it means a writer
        // that does not follow these rules shares the file; the index keeps the slot single.
        Err(e) if extended_code(&e) == Some(SQLITE_CONSTRAINT_UNIQUE) => {
            tracing::warn!(slot = %draft.slot_id, error = %e, "unique index refused a booking");
            Err(Error::SlotUnavailable(draft.slot_id))
        }
        Err(e) => Err(db(e)),
    }
}

#[tracing::instrument(level = "debug", skip(conn, event), fields(event = ?event.kind()))]
async fn apply_event(
    conn: &mut SqliteConnection,
    id: BookingId,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Booking> {
    let row = sqlx::query(concat!(
        "SELECT ",
        booking_columns!(),
        " FROM bookings b WHERE b.id = ?1"
    ))
    .bind(id.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?
    .ok_or(Error::BookingNotFound(id))?;
    let booking = rows::booking(&row)?;
    let state = state::transition(&booking, event, now)?;
    write_state(conn, id, &state, now).await?;
    Ok(as_stored(Booking {
        state,
        updated_at: now,
        ..booking
    }))
}

#[tracing::instrument(level = "debug", skip(conn))]
async fn release_expired(conn: &mut SqliteConnection, now: DateTime<Utc>) -> Result<u64> {
    let lapsed = sqlx::query(concat!(
        "SELECT ",
        booking_columns!(),
        " FROM bookings b WHERE (b.status = 'PENDING' AND b.hold_until <= ?1) \
         OR (b.status = 'BUFFER' AND b.buffer_until <= ?1)"
    ))
    .bind(micros(now))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut changed = 0;
    for row in &lapsed {
        let booking = rows::booking(row)?;
        // The query already picked lapsed bookings; the rule decides what each becomes.
        if let Ok(state) = state::transition(&booking, &Event::Expire, now) {
            write_state(&mut *conn, booking.id, &state, now).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[async_trait]
impl SlotStore for SqliteStore {
    async fn insert_doctor(&self, doctor: &Doctor) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = insert_doctor(&mut tx, doctor).await;
        commit(tx, result).await
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            doctor_columns!(),
            " FROM doctors d WHERE d.id = ?1 AND d.deleted_at IS NULL"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::doctor).transpose()?)
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        let mut sql = QueryBuilder::new(concat!(
            "SELECT ",
            doctor_columns!(),
            " FROM doctors d WHERE d.deleted_at IS NULL"
        ));
        if let Some(specialization) = &filter.specialization {
            sql.push(" AND d.specialization = ")
                .push_bind(specialization.trim().to_owned())
                .push(" COLLATE NOCASE");
        }
        sql.push(" ORDER BY d.name, d.id");
        let rows = sql.build().fetch_all(&self.reader).await.map_err(db)?;
        let mut doctors = Vec::with_capacity(rows.len());
        for row in &rows {
            let doctor = rows::doctor(row)?;
            // The name filter compares with Unicode lower-casing, which SQLite's `lower()` and
            // `LIKE` do not do: it is applied here, by the core's own rule (with the cursor).
            if filter.matches(&doctor) {
                doctors.push(doctor);
            }
            if filter
                .limit
                .is_some_and(|limit| doctors.len() >= limit as usize)
            {
                break;
            }
        }
        Ok(doctors)
    }

    async fn delete_doctor(&self, id: DoctorId, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = delete_doctor(&mut tx, id, now).await;
        commit(tx, result).await
    }

    async fn insert_slots(&self, doctor_id: DoctorId, slots: &[Slot]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = insert_slots(&mut tx, doctor_id, slots).await;
        commit(tx, result).await
    }

    async fn withdraw_slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = withdraw_slot(&mut tx, id, now).await;
        commit(tx, result).await
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        let row = sqlx::query(concat!(
            slot_with_occupant!(),
            " WHERE s.id = ?1 AND s.withdrawn_at IS NULL"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.map(|row| slot_view(&row, now)).transpose()?)
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        let mut sql = list_slots_sql(query, now);
        let rows = sql.build().fetch_all(&self.reader).await.map_err(db)?;
        let items = rows
            .iter()
            .map(|row| slot_view(row, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, query.limit, |v| {
            SlotCursor::after(&v.slot)
        }))
    }

    async fn create_booking(&self, draft: &Booking, now: DateTime<Utc>) -> Result<Booking> {
        let mut tx = self.begin_write().await?;
        let result = create_booking(&mut tx, draft, now).await;
        commit(tx, result).await
    }

    async fn apply_event(
        &self,
        id: BookingId,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Booking> {
        let mut tx = self.begin_write().await?;
        let result = apply_event(&mut tx, id, event, now).await;
        commit(tx, result).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        let row = sqlx::query(concat!(booking_view!(), " WHERE b.id = ?1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(booking_view).transpose()?)
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        let mut sql = list_bookings_sql(query, now);
        let rows = sql.build().fetch_all(&self.reader).await.map_err(db)?;
        let items = rows
            .iter()
            .map(booking_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, query.limit, |v| {
            BookingCursor(v.booking.id)
        }))
    }

    async fn release_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let result = release_expired(&mut tx, now).await;
        commit(tx, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use medislot_core::{BookingCursor, CancelledBy, PatientId, TimeRange};

    /// SQLite's plan for `sql`, one line per step.
    async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(&store.reader)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    #[tokio::test]
    async fn listing_pages_read_through_indexes_in_listing_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("p.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        let page = |after| SlotQuery {
            available: Some(true),
            after,
            limit: 50,
            ..SlotQuery::default()
        };
        let cursor = SlotCursor {
            starts_at: now,
            id: SlotId::new(),
        };
        let slot_queries = [
            page(None),
            page(Some(cursor)),
            SlotQuery {
                doctor_id: Some(DoctorId::new()),
                from: Some(now),
                ..page(Some(cursor))
            },
            SlotQuery {
                specialization: Some("Cardiology".into()),
                ..page(None)
            },
        ];
        let booking_queries = [
            BookingQuery {
                limit: 50,
                ..BookingQuery::default()
            },
            BookingQuery {
                patient_id: Some(PatientId::new()),
                after: Some(BookingCursor(BookingId::new())),
                status: Some(BookingStatus::Expired),
                limit: 50,
                ..BookingQuery::default()
            },
            BookingQuery {
                doctor_id: Some(DoctorId::new()),
                from: Some(now),
                limit: 50,
                ..BookingQuery::default()
            },
            BookingQuery {
                slot_id: Some(SlotId::new()),
                limit: 50,
                ..BookingQuery::default()
            },
        ];
        let sqls = slot_queries
            .iter()
            .map(|q| list_slots_sql(q, now).sql().to_owned())
            .chain(
                booking_queries
                    .iter()
                    .map(|q| list_bookings_sql(q, now).sql().to_owned()),
            );
        for sql in sqls {
            let steps = plan(&store, &sql).await;
            for step in &steps {
                // Every table is reached by key or walked along an index, and rows come out in
                // listing order, so a page reads about `limit` rows, not the whole table.
                assert!(
                    step.contains("USING INDEX")
                        || step.contains("USING COVERING INDEX")
                        || step.contains("USING INTEGER PRIMARY KEY"),
                    "{sql}\n{steps:#?}"
                );
                assert!(!step.contains("TEMP B-TREE"), "{sql}\n{steps:#?}");
            }
        }
    }

    #[tokio::test]
    async fn listings_read_status_and_availability_from_time_as_the_core_does() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("t.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let base = DateTime::from_timestamp_micros(micros(Utc::now())).unwrap();
        let lapse = base + Duration::hours(1);
        let start = lapse + Duration::microseconds(10);
        let micro = Duration::microseconds(1);
        let doctor = medislot_core::NewDoctor::new("Dr Time", "GP", "UTC")
            .unwrap()
            .into_doctor(base);
        store.insert_doctor(&doctor).await.unwrap();

        // One slot per state, each with that one booking, plus a slot with none that starts
        // first, so that the "started" boundary is crossed too.
        let states = [
            None,
            Some(BookingState::Pending { hold_until: lapse }),
            Some(BookingState::Confirmed),
            Some(BookingState::Buffer {
                buffer_until: lapse,
                reason: Some("r".into()),
            }),
            Some(BookingState::Cancelled {
                by: CancelledBy::Patient,
                reason: None,
                buffer_until: None,
            }),
            Some(BookingState::Cancelled {
                by: CancelledBy::Admin,
                reason: None,
                buffer_until: Some(lapse),
            }),
            Some(BookingState::Expired { hold_until: lapse }),
        ];
        let mut cases = Vec::new();
        for (i, state) in states.into_iter().enumerate() {
            let slot = Slot {
                id: SlotId::new(),
                doctor_id: doctor.id,
                range: TimeRange::new(
                    start + Duration::hours(i as i64),
                    start + Duration::hours(i as i64) + Duration::minutes(30),
                )
                .unwrap(),
                created_at: base,
            };
            store
                .insert_slots(doctor.id, std::slice::from_ref(&slot))
                .await
                .unwrap();
            let booking = state.map(|state| Booking {
                id: BookingId::new(),
                slot_id: slot.id,
                patient_id: PatientId::new(),
                state,
                idempotency_key: None,
                created_at: base,
                updated_at: base,
            });
            if let Some(b) = &booking {
                let c = StateColumns::of(&b.state);
                sqlx::query(
                    "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, status, \
                     hold_until, buffer_until, cancelled_by, cancel_reason, created_at, \
                     updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                )
                .bind(b.id.as_uuid())
                .bind(slot.id.as_uuid())
                .bind(doctor.id.as_uuid())
                .bind(b.patient_id.as_uuid())
                .bind(c.status)
                .bind(c.hold_until)
                .bind(c.buffer_until)
                .bind(c.cancelled_by)
                .bind(c.cancel_reason)
                .bind(micros(base))
                .execute(&store.writer)
                .await
                .unwrap();
            }
            cases.push((slot, booking));
        }

        let first_start = cases[0].0.range.starts_at();
        for now in [
            lapse - micro,
            lapse,
            lapse + micro,
            first_start - micro,
            first_start,
            first_start + micro,
        ] {
            for status in BookingStatus::ALL {
                let query = BookingQuery {
                    status: Some(status),
                    limit: 50,
                    ..BookingQuery::default()
                };
                let mut got: Vec<BookingId> = store
                    .list_bookings(&query, now)
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|v| v.booking.id)
                    .collect();
                let mut want: Vec<BookingId> = cases
                    .iter()
                    .filter_map(|(_, b)| b.as_ref())
                    .filter(|b| b.state.status_at(now) == status)
                    .map(|b| b.id)
                    .collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "{status} at {now}");
            }
            for available in [true, false] {
                let query = SlotQuery {
                    available: Some(available),
                    limit: 50,
                    ..SlotQuery::default()
                };
                let got: Vec<SlotId> = store
                    .list_slots(&query, now)
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|v| v.slot.id)
                    .collect();
                let want: Vec<SlotId> = cases
                    .iter()
                    .filter(|(slot, b)| {
                        SlotStatus::at(slot, b.as_ref(), now).is_available() == available
                    })
                    .map(|(slot, _)| slot.id)
                    .collect();
                assert_eq!(got, want, "available={available} at {now}");
            }
        }
    }
}
