//! [`SlotStore`] for [`SqliteStore`]: doctors, slots and bookings.
//!
//! Every mutation runs through [`SlotStore::mutate`], one `BEGIN IMMEDIATE` transaction on the
//! single writer connection ([`crate::unit_of_work`]). Reads and listings, here, run on the
//! reader connections and, in WAL mode, never wait for the writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    BookingCursor, BookingId, BookingOrder, BookingQuery, BookingStatus, BookingView, Channel,
    Claim, Decide, Decision, Doctor, DoctorFilter, DoctorHours, DoctorId, EntryId, FreeCount,
    FreeSlotFilter, JournalCursor, JournalEntry, JournalQuery, MessageQuery, OutboxMessage, Page,
    Result, Settle, SlotCursor, SlotId, SlotQuery, SlotStatus, SlotStore, SlotView, StoreError,
    TimeRange, WaitlistEntry, WaitlistEntryId, WaitlistQuery,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

use crate::error::db;
use crate::rows::{
    self, booking_columns, doctor_columns, micros, slot_columns, slot_with_occupant,
};
use crate::store::SqliteStore;
use crate::{hours, journal, unit_of_work};

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
        BookingStatus::Rescheduled => {
            sql.push("b.status = 'RESCHEDULED'");
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
        // CROSS JOIN: SQLite keeps the tables in the order written, so slots stay the outer
        // loop, walked in listing order; with `ANALYZE` statistics it would otherwise start
        // from the specialization's few doctors and sort all their slots.
        sql.push(" CROSS JOIN doctors d ON d.id = s.doctor_id AND d.specialization = ")
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

/// The query of [`SlotStore::count_free_slots`]: one range scan along `slots_live_by_start` (or
/// `slots_live_by_doctor`) over the whole span, each free slot counted in the day it starts
/// in (a `CASE` over the days' bounds), availability read from `now` as the listing reads it.
fn count_free_sql(
    filter: &FreeSlotFilter,
    days: &[TimeRange],
    now: DateTime<Utc>,
) -> QueryBuilder<'static, Sqlite> {
    let now_us = micros(now);
    let mut sql = QueryBuilder::new("SELECT CASE");
    for (i, day) in days.iter().enumerate() {
        sql.push(" WHEN s.starts_at >= ")
            .push_bind(micros(day.starts_at()))
            .push(" AND s.starts_at < ")
            .push_bind(micros(day.ends_at()))
            .push(" THEN ")
            .push_bind(i as i64);
    }
    sql.push(" END AS day, count(*) AS free, min(s.starts_at) AS first FROM slots s");
    if let Some(specialization) = &filter.specialization {
        // CROSS JOIN: SQLite keeps the tables in the order written, so slots stay the outer
        // loop, walked in listing order; with `ANALYZE` statistics it would otherwise start
        // from the specialization's few doctors and sort all their slots.
        sql.push(" CROSS JOIN doctors d ON d.id = s.doctor_id AND d.specialization = ")
            .push_bind(specialization.trim().to_owned())
            .push(" COLLATE NOCASE");
    }
    sql.push(
        " LEFT JOIN bookings b ON b.slot_id = s.id \
         AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER') \
         WHERE s.withdrawn_at IS NULL",
    );
    if let Some(doctor) = filter.doctor_id {
        sql.push(" AND s.doctor_id = ").push_bind(doctor.as_uuid());
    }
    let first = days.first().map_or(now_us, |d| micros(d.starts_at()));
    let end = days.last().map_or(now_us, |d| micros(d.ends_at()));
    sql.push(" AND s.starts_at >= ")
        .push_bind(first)
        .push(" AND s.starts_at < ")
        .push_bind(end)
        // Free at `now`, exactly as the listing's `available`.
        .push(" AND s.starts_at > ")
        .push_bind(now_us)
        .push(" AND NOT ");
    push_occupies(&mut sql, now_us);
    sql.push(" GROUP BY day");
    sql
}

