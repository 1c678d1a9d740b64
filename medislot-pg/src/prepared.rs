//! The hot statements: the ones every booking and booking event runs, written once as
//! templates with `$1`, `$2`, ... parameters, and sent one of two ways
//! ([`PgStoreOptions::prepared_statements`](crate::PgStoreOptions::prepared_statements)):
//!
//! - **prepared** (the default): `PREPARE`d under `medislot_*` names the first time a connection
//!   needs them, then run as `EXECUTE name(literal, ...)`, so a booking skips parsing and
//!   planning (measured on this machine under load: the booking rate went up by about half);
//! - **inline**: the template with its parameters replaced by literals, for connection poolers
//!   in transaction mode (PgBouncer), where a session's prepared statements do not follow the
//!   client from one transaction to the next.
//!
//! Either way a mutation still costs two round trips.

use std::sync::OnceLock;

use futures::future::BoxFuture;
use futures::TryStreamExt as _;
use sqlx::{PgConnection, Row as _};

use crate::rows::{ACCOUNT, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::waitlist::{self, ENTRY};

/// SQLSTATE `invalid_sql_statement_name`: the connection has not prepared the statement.
pub(crate) const NOT_PREPARED: &str = "26000";

/// One hot statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hot {
    /// `(slot id)`: the slot, locked, with `s_withdrawn`.
    LockSlot,
    /// `(slot id)`: the slot's booking with an occupying status.
    Occupant,
    /// `(patient id, key)`: the patient's booking made with this idempotency key.
    Replay,
    /// `(booking id)`: the booking's slot, locked (withdrawn or not).
    LockBookingSlot,
    /// `(booking id)`: the booking, locked.
    LockBooking,
    /// `(slot id)`: the slot's doctor, deleted or not.
    SlotDoctor,
    /// `(account id, session id)`: the account, with `revoked`, whether the session was
    /// logged out.
    SessionAccount,
    /// `(slot id)`: the waitlist entry whose live offer is the slot's occupying booking.
    SlotOffer,
    /// `(slot id)`: the first waitlist entry waiting for the live slot.
    SlotWaiting,
    /// Inserts a booking (12 columns).
    InsertBooking,
    /// `(booking id, status, hold_until, buffer_until, cancelled_by, cancel_reason, at,
    /// rescheduled_to)`: writes a booking's state.
    WriteState,
}

impl Hot {
    const ALL: [Hot; 11] = [
        Hot::LockSlot,
        Hot::Occupant,
        Hot::Replay,
        Hot::LockBookingSlot,
        Hot::LockBooking,
        Hot::SlotDoctor,
        Hot::SessionAccount,
        Hot::SlotOffer,
        Hot::SlotWaiting,
        Hot::InsertBooking,
        Hot::WriteState,
    ];

