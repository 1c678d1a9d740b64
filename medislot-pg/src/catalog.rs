//! Doctors and slots: publishing, withdrawing, deleting, and the availability listing.

use chrono::{DateTime, Utc};
use medislot_core::{
    Doctor, DoctorFilter, DoctorId, Page, Result, SlotCursor, SlotId, SlotQuery, SlotStatus,
    SlotView,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::rows::{self, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::store::{no_rule, PgStore};

impl PgStore {
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

fn slot_view(row: &PgRow, now: DateTime<Utc>) -> Result<SlotView, sqlx::Error> {
    let slot = rows::slot(row)?;
    let occupant = rows::opt_booking(row)?;
    let status = SlotStatus::at(&slot, occupant.as_ref(), now);
    Ok(SlotView { slot, status })
}
