//! Bookings: creating one, applying events, reading and listing them, tidying lapsed ones.

use chrono::{DateTime, Utc};
use medislot_core::{
    BookingCursor, BookingId, BookingOrder, BookingQuery, BookingView, Page, Result,
};
use sqlx::postgres::PgRow;

use crate::query::Sql;
use crate::rows::{self, BOOKING, DOCTOR, SLOT};
use crate::script::Lit;
use crate::store::{no_rule, PgStore};

impl PgStore {
    /// One round trip: the booking joined with its slot and doctor.
    pub(crate) async fn booking_impl(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.retrying("booking", &no_rule, move || async move {
            let mut sql = booking_select();
            sql.push(" WHERE b.id = ").bind(Lit::Uuid(id.as_uuid()));
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(booking_view).transpose()?)
        })
        .await
    }

    /// One round trip: one keyset page in the query's order, with slots and doctors joined in.
    pub(crate) async fn list_bookings_impl(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.retrying("list_bookings", &no_rule, move || async move {
            let mut q = booking_select();
            q.push(" WHERE true");
            if let Some(patient) = query.patient_id {
                q.push(" AND b.patient_id = ")
                    .bind(Lit::Uuid(patient.as_uuid()));
            }
            if let Some(doctor) = query.doctor_id {
                q.push(" AND s.doctor_id = ")
                    .bind(Lit::Uuid(doctor.as_uuid()));
            }
            if let Some(slot) = query.slot_id {
                q.push(" AND b.slot_id = ").bind(Lit::Uuid(slot.as_uuid()));
            }
            if let Some(status) = query.status {
                // The status read at `now` (BookingState::status_at): a lapsed hold reads as
                // EXPIRED and an ended buffer as CANCELLED, tidied or not.
                q.push(" AND (CASE WHEN b.status = 'PENDING' AND b.hold_until <= ")
                    .bind(Lit::Ts(now))
                    .push(" THEN 'EXPIRED' WHEN b.status = 'BUFFER' AND b.buffer_until <= ")
                    .bind(Lit::Ts(now))
                    .push(" THEN 'CANCELLED' ELSE b.status END) = ")
                    .bind(Lit::Text(status.as_str()));
            }
            if let Some(from) = query.from {
                q.push(" AND s.starts_at >= ").bind(Lit::Ts(from));
            }
            if let Some(to) = query.to {
                q.push(" AND s.starts_at < ").bind(Lit::Ts(to));
            }
            // The cursor's booking, read by the appointment orders for its slot's start.
            let cursor_key = "(SELECT cs.starts_at, cb.id FROM bookings cb \
                 JOIN slots cs ON cs.id = cb.slot_id WHERE cb.id = ";
            match (query.order, query.after) {
                (BookingOrder::Newest, Some(BookingCursor(after))) => {
                    q.push(" AND b.id < ").bind(Lit::Uuid(after.as_uuid()));
                }
                (BookingOrder::SoonestAppointment, Some(BookingCursor(after))) => {
                    q.push(" AND (s.starts_at, b.id) > ")
                        .push(cursor_key)
                        .bind(Lit::Uuid(after.as_uuid()))
                        .push(")");
                }
                (BookingOrder::LatestAppointment, Some(BookingCursor(after))) => {
                    q.push(" AND (s.starts_at, b.id) < ")
                        .push(cursor_key)
                        .bind(Lit::Uuid(after.as_uuid()))
                        .push(")");
                }
                (_, None) => {}
            }
            q.push(match query.order {
                BookingOrder::Newest => " ORDER BY b.id DESC LIMIT ",
                BookingOrder::SoonestAppointment => " ORDER BY s.starts_at, b.id LIMIT ",
                BookingOrder::LatestAppointment => " ORDER BY s.starts_at DESC, b.id DESC LIMIT ",
            })
            .bind(Lit::Int(i64::from(query.limit) + 1));
            let found = q.fetch_all(self).await?;
            let items = found
                .iter()
                .map(booking_view)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_overfetch(items, query.limit, |v| {
                BookingCursor(v.booking.id)
            }))
        })
        .await
    }
}

/// `SELECT` of a booking with its slot and doctor, up to the `WHERE`.
fn booking_select() -> Sql<'static> {
    let mut sql = Sql::new("SELECT ");
    sql.push(BOOKING)
        .push(", ")
        .push(SLOT)
        .push(", ")
        .push(DOCTOR)
        .push(
            " FROM bookings b JOIN slots s ON s.id = b.slot_id \
             JOIN doctors d ON d.id = s.doctor_id",
        );
    sql
}

fn booking_view(row: &PgRow) -> Result<BookingView, sqlx::Error> {
    Ok(BookingView {
        booking: rows::booking(row)?,
        slot: rows::slot(row)?,
        doctor: rows::doctor(row)?,
    })
}
