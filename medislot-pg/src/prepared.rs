//! Server-side prepared statements for the hot path (booking and booking events).
//!
//! A script sent over the simple-query protocol is parsed and planned on every run. For the
//! statements every booking runs, that work is done once per connection instead: they are
//! `PREPARE`d under `medislot_*` names the first time a connection needs them, and scripts run
//! them with `EXECUTE name(literal, ...)` — still two round trips per booking, without the
//! parse and plan. (Measured on this machine under load: the booking rate went up by about
//! half; see the crate docs.)

use std::sync::OnceLock;

use futures::future::BoxFuture;
use futures::TryStreamExt as _;
use sqlx::{PgConnection, Row as _};

use crate::rows::{BOOKING, OCCUPYING, SLOT};

/// SQLSTATE `invalid_sql_statement_name`: the connection has not prepared the statement.
pub(crate) const NOT_PREPARED: &str = "26000";

/// Each statement's name and `PREPARE` text.
fn statements() -> &'static [(&'static str, String)] {
    static STATEMENTS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    STATEMENTS.get_or_init(|| {
        let returning = format!("RETURNING {BOOKING}");
        vec![
            (
                "medislot_lock_slot",
                format!(
                    "PREPARE medislot_lock_slot(uuid) AS SELECT {SLOT}, \
                     s.withdrawn_at IS NOT NULL AS s_withdrawn FROM slots s WHERE s.id = $1 \
                     FOR UPDATE"
                ),
            ),
            (
                "medislot_occupant",
                format!(
                    "PREPARE medislot_occupant(uuid) AS SELECT {BOOKING} FROM bookings b \
                     WHERE b.slot_id = $1 AND b.status IN {OCCUPYING}"
                ),
            ),
            (
                "medislot_replay",
                format!(
                    "PREPARE medislot_replay(uuid, text) AS SELECT {BOOKING} FROM bookings b \
                     WHERE b.patient_id = $1 AND b.idempotency_key = $2"
                ),
            ),
            (
                "medislot_lock_booking_slot",
                "PREPARE medislot_lock_booking_slot(uuid) AS SELECT 1 FROM slots \
                 WHERE id = (SELECT slot_id FROM bookings WHERE id = $1) FOR UPDATE"
                    .to_owned(),
            ),
            (
                "medislot_lock_booking",
                format!(
                    "PREPARE medislot_lock_booking(uuid) AS SELECT {BOOKING} FROM bookings b \
                     WHERE b.id = $1 FOR UPDATE"
                ),
            ),
            (
                "medislot_insert_booking",
                format!(
                    "PREPARE medislot_insert_booking(uuid, uuid, uuid, text, timestamptz, \
                     timestamptz, text, text, text, timestamptz, timestamptz) AS \
                     INSERT INTO bookings AS b (id, slot_id, patient_id, status, hold_until, \
                     buffer_until, cancelled_by, cancel_reason, idempotency_key, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     {returning}"
                ),
            ),
            (
                "medislot_write_state",
                format!(
                    "PREPARE medislot_write_state(uuid, text, timestamptz, timestamptz, text, \
                     text, timestamptz) AS UPDATE bookings AS b SET status = $2, \
                     hold_until = $3, buffer_until = $4, cancelled_by = $5, \
                     cancel_reason = $6, updated_at = $7 WHERE b.id = $1 {returning}"
                ),
            ),
        ]
    })
}

/// Prepares, on this connection, every statement it has not prepared yet: two round trips,
/// once per connection. Statements of the same name left by an older build are kept, which is
/// harmless as long as their text did not change; a new build that changes one renames it.
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
        let missing: Vec<&str> = statements()
            .iter()
            .filter(|(name, _)| !have.iter().any(|h| h == name))
            .map(|(_, sql)| sql.as_str())
            .collect();
        if !missing.is_empty() {
            let sql = missing.join(";\n");
            let mut done = sqlx::raw_sql(&sql).fetch_many(&mut *conn);
            while done.try_next().await?.is_some() {}
        }
        tracing::debug!(prepared = missing.len(), "prepared the booking statements");
        Ok(())
    })
}

/// Whether `error` says the connection lacks one of the prepared statements.
pub(crate) fn is_not_prepared(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(dbe) if dbe.code().as_deref() == Some(NOT_PREPARED))
}
