//! Doctors and slots: publishing, withdrawing, deleting, and the availability listing.

use chrono::{DateTime, Utc};
use medislot_core::{
    Doctor, DoctorFilter, DoctorId, Page, Result, SlotCursor, SlotId, SlotQuery, SlotStatus,
    SlotView,
};
use sqlx::postgres::PgRow;

use crate::query::Sql;
use crate::rows::{self, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::script::Lit;
use crate::store::{no_rule, PgStore};

impl PgStore {
    pub(crate) async fn doctor_impl(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.retrying("doctor", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(DOCTOR)
                .push(" FROM doctors d WHERE d.id = ")
                .bind(Lit::Uuid(id.as_uuid()))
                .push(" AND d.deleted_at IS NULL");
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(rows::doctor).transpose()?)
        })
        .await
    }

    pub(crate) async fn list_doctors_impl(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.retrying("list_doctors", &no_rule, move || async move {
            let mut q = Sql::new("SELECT ");
            q.push(DOCTOR)
                .push(" FROM doctors d WHERE d.deleted_at IS NULL");
            if let Some(specialization) = &filter.specialization {
                q.push(" AND lower(d.specialization) = lower(")
                    .bind(Lit::Text(specialization.trim()))
                    .push(")");
            }
            if let Some(name) = &filter.name_contains {
                // strpos, not LIKE: `%` and `_` in the query are plain characters.
                q.push(" AND strpos(lower(d.name), lower(")
                    .bind(Lit::Text(name.trim()))
                    .push(")) > 0");
            }
            if let Some(after) = &filter.after {
                q.push(" AND (d.name COLLATE \"C\", d.id) > (")
                    .bind(Lit::Text(&after.name))
                    .push(" COLLATE \"C\", ")
                    .bind(Lit::Uuid(after.id.as_uuid()))
                    .push(")");
            }
            // Byte order, as the core sorts names.
            q.push(" ORDER BY d.name COLLATE \"C\", d.id");
            if let Some(limit) = filter.limit {
                q.push(" LIMIT ").bind(Lit::Int(i64::from(limit)));
            }
            let found = q.fetch_all(self).await?;
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
            let mut sql = Sql::new("SELECT ");
            sql.push(SLOT)
                .push(", ")
                .push(BOOKING)
                .push(" FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
                .push(OCCUPYING)
                .push(" WHERE s.id = ")
                .bind(Lit::Uuid(id.as_uuid()))
                .push(" AND s.withdrawn_at IS NULL");
            let row = sql.fetch_optional(self).await?;
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
            let mut q = Sql::new("SELECT ");
            q.push(SLOT).push(", ").push(BOOKING).push(" FROM slots s");
            if query.specialization.is_some() {
                q.push(" JOIN doctors d ON d.id = s.doctor_id");
            }
            q.push(" LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
                .push(OCCUPYING)
                .push(" WHERE s.withdrawn_at IS NULL");
            if let Some(doctor) = query.doctor_id {
                q.push(" AND s.doctor_id = ").bind(Lit::Uuid(doctor.as_uuid()));
            }
            if let Some(specialization) = &query.specialization {
                q.push(" AND lower(d.specialization) = lower(")
                    .bind(Lit::Text(specialization.trim()))
                    .push(")");
            }
            if let Some(from) = query.from {
                q.push(" AND s.starts_at >= ").bind(Lit::Ts(from));
            }
            if let Some(to) = query.to {
                q.push(" AND s.starts_at < ").bind(Lit::Ts(to));
            }
            if let Some(after) = query.after {
                q.push(" AND (s.starts_at, s.id) > (")
                    .bind(Lit::Ts(after.starts_at))
                    .push(", ")
                    .bind(Lit::Uuid(after.id.as_uuid()))
                    .push(")");
            }
            if let Some(available) = query.available {
                // Free: not started, and no booking that occupies the slot at `now` (a lapsed
                // hold or an ended buffer counts as free, whether or not it was tidied).
                q.push(if available { " AND (" } else { " AND NOT (" })
                    .push("s.starts_at > ")
                    .bind(Lit::Ts(now))
                    .push(" AND NOT COALESCE(b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_until > ")
                    .bind(Lit::Ts(now))
                    .push(") OR (b.status = 'BUFFER' AND b.buffer_until > ")
                    .bind(Lit::Ts(now))
                    .push("), false))");
            }
            q.push(" ORDER BY s.starts_at, s.id LIMIT ")
                .bind(Lit::Int(i64::from(query.limit) + 1));
            let found = q.fetch_all(self).await?;
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