    /// The name it is prepared under. A build that changes a template renames its statement.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Hot::LockSlot => "medislot_lock_slot",
            Hot::Occupant => "medislot_occupant_v2",
            Hot::Replay => "medislot_replay_v2",
            Hot::LockBookingSlot => "medislot_lock_booking_slot_v2",
            Hot::LockBooking => "medislot_lock_booking_v2",
            Hot::SlotDoctor => "medislot_slot_doctor",
            Hot::SessionAccount => "medislot_session_account",
            Hot::SlotOffer => "medislot_slot_offer",
            Hot::SlotWaiting => "medislot_slot_waiting",
            Hot::InsertBooking => "medislot_insert_booking_v4",
            Hot::WriteState => "medislot_write_state_v3",
        }
    }

    const fn params(self) -> &'static str {
        match self {
            Hot::LockSlot
            | Hot::Occupant
            | Hot::LockBookingSlot
            | Hot::LockBooking
            | Hot::SlotDoctor
            | Hot::SlotOffer
            | Hot::SlotWaiting => "uuid",
            Hot::Replay => "uuid, text",
            Hot::SessionAccount => "uuid, uuid",
            Hot::InsertBooking => {
                "uuid, uuid, uuid, text, timestamptz, timestamptz, text, text, text, \
                 timestamptz, timestamptz, uuid, text"
            }
            Hot::WriteState => {
                "uuid, text, timestamptz, timestamptz, text, text, timestamptz, uuid"
            }
        }
    }

    /// The statement, with `$n` parameters.
    pub(crate) fn template(self) -> &'static str {
        static TEMPLATES: OnceLock<Vec<String>> = OnceLock::new();
        let templates = TEMPLATES.get_or_init(|| {
            Hot::ALL
                .iter()
                .map(|hot| match hot {
                    Hot::LockSlot => format!(
                        "SELECT {SLOT}, s.withdrawn_at IS NOT NULL AS s_withdrawn FROM slots s \
                         WHERE s.id = $1 FOR UPDATE"
                    ),
                    Hot::Occupant => format!(
                        "SELECT {BOOKING} FROM bookings b \
                         WHERE b.slot_id = $1 AND b.status IN {OCCUPYING}"
                    ),
                    Hot::Replay => format!(
                        "SELECT {BOOKING} FROM bookings b \
                         WHERE b.patient_id = $1 AND b.idempotency_key = $2"
                    ),
                    Hot::LockBookingSlot => format!(
                        "SELECT {SLOT} FROM slots s \
                         WHERE s.id = (SELECT slot_id FROM bookings WHERE id = $1) FOR UPDATE"
                    ),
                    Hot::LockBooking => {
                        format!("SELECT {BOOKING} FROM bookings b WHERE b.id = $1 FOR UPDATE")
                    }
                    Hot::SlotDoctor => format!(
                        "SELECT {DOCTOR} FROM doctors d \
                         WHERE d.id = (SELECT doctor_id FROM slots WHERE id = $1)"
                    ),
                    Hot::SessionAccount => format!(
                        "SELECT {ACCOUNT}, EXISTS (SELECT 1 FROM revoked_sessions r \
                         WHERE r.id = $2) AS revoked FROM accounts WHERE id = $1"
                    ),
                    Hot::SlotOffer => format!(
                        "SELECT {ENTRY} FROM bookings b JOIN waitlist w \
                         ON w.offer_booking_id = b.id AND w.status = 'OFFERED' \
                         WHERE b.status IN {OCCUPYING} AND b.slot_id = $1"
                    ),
                    Hot::SlotWaiting => format!(
                        "{}$1 ORDER BY w.joined_at, w.id LIMIT 1",
                        waitlist::first_waiting()
                    ),
                    Hot::InsertBooking => "INSERT INTO bookings (id, slot_id, patient_id, \
                         status, hold_until, buffer_until, cancelled_by, cancel_reason, \
                         idempotency_key, created_at, updated_at, rescheduled_from, \
                         visit_reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                        .to_owned(),
                    Hot::WriteState => "UPDATE bookings SET status = $2, hold_until = $3, \
                         buffer_until = $4, cancelled_by = $5, cancel_reason = $6, \
                         updated_at = $7, rescheduled_to = $8 WHERE id = $1"
                        .to_owned(),
                })
                .collect()
        });
        let index = Hot::ALL.iter().position(|h| *h == self).unwrap_or(0);
        &templates[index]
    }

    fn prepare_sql(self) -> String {
        format!(
            "PREPARE {}({}) AS {}",
            self.name(),
            self.params(),
            self.template()
        )
    }
}

/// Prepares, on this connection, every hot statement it has not prepared yet: two round trips,
/// once per connection.
pub(crate) fn prepare(conn: &mut PgConnection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        let mut have = Vec::new();
        {
            let mut rows = sqlx::raw_sql(
                "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'medislot_')",
            )
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                have.push(row.try_get::<String, _>("name")?);
            }
        }
        let missing: Vec<String> = Hot::ALL
            .iter()
            .filter(|hot| !have.iter().any(|h| h == hot.name()))
            .map(|hot| hot.prepare_sql())
            .collect();
        if !missing.is_empty() {
            let sql = missing.join(";\n");
            let mut done = sqlx::raw_sql(&sql).fetch_many(&mut *conn);
            while done.try_next().await?.is_some() {}
        }
        tracing::debug!(prepared = missing.len(), "prepared the hot statements");
        Ok(())
    })
}

/// Whether `error` says the connection lacks one of the prepared statements.
pub(crate) fn is_not_prepared(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(dbe) if dbe.code().as_deref() == Some(NOT_PREPARED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_uses_each_of_its_parameters() {
        for hot in Hot::ALL {
            let count = hot.params().split(',').count();
            for n in 1..=count {
                assert!(
                    hot.template().contains(&format!("${n}")),
                    "{} does not use ${n}",
                    hot.name()
                );
            }
            assert!(!hot.template().contains(&format!("${}", count + 1)));
        }
    }
}
