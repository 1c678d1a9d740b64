//! Doctors and slots: publishing, withdrawing, deleting, and the availability listing.

use chrono::{DateTime, Utc};
use medislot_core::{
    Doctor, DoctorFilter, DoctorId, Error, Page, Result, Slot, SlotCursor, SlotId, SlotQuery,
    SlotStatus, SlotView,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row as _};

use crate::error::Failure;
use crate::rows::{self, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::script::{Script, Tx};
use crate::store::{no_rule, PgStore};

impl PgStore {
    /// One round trip: a single `INSERT`.
    pub(crate) async fn insert_doctor_impl(&self, doctor: &Doctor) -> Result<()> {
        self.retrying("insert_doctor", &no_rule, move || async move {
            sqlx::query(
                "INSERT INTO doctors (id, name, specialization, timezone, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(doctor.id.as_uuid())
            .bind(&doctor.name)
            .bind(&doctor.specialization)
            .bind(doctor.timezone.name())
            .bind(doctor.created_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn doctor_impl(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.retrying("doctor", &no_rule, move || async move {
            let sql =
                format!("SELECT {DOCTOR} FROM doctors d WHERE d.id = $1 AND d.deleted_at IS NULL");
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(rows::doctor).transpose()?)
        })
        .await
    }

    pub(crate) async fn list_doctors_impl(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.retrying("list_doctors", &no_rule, move || async move {
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "SELECT {DOCTOR} FROM doctors d WHERE d.deleted_at IS NULL"
            ));
            if let Some(specialization) = &filter.specialization {
                q.push(" AND lower(d.specialization) = lower(")
                    .push_bind(specialization.trim().to_owned())
                    .push(")");
            }
            if let Some(name) = &filter.name_contains {
                // strpos, not LIKE: `%` and `_` in the query are plain characters.
                q.push(" AND strpos(lower(d.name), lower(")
                    .push_bind(name.trim().to_owned())
                    .push(")) > 0");
            }
            if let Some(after) = &filter.after {
                q.push(" AND (d.name COLLATE \"C\", d.id) > (")
                    .push_bind(after.name.clone())
                    .push(" COLLATE \"C\", ")
                    .push_bind(after.id.as_uuid())
                    .push(")");
            }
            // Byte order, as the core sorts names.
            q.push(" ORDER BY d.name COLLATE \"C\", d.id");
            if let Some(limit) = filter.limit {
                q.push(" LIMIT ").push_bind(i64::from(limit));
            }
            let found = q.build().fetch_all(&self.pool).await?;
            Ok(found
                .iter()
                .map(rows::doctor)
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Two round trips: lock the doctor and its live slots and read their occupants; then
    /// withdraw the slots and mark the doctor deleted, and commit (or roll back).
    pub(crate) async fn delete_doctor_impl(&self, id: DoctorId, now: DateTime<Utc>) -> Result<()> {
        self.retrying("delete_doctor", &no_rule, move || async move {
            let mut read = Script::new();
            let doctor = read
                .sql("SELECT 1 FROM doctors WHERE id = ")
                .uuid(id)
                .sql(" AND deleted_at IS NULL FOR UPDATE")
                .end();
            // Lock every live slot (in id order) before reading occupants, so that a booking
            // racing with the delete either is seen here or finds its slot withdrawn.
            read.sql("SELECT id FROM slots WHERE doctor_id = ")
                .uuid(id)
                .sql(" AND withdrawn_at IS NULL ORDER BY id FOR UPDATE")
                .end();
            let occupants = read
                .sql("SELECT ")
                .sql(BOOKING)
                .sql(" FROM slots s JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
                .sql(OCCUPYING)
                .sql(" WHERE s.doctor_id = ")
                .uuid(id)
                .sql(" AND s.withdrawn_at IS NULL AND s.ends_at > ")
                .ts(now)
                .end();
            let (tx, found) = Tx::begin(&self.pool, read).await?;
            if found.first(doctor).is_none() {
                tx.rollback().await;
                return Err(Error::DoctorNotFound(id).into());
            }
            let mut blocked = false;
            for row in found.rows(occupants) {
                blocked |= rows::booking(row)?.state.occupies_slot_at(now);
            }
            if blocked {
                tx.rollback().await;
                return Err(Error::DoctorHasActiveBookings(id).into());
            }
            let mut write = Script::new();
            write
                .sql("UPDATE slots SET withdrawn_at = ")
                .ts(now)
                .sql(" WHERE doctor_id = ")
                .uuid(id)
                .sql(" AND withdrawn_at IS NULL")
                .end();
            write
                .sql("UPDATE doctors SET deleted_at = ")
                .ts(now)
                .sql(" WHERE id = ")
                .uuid(id)
                .end();
            tx.commit(write).await?;
            Ok(())
        })
        .await
    }

    /// Two round trips: lock the doctor and find the first overlapping slot; then insert all
    /// slots in one statement and commit (or roll back).
    pub(crate) async fn insert_slots_impl(
        &self,
        doctor_id: DoctorId,
        slots: &[Slot],
    ) -> Result<()> {
        // The exclusion constraint only fires if the locked check was bypassed; it does not say
        // which row clashed, so the error names the request's first slot.
        let rule = |name: &str| match (name, slots.first()) {
            ("slots_no_overlap", Some(first)) => Some(overlap(doctor_id, first)),
            ("slots_doctor_fk", _) => Some(Error::DoctorNotFound(doctor_id)),
            _ => None,
        };
        self.retrying("insert_slots", &rule, move || async move {
            let mut read = Script::new();
            let doctor = read
                .sql("SELECT 1 FROM doctors WHERE id = ")
                .uuid(doctor_id)
                .sql(" AND deleted_at IS NULL FOR UPDATE")
                .end();
            read.sql("WITH n AS (SELECT * FROM unnest(");
            ts_array(&mut read, slots.iter().map(|s| s.range.starts_at()));
            read.sql(", ");
            ts_array(&mut read, slots.iter().map(|s| s.range.ends_at()));
            read.sql(
                ") WITH ORDINALITY AS n(starts_at, ends_at, ord)) \
                 SELECT n.ord FROM n WHERE EXISTS (SELECT 1 FROM slots s WHERE s.doctor_id = ",
            )
            .uuid(doctor_id)
            .sql(
                " AND s.withdrawn_at IS NULL \
                 AND tstzrange(s.starts_at, s.ends_at) && tstzrange(n.starts_at, n.ends_at)) \
                 OR EXISTS (SELECT 1 FROM n e WHERE e.ord < n.ord \
                 AND e.starts_at < n.ends_at AND n.starts_at < e.ends_at) \
                 ORDER BY n.ord LIMIT 1",
            );
            let clash = read.end();
            let (tx, found) = Tx::begin(&self.pool, read).await?;
            if found.first(doctor).is_none() {
                tx.rollback().await;
                return Err(Error::DoctorNotFound(doctor_id).into());
            }
            if let Some(row) = found.first(clash) {
                tx.rollback().await;
                let ord: i64 = row.try_get("ord")?;
                let index = usize::try_from(ord - 1).unwrap_or(0);
                let slot = slots.get(index).ok_or_else(|| {
                    Failure::Sql(crate::error::corrupt(medislot_core::StoreError::Corrupt(
                        format!("overlap check named slot {ord} of {}", slots.len()),
                    )))
                })?;
                return Err(overlap(doctor_id, slot).into());
            }
            if slots.is_empty() {
                tx.rollback().await;
                return Ok(());
            }
            let mut write = Script::new();
            write.sql(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
                 SELECT id, ",
            );
            write
                .uuid(doctor_id)
                .sql(", starts_at, ends_at, created_at FROM unnest(");
            write.sql("ARRAY[");
            for (i, slot) in slots.iter().enumerate() {
                if i > 0 {
                    write.sql(", ");
                }
                write.uuid(slot.id);
            }
            write.sql("]::uuid[], ");
            ts_array(&mut write, slots.iter().map(|s| s.range.starts_at()));
            write.sql(", ");
            ts_array(&mut write, slots.iter().map(|s| s.range.ends_at()));
            write.sql(", ");
            ts_array(&mut write, slots.iter().map(|s| s.created_at));
            write.sql(") AS n(id, starts_at, ends_at, created_at)");
            write.end();
            tx.commit(write).await?;
            Ok(())
        })
        .await
    }

    /// Two round trips: lock the slot and read its occupant; then mark it withdrawn and commit
    /// (or roll back).
    pub(crate) async fn withdraw_slot_impl(&self, id: SlotId, now: DateTime<Utc>) -> Result<()> {
        self.retrying("withdraw_slot", &no_rule, move || async move {
            let mut read = Script::new();
            let slot = read
                .sql("SELECT 1 FROM slots WHERE id = ")
                .uuid(id)
                .sql(" AND withdrawn_at IS NULL FOR UPDATE")
                .end();
            let occupant = read
                .sql("SELECT ")
                .sql(BOOKING)
                .sql(" FROM bookings b WHERE b.slot_id = ")
                .uuid(id)
                .sql(" AND b.status IN ")
                .sql(OCCUPYING)
                .end();
            let (tx, found) = Tx::begin(&self.pool, read).await?;
            if found.first(slot).is_none() {
                tx.rollback().await;
                return Err(Error::SlotNotFound(id).into());
            }
            let occupied = match found.first(occupant) {
                Some(row) => rows::booking(row)?.state.occupies_slot_at(now),
                None => false,
            };
            if occupied {
                tx.rollback().await;
                return Err(Error::SlotHasActiveBooking(id).into());
            }
            let mut write = Script::new();
            write
                .sql("UPDATE slots SET withdrawn_at = ")
                .ts(now)
                .sql(" WHERE id = ")
                .uuid(id)
                .end();
            tx.commit(write).await?;
            Ok(())
        })
        .await
    }

    /// One round trip: the slot with its occupant.
    pub(crate) async fn slot_impl(
        &self,
        id: SlotId,
        now: DateTime<Utc>,
    ) -> Result<Option<SlotView>> {
        self.retrying("slot", &no_rule, move || async move {
            let sql = format!(
                "SELECT {SLOT}, {BOOKING} FROM slots s \
                 LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN {OCCUPYING} \
                 WHERE s.id = $1 AND s.withdrawn_at IS NULL"
            );
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(|row| slot_view(row, now)).transpose()?)
        })
        .await
    }

    /// One round trip: one keyset page, availability decided in SQL from `now`.
    pub(crate) async fn list_slots_impl(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.retrying("list_slots", &no_rule, move || async move {
            let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {SLOT}, {BOOKING} FROM slots s"));
            if query.specialization.is_some() {
                q.push(" JOIN doctors d ON d.id = s.doctor_id");
            }
            q.push(format!(
                " LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN {OCCUPYING} \
                 WHERE s.withdrawn_at IS NULL"
            ));
            if let Some(doctor) = query.doctor_id {
                q.push(" AND s.doctor_id = ").push_bind(doctor.as_uuid());
            }
            if let Some(specialization) = &query.specialization {
                q.push(" AND lower(d.specialization) = lower(")
                    .push_bind(specialization.trim().to_owned())
                    .push(")");
            }
            if let Some(from) = query.from {
                q.push(" AND s.starts_at >= ").push_bind(from);
            }
            if let Some(to) = query.to {
                q.push(" AND s.starts_at < ").push_bind(to);
            }
            if let Some(after) = query.after {
                q.push(" AND (s.starts_at, s.id) > (")
                    .push_bind(after.starts_at)
                    .push(", ")
                    .push_bind(after.id.as_uuid())
                    .push(")");
            }
            if let Some(available) = query.available {
                // Free: not started, and no booking that occupies the slot at `now` (a lapsed
                // hold or an ended buffer counts as free, whether or not it was tidied).
                q.push(if available { " AND (" } else { " AND NOT (" })
                    .push("s.starts_at > ")
                    .push_bind(now)
                    .push(" AND NOT COALESCE(b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_until > ")
                    .push_bind(now)
                    .push(") OR (b.status = 'BUFFER' AND b.buffer_until > ")
                    .push_bind(now)
                    .push("), false))");
            }
            q.push(" ORDER BY s.starts_at, s.id LIMIT ")
                .push_bind(i64::from(query.limit) + 1);
            let found = q.build().fetch_all(&self.pool).await?;
            let items = found
                .iter()
                .map(|row| slot_view(row, now))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_overfetch(items, query.limit, |v| {
                SlotCursor::after(&v.slot)
            }))
        })
        .await
    }
}

fn overlap(doctor_id: DoctorId, slot: &Slot) -> Error {
    Error::SlotOverlap {
        doctor_id,
        starts_at: slot.range.starts_at(),
        ends_at: slot.range.ends_at(),
    }
}

fn ts_array(script: &mut Script, times: impl Iterator<Item = DateTime<Utc>>) {
    script.sql("ARRAY[");
    for (i, at) in times.enumerate() {
        if i > 0 {
            script.sql(", ");
        }
        script.ts(at);
    }
    script.sql("]::timestamptz[]");
}

fn slot_view(row: &PgRow, now: DateTime<Utc>) -> Result<SlotView, sqlx::Error> {
    let slot = rows::slot(row)?;
    let occupant = rows::opt_booking(row)?;
    let status = SlotStatus::at(&slot, occupant.as_ref(), now);
    Ok(SlotView { slot, status })
}