/// The page query of [`SlotStore::list_bookings`]: one statement joining each booking's slot
/// and doctor, newest first through the primary key or `bookings_by_patient`,
/// `bookings_by_doctor` or `bookings_by_slot`; or in an appointment order (sorted, after the
/// cursor booking's `(starts_at, id)`).
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
    // The cursor's booking, read by the appointment orders for its slot's start.
    let cursor_key = "(SELECT cs.starts_at, cb.id FROM bookings cb \
         JOIN slots cs ON cs.id = cb.slot_id WHERE cb.id = ";
    match (query.order, query.after) {
        (BookingOrder::Newest, Some(BookingCursor(after))) => {
            sql.push(" AND b.id < ").push_bind(after.as_uuid());
        }
        (BookingOrder::SoonestAppointment, Some(BookingCursor(after))) => {
            sql.push(" AND (s.starts_at, b.id) > ")
                .push(cursor_key)
                .push_bind(after.as_uuid())
                .push(")");
        }
        (BookingOrder::LatestAppointment, Some(BookingCursor(after))) => {
            sql.push(" AND (s.starts_at, b.id) < ")
                .push(cursor_key)
                .push_bind(after.as_uuid())
                .push(")");
        }
        (_, None) => {}
    }
    sql.push(match query.order {
        BookingOrder::Newest => " ORDER BY b.id DESC LIMIT ",
        BookingOrder::SoonestAppointment => " ORDER BY s.starts_at, b.id LIMIT ",
        BookingOrder::LatestAppointment => " ORDER BY s.starts_at DESC, b.id DESC LIMIT ",
    })
    .push_bind(i64::from(query.limit) + 1);
    sql
}

