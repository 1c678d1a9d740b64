//! Bookings: creating one, applying events, reading and listing them, tidying lapsed ones.

use chrono::{DateTime, Utc};
use medislot_core::{
    state, Booking, BookingCursor, BookingId, BookingQuery, BookingState, BookingView, CancelledBy,
    Error, Event, Page, Result,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use crate::error::Failure;
use crate::rows::{self, BOOKING, DOCTOR, SLOT};
use crate::script::{Results, Script, Stmt, Tx};
use crate::store::{no_rule, PgStore};

impl PgStore {
    /// Two round trips: `BEGIN`, lock the slot, read the replay candidate and the occupant;
    /// then tidy the lapsed occupant (if the rule asks), insert, `COMMIT` — or `ROLLBACK`.
    pub(crate) async fn create_booking_impl(
        &self,
        draft: &Booking,
        now: DateTime<Utc>,
    ) -> Result<Booking> {
        let slot_id = draft.slot_id;
        // Backstops: the locked read makes these unreachable unless something bypassed it.
        let rule = |name: &str| match name {
            "bookings_one_active_per_slot" => Some(Error::SlotUnavailable(slot_id)),
            "bookings_slot_fk" => Some(Error::SlotNotFound(slot_id)),
            _ => None,
        };
        self.retrying("create_booking", &rule, move || async move {
            let mut read = Script::new();
            let slot = read
                .sql("EXECUTE medislot_lock_slot(")
                .uuid(slot_id)
                .sql(")")
                .end();
            // Both reads come after the lock, each with its own snapshot: they see every
            // booking committed before the lock was granted.
            let replay = draft.idempotency_key.as_ref().map(|key| {
                read.sql("EXECUTE medislot_replay(")
                    .uuid(draft.patient_id)
                    .sql(", ")
                    .text(key.as_str())
                    .sql(")")
                    .end()
            });
            let occupant = read
                .sql("EXECUTE medislot_occupant(")
                .uuid(slot_id)
                .sql(")")
                .end();
            let (tx, found) = Tx::begin(&self.pool, read).await?;

            let slot = match found.first(slot) {
                Some(row) if !sqlx::Row::try_get::<bool, _>(row, "s_withdrawn")? => {
                    rows::slot(row)?
                }
                _ => return refuse(tx, Error::SlotNotFound(slot_id)).await,
            };
            if let Some(row) = replay.and_then(|stmt| found.first(stmt)) {
                let first = rows::booking(row)?;
                tx.rollback().await;
                return Ok(state::replay(&first, slot_id)?);
            }
            let occupant = found.first(occupant).map(rows::booking).transpose()?;
            let tidy = match state::check_bookable(&slot, occupant.as_ref(), now) {
                Ok(tidy) => tidy,
                Err(refusal) => return refuse(tx, refusal).await,
            };

            let mut write = Script::new();
            if let Some(tidy) = &tidy {
                write_state(&mut write, tidy.occupant, &tidy.state, now);
            }
            let inserted = insert(&mut write, draft);
            let written = tx.commit(write).await?;
            Ok(stored(&written, inserted)?)
        })
        .await
    }

    /// Two round trips: `BEGIN`, lock the booking's slot, then the booking, and read it; then
    /// write the new state and `COMMIT` — or `ROLLBACK` when the transition is refused.
    pub(crate) async fn apply_event_impl(
        &self,
        id: BookingId,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Result<Booking> {
        self.retrying("apply_event", &no_rule, move || async move {
            let mut read = Script::new();
            // Slot first, then booking: the order every mutation takes its locks in. A
            // booking never changes slot, so its slot id can be read before either lock.
            read.sql("EXECUTE medislot_lock_booking_slot(")
                .uuid(id)
                .sql(")")
                .end();
            let booking = read
                .sql("EXECUTE medislot_lock_booking(")
                .uuid(id)
                .sql(")")
                .end();
            let (tx, found) = Tx::begin(&self.pool, read).await?;

            let booking = match found.first(booking) {
                Some(row) => rows::booking(row)?,
                None => return refuse(tx, Error::BookingNotFound(id)).await,
            };
            let new = match state::transition(&booking, event, now) {
                Ok(new) => new,
                Err(refusal) => return refuse(tx, refusal).await,
            };

            let mut write = Script::new();
            let updated = write_state(&mut write, id, &new, now);
            let written = tx.commit(write).await?;
            Ok(stored(&written, updated)?)
        })
        .await
    }

    /// One round trip: the booking joined with its slot and doctor.
    pub(crate) async fn booking_impl(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.retrying("booking", &no_rule, move || async move {
            let sql = format!(
                "SELECT {BOOKING}, {SLOT}, {DOCTOR} FROM bookings b \
                 JOIN slots s ON s.id = b.slot_id JOIN doctors d ON d.id = s.doctor_id \
                 WHERE b.id = $1"
            );
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(booking_view).transpose()?)
        })
        .await
    }

    /// One round trip: one keyset page, newest first, with slots and doctors joined in.
    pub(crate) async fn list_bookings_impl(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.retrying("list_bookings", &no_rule, move || async move {
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "SELECT {BOOKING}, {SLOT}, {DOCTOR} FROM bookings b \
                 JOIN slots s ON s.id = b.slot_id JOIN doctors d ON d.id = s.doctor_id \
                 WHERE true"
            ));
            if let Some(patient) = query.patient_id {
                q.push(" AND b.patient_id = ").push_bind(patient.as_uuid());
            }
            if let Some(doctor) = query.doctor_id {
                q.push(" AND s.doctor_id = ").push_bind(doctor.as_uuid());
            }
            if let Some(slot) = query.slot_id {
                q.push(" AND b.slot_id = ").push_bind(slot.as_uuid());
            }
            if let Some(status) = query.status {
                // The status read at `now` (BookingState::status_at): a lapsed hold reads as
                // EXPIRED and an ended buffer as CANCELLED, tidied or not.
                q.push(" AND (CASE WHEN b.status = 'PENDING' AND b.hold_until <= ")
                    .push_bind(now)
                    .push(" THEN 'EXPIRED' WHEN b.status = 'BUFFER' AND b.buffer_until <= ")
                    .push_bind(now)
                    .push(" THEN 'CANCELLED' ELSE b.status END) = ")
                    .push_bind(status.as_str());
            }
            if let Some(from) = query.from {
                q.push(" AND s.starts_at >= ").push_bind(from);
            }
            if let Some(to) = query.to {
                q.push(" AND s.starts_at < ").push_bind(to);
            }
            if let Some(BookingCursor(after)) = query.after {
                q.push(" AND b.id < ").push_bind(after.as_uuid());
            }
            q.push(" ORDER BY b.id DESC LIMIT ")
                .push_bind(i64::from(query.limit) + 1);
            let found = q.build().fetch_all(&self.pool).await?;
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

    /// One round trip: one bulk `UPDATE`. Its changes are exactly [`Event::Expire`]'s: a
    /// lapsed hold becomes `EXPIRED` and an ended buffer `CANCELLED`, every other column kept.
    pub(crate) async fn release_expired_impl(&self, now: DateTime<Utc>) -> Result<u64> {
        self.retrying("release_expired", &no_rule, move || async move {
            let done = sqlx::query(
                "UPDATE bookings \
                 SET status = CASE status WHEN 'PENDING' THEN 'EXPIRED' ELSE 'CANCELLED' END, \
                     updated_at = $1 \
                 WHERE (status = 'PENDING' AND hold_until <= $1) \
                    OR (status = 'BUFFER' AND buffer_until <= $1)",
            )
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        })
        .await
    }
}

/// Rolls back and answers with the rule's refusal.
async fn refuse<T>(tx: Tx, refusal: Error) -> Result<T, Failure> {
    tx.rollback().await;
    Err(Failure::Rule(refusal))
}

/// Appends the `UPDATE` that stores `new`; the statement returns the stored booking.
fn write_state(script: &mut Script, id: BookingId, new: &BookingState, now: DateTime<Utc>) -> Stmt {
    let parts = new.to_parts();
    script
        .sql("EXECUTE medislot_write_state(")
        .uuid(id)
        .sql(", ")
        .text(parts.status.as_str())
        .sql(", ")
        .opt_ts(parts.hold_until)
        .sql(", ")
        .opt_ts(parts.buffer_until)
        .sql(", ")
        .opt_text(parts.cancelled_by.map(CancelledBy::as_str))
        .sql(", ")
        .opt_text(parts.cancel_reason.as_deref())
        .sql(", ")
        .ts(now)
        .sql(")")
        .end()
}

/// Appends the `INSERT` of `booking`; the statement returns the stored booking (times as
/// stored, to the microsecond).
fn insert(script: &mut Script, booking: &Booking) -> Stmt {
    let parts = booking.state.to_parts();
    script
        .sql("EXECUTE medislot_insert_booking(")
        .uuid(booking.id)
        .sql(", ")
        .uuid(booking.slot_id)
        .sql(", ")
        .uuid(booking.patient_id)
        .sql(", ")
        .text(parts.status.as_str())
        .sql(", ")
        .opt_ts(parts.hold_until)
        .sql(", ")
        .opt_ts(parts.buffer_until)
        .sql(", ")
        .opt_text(parts.cancelled_by.map(CancelledBy::as_str))
        .sql(", ")
        .opt_text(parts.cancel_reason.as_deref())
        .sql(", ")
        .opt_text(booking.idempotency_key.as_ref().map(|k| k.as_str()))
        .sql(", ")
        .ts(booking.created_at)
        .sql(", ")
        .ts(booking.updated_at)
        .sql(")")
        .end()
}

/// The booking a write statement returned.
fn stored(written: &Results, stmt: Stmt) -> Result<Booking, sqlx::Error> {
    match written.first(stmt) {
        Some(row) => rows::booking(row),
        None => Err(sqlx::Error::RowNotFound),
    }
}

fn booking_view(row: &PgRow) -> Result<BookingView, sqlx::Error> {
    Ok(BookingView {
        booking: rows::booking(row)?,
        slot: rows::slot(row)?,
        doctor: rows::doctor(row)?,
    })
}
