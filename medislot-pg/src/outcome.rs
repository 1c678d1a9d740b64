//! A `COMMIT` whose answer was lost: did the transaction commit?
//!
//! When the connection drops after the script ending in `COMMIT` was sent and before its answer
//! arrived (the server restarted, an administrator ended the backend, the network or a pooler
//! cut it), the commit may or may not have happened. Answering "unavailable" would tell a
//! patient their booking failed when it may be stored; trying again could book twice.
//!
//! So every transaction that reads before it writes learns its transaction id in its first
//! script (`txid_current()`, one more statement in a round trip already made; a transaction
//! that locks rows has an id anyway). After a lost `COMMIT` the store asks the database, on
//! another connection, what became of that id (`txid_status`), waiting for the database with
//! growing pauses for up to [`PgStoreOptions::outcome_patience`]:
//!
//! - `committed`: the write happened; the operation returns what it decided.
//! - `aborted`, or an id the database never logged ("in the future" after a crash): it did not
//!   happen, so the whole transaction is run again, exactly as after a connection lost before
//!   `COMMIT` was sent.
//! - still `in progress`, `NULL` (no longer known), or no answer within the patience:
//!   [`StoreError::OutcomeUnknown`](medislot_core::StoreError::OutcomeUnknown).
//!
//! `txid_current` and `txid_status` are the names PostgreSQL 10 to 12 know; 13 and later keep
//! them beside `pg_current_xact_id` and `pg_xact_status`, which give the same ids as `xid8`.
//! Both are ordinary functions, so this works through a transaction pooler too: the id is read
//! inside the transaction, and the status on whichever server connection comes next.
//!
//! A mutation that reads nothing first (creating a doctor) sends `BEGIN`, its writes and
//! `COMMIT` in one script, so it never learns its id before the answer: a lost answer there is
//! reported as unknown at once.
//!
//! [`PgStoreOptions::outcome_patience`]: crate::PgStoreOptions::outcome_patience

use std::time::Duration;

use sqlx::Row as _;
use tokio::time::Instant;

use crate::error::Failure;
use crate::store::PgStore;

/// The statement, placed right after `BEGIN` in a transaction's first script, that gives the
/// transaction's id (assigning one if its statements have not yet).
pub(crate) const XID: &str = "SELECT txid_current()";

/// SQLSTATE `invalid_parameter_value`: `txid_status` of an id past the server's next one, which
/// no commit record can hold (the server lost it in a crash before logging anything of it).
const INVALID_PARAMETER_VALUE: &str = "22023";

/// The longest pause between two questions about one transaction.
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// What the database says of a transaction id.
#[derive(Debug, PartialEq, Eq)]
enum Status {
    /// It committed; with the primary's WAL position now when the store has a replica.
    Committed(Option<i64>),
    /// It rolled back, or never existed as far as the server knows.
    RolledBack,
    /// Still running, or too old to be known.
    Pending,
}

impl PgStore {
    /// Settles an attempt whose connection was lost (`error`) after its `COMMIT` was sent.
    /// `Ok` when the transaction committed (the replica's read-your-writes position is noted);
    /// [`Failure::Sql`] with the connection error when it did not, which the retry loop runs
    /// again as a connection lost before `COMMIT`; [`Failure::Unknown`] otherwise.
    pub(crate) async fn settle_lost_commit(
        &self,
        xid: Option<i64>,
        error: sqlx::Error,
    ) -> Result<(), Failure> {
        let Some(xid) = xid else {
            tracing::warn!(%error, "connection lost during COMMIT of a transaction with no id");
            return Err(Failure::Unknown(error));
        };
        let give_up = Instant::now() + self.outcome_patience;
        let mut pause = Duration::from_millis(10);
        loop {
            let status = tokio::time::timeout_at(give_up, self.status_of(xid)).await;
            match status {
                Ok(Ok(Status::Committed(position))) => {
                    tracing::info!(xid, %error, "connection lost during COMMIT; it committed");
                    if self.has_replica() {
                        self.note_write(position);
                    }
                    return Ok(());
                }
                Ok(Ok(Status::RolledBack)) => {
                    tracing::info!(xid, %error, "connection lost during COMMIT; it rolled back");
                    return Err(Failure::Sql(error));
                }
                Ok(Ok(Status::Pending)) => {
                    tracing::debug!(xid, "transaction still in progress; asking again");
                }
                Ok(Err(asking)) => {
                    tracing::debug!(xid, error = %asking, "cannot ask about a transaction yet");
                }
                Err(_elapsed) => break,
            }
            let now = Instant::now();
            if now >= give_up {
                break;
            }
            tokio::time::sleep(pause.min(give_up - now)).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        tracing::warn!(xid, %error, patience = ?self.outcome_patience, "connection lost during COMMIT; outcome unknown");
        Err(Failure::Unknown(error))
    }

    /// One question, on any pooled connection: the status of `xid`, and with a replica the WAL
    /// position (past the commit record if it committed).
    async fn status_of(&self, xid: i64) -> Result<Status, sqlx::Error> {
        // Digits and a sign only: an integer literal.
        let mut sql = format!("SELECT txid_status({xid})");
        if self.has_replica() {
            sql.push_str(";\n");
            sql.push_str(crate::replica::WAL_POSITION);
        }
        let rows = match sqlx::raw_sql(&sql).fetch_all(&self.pool).await {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(dbe))
                if dbe.code().as_deref() == Some(INVALID_PARAMETER_VALUE) =>
            {
                return Ok(Status::RolledBack);
            }
            Err(error) => return Err(error),
        };
        let status: Option<String> = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        Ok(match status.as_deref() {
            Some("committed") => Status::Committed(rows.get(1).and_then(|row| row.try_get(0).ok())),
            Some("aborted") => Status::RolledBack,
            // "in progress", or NULL: an id too old for its status to be kept, which a
            // transaction seconds old cannot be; nothing is assumed of it.
            _ => Status::Pending,
        })
    }
}