#[async_trait]
impl SlotStore for SqliteStore {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        unit_of_work::mutate(self, claim, decide).await
    }

    async fn doctor_hours(&self, id: DoctorId) -> Result<Option<DoctorHours>> {
        let row = sqlx::query(hours::HOURS)
            .bind(id.as_uuid())
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(hours::decode).transpose()
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

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        let mut counts = vec![FreeCount::default(); days.len()];
        if days.is_empty() {
            return Ok(counts);
        }
        let mut sql = count_free_sql(filter, days, now);
        let rows = sql.build().fetch_all(&self.reader).await.map_err(db)?;
        for row in &rows {
            let day: Option<i64> = rows::get(row, "day")?;
            let Some(count) = day
                .and_then(|day| usize::try_from(day).ok())
                .and_then(|day| counts.get_mut(day))
            else {
                // A slot between two days that do not meet belongs to neither.
                continue;
            };
            let free: i64 = rows::get(row, "free")?;
            count.free = u64::try_from(free).unwrap_or_default();
            count.first = Some(rows::get_instant(row, "first")?);
        }
        Ok(counts)
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

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        journal::journal(self, query).await
    }

    async fn claim_messages(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        journal::claim(self, channel, now, lease_until, limit).await
    }

    async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        journal::settle(self, id, channel, settle).await
    }

    async fn waitlist_entry(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        crate::waitlist::by_id(&mut conn, id).await
    }

    async fn waitlist(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        crate::waitlist::list(&mut conn, query).await
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        journal::messages(self, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::StateColumns;
    use chrono::Duration;
    use medislot_core::{
        Booking, BookingCursor, BookingState, CancelledBy, Changes, PatientId, Slot,
    };

    /// Commits `changes` through the store's unit of work, with no rule deciding.
    async fn write(store: &SqliteStore, changes: Changes) {
        let decision = Decision {
            changes,
            reply: None,
        };
        store
            .mutate(&Claim::default(), &|_| Ok(decision.clone()))
            .await
            .unwrap();
    }

    /// SQLite's plan for `sql`, one line per step.
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
            let steps = store.query_plan(&sql).await;
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

    /// With statistics from `ANALYZE` on a clinic's worth of slots (20 doctors, 20,000 slots),
    /// the free slots of a specialization are still read along `slots_live_by_start` and stop
    /// after a page. Left to its statistics, SQLite would start from the few doctors of the
    /// specialization, read all their slots and sort them (30 ms against 0.8 ms at 100,000
    /// slots): the `CROSS JOIN` keeps slots the outer loop.
    #[tokio::test]
    async fn a_specializations_free_slots_stay_a_walk_along_start_after_analyze() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("a.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        let at = micros(now);
        for statement in [
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19) \
                 INSERT INTO doctors (id, name, specialization, timezone, created_at) \
                 SELECT randomblob(16), 'Dr ' || i, 'Spec ' || (i % 4), 'UTC', {at} FROM n"
            ),
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19999), \
                   d(id, k) AS (SELECT id, row_number() OVER (ORDER BY name) - 1 FROM doctors) \
                 INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
                 SELECT randomblob(16), d.id, {at} + (i / 20 + 1) * 1800000000, \
                   {at} + (i / 20 + 2) * 1800000000, {at} FROM n JOIN d ON d.k = n.i % 20"
            ),
            "ANALYZE".to_owned(),
        ] {
            sqlx::query(&statement)
                .execute(&store.writer)
                .await
                .unwrap();
        }
        for query in [
            SlotQuery {
                specialization: Some("Spec 1".into()),
                available: Some(true),
                limit: 50,
                ..SlotQuery::default()
            },
            SlotQuery {
                specialization: Some("Spec 1".into()),
                available: Some(true),
                from: Some(now),
                to: Some(now + Duration::weeks(8)),
                limit: 1,
                ..SlotQuery::default()
            },
        ] {
            let sql = list_slots_sql(&query, now).sql().to_owned();
            let steps = store.query_plan(&sql).await;
            assert!(
                steps.iter().any(|s| s.contains("slots_live_by_start")),
                "{sql}\n{steps:#?}"
            );
            assert!(
                steps.iter().all(|s| !s.contains("TEMP B-TREE")),
                "{sql}\n{steps:#?}"
            );
        }
    }

    /// Finding a time walks the slot indexes over the span asked for: the summary counts along
    /// `slots_live_by_start` or `slots_live_by_doctor` (grouping its few days in a small
    /// B-tree), and "next available", a one-row listing, reads in listing order and stops.
    #[tokio::test]
    async fn finding_a_time_reads_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("f.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let now = Utc::now();
        let days: Vec<TimeRange> = (0..28)
            .map(|i| {
                let start = now + Duration::days(i);
                TimeRange::new(start, start + Duration::days(1)).unwrap()
            })
            .collect();
        let filters = [
            FreeSlotFilter {
                doctor_id: Some(DoctorId::new()),
                ..FreeSlotFilter::default()
            },
            FreeSlotFilter {
                specialization: Some("Cardiology".into()),
                ..FreeSlotFilter::default()
            },
            FreeSlotFilter::default(),
        ];
        for filter in &filters {
            let summary = count_free_sql(filter, &days, now).sql().to_owned();
            let next = list_slots_sql(
                &SlotQuery {
                    doctor_id: filter.doctor_id,
                    specialization: filter.specialization.clone(),
                    from: Some(now),
                    to: Some(now + Duration::weeks(8)),
                    available: Some(true),
                    limit: 1,
                    ..SlotQuery::default()
                },
                now,
            )
            .sql()
            .to_owned();
            for (sql, grouped) in [(summary, true), (next, false)] {
                let steps = store.query_plan(&sql).await;
                assert!(
                    steps.iter().any(|s| s.contains("slots_live_by_")),
                    "{sql}\n{steps:#?}"
                );
                for step in &steps {
                    let by_index = step.contains("USING INDEX")
                        || step.contains("USING COVERING INDEX")
                        || step.contains("USING INTEGER PRIMARY KEY");
                    let grouping = grouped && step.contains("USE TEMP B-TREE FOR GROUP BY");
                    assert!(by_index || grouping, "{sql}\n{steps:#?}");
                }
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
        write(
            &store,
            Changes {
                new_doctor: Some(doctor.clone()),
                ..Changes::at(base)
            },
        )
        .await;

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
            write(
                &store,
                Changes {
                    new_slots: vec![slot.clone()],
                    ..Changes::at(base)
                },
            )
            .await;
            let booking = state.map(|state| Booking {
                id: BookingId::new(),
                slot_id: slot.id,
                patient_id: PatientId::new(),
                state,
                idempotency_key: None,
                created_at: base,
                updated_at: base,
                rescheduled_from: None,
                visit_reason: None,
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
