//! How PostgreSQL's answers become MediSlot's errors: by SQLSTATE and constraint name, never by
//! message text.

use medislot_core::{Error, StoreError};

/// Why one attempt at an operation stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A rule refused: the answer, final.
    Rule(Error),
    /// The database failed; [`crate::PgStore`] retries what is worth retrying, then maps it.
    Sql(sqlx::Error),
    /// The connection was lost after a script ending in `COMMIT` was sent, and asking the
    /// database afterwards did not tell whether it committed (see `outcome.rs`): never tried
    /// again (a retry could book twice). Reported as [`StoreError::OutcomeUnknown`].
    Unknown(sqlx::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Rule(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Sql(error)
    }
}

/// SQLSTATE `deadlock_detected`.
const DEADLOCK: &str = "40P01";
/// SQLSTATE `serialization_failure`.
const SERIALIZATION: &str = "40001";
/// SQLSTATE `lock_not_available` (`lock_timeout` ran out).
const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE `query_canceled` (`statement_timeout` ran out).
const QUERY_CANCELED: &str = "57014";
/// SQLSTATE `too_many_connections`.
const TOO_MANY_CONNECTIONS: &str = "53300";
/// SQLSTATEs of a server going away: `admin_shutdown` (also `pg_terminate_backend`),
/// `crash_shutdown`, `cannot_connect_now`.
const SHUTDOWN: [&str; 3] = ["57P01", "57P02", "57P03"];
/// SQLSTATEs of a value PostgreSQL cannot hold: `character_not_in_repertoire` (a NUL in text),
/// `untranslatable_character` (a character the database encoding lacks),
/// and, for an instant outside `timestamptz`'s range, `datetime_field_overflow` (as a bound
/// value), `invalid_time_zone_displacement_value` (a five-digit year inlined as text: PostgreSQL
/// reads `+10000` as an offset) or `invalid_datetime_format` (a year before 1 inlined as text).
/// The engine refuses such values before they get here; this is the backstop.
const UNREPRESENTABLE: [&str; 5] = ["22021", "22P05", "22008", "22009", "22007"];

/// The constraint a racing insert of the same idempotency key trips; the retry then replays.
pub(crate) const IDEMPOTENCY_KEY_UNIQUE: &str = "bookings_idempotency_key_unique";

/// Whether the connection was lost: closed by the server (`pg_terminate_backend`, a restart:
/// `57P01`, `57P02`), by a pooler or the network (an I/O error, SQLSTATE class `08`). A statement
/// sent on it either never ran or ran in a transaction the server rolled back, unless it was a
/// `COMMIT` (see `outcome.rs`); so it is safe to run a read, or a transaction not yet
/// committing, again on another connection.
pub(crate) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(dbe) => dbe.code().is_some_and(|code| {
            code.starts_with("08") || code == SHUTDOWN[0] || code == SHUTDOWN[1]
        }),
        _ => false,
    }
}

/// Whether running the whole transaction again may succeed: the server gave up on it because of
/// another transaction (deadlock, serialization failure), a racing request with the same
/// idempotency key committed first (the retry reads that booking and replays it), or the
/// connection lost its prepared statements (the retry prepares them again).
pub(crate) fn is_retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(dbe) => {
            matches!(
                dbe.code().as_deref(),
                Some(DEADLOCK | SERIALIZATION | crate::prepared::NOT_PREPARED)
            ) || dbe.constraint() == Some(IDEMPOTENCY_KEY_UNIQUE)
        }
        _ => false,
    }
}

/// The name of the constraint a database error reports, if any.
pub(crate) fn constraint_of(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(dbe) => dbe.constraint(),
        _ => None,
    }
}

/// Maps a database failure to MediSlot's error. `rule` names the domain error of a constraint
/// violation in the operation's context (it knows the slot or doctor at hand); constraints it
/// does not know fall back to [`constraint_error`].
pub(crate) fn to_error(error: sqlx::Error, rule: &dyn Fn(&str) -> Option<Error>) -> Error {
    if let sqlx::Error::Database(dbe) = &error {
        if let Some(name) = dbe.constraint() {
            if let Some(mapped) = rule(name).or_else(|| constraint_error(name)) {
                tracing::debug!(constraint = name, "constraint violation mapped to a rule");
                return mapped;
            }
        }
    }
    Error::Store(store_error(error))
}

/// The typed errors of constraints whose meaning needs no context.
fn constraint_error(name: &str) -> Option<Error> {
    match name {
        "accounts_email_unique" => Some(Error::EmailTaken),
        "slots_end_after_start" => Some(Error::validation("ends_at", "must be after starts_at")),
        "bookings_status_known"
        | "bookings_cancelled_by_known"
        | "bookings_hold_until_when_held"
        | "bookings_buffer_until_when_buffered"
        | "bookings_cancelled_by_when_cancelled"
        | "bookings_rescheduled_to_when_rescheduled"
        | "bookings_rescheduled_to_fk"
        | "bookings_rescheduled_from_fk"
        | "bookings_rescheduled_once"
        | "accounts_role_known"
        | "doctors_name_not_blank"
        | "doctors_specialization_not_blank" => Some(Error::Store(StoreError::Corrupt(format!(
            "the write broke constraint {name}"
        )))),
        _ => None,
    }
}

/// Classifies a failure that no rule explains.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(dbe) => match dbe.code().as_deref() {
            // Retried until the retries ran out (`is_retryable`): transient, as the store's
            // contract says, never a 500.
            Some(
                DEADLOCK
                | SERIALIZATION
                | LOCK_NOT_AVAILABLE
                | QUERY_CANCELED
                | crate::prepared::NOT_PREPARED,
            ) => StoreError::Busy(Box::new(error)),
            Some(code) if UNREPRESENTABLE.contains(&code) => {
                StoreError::Unrepresentable(Box::new(error))
            }
            Some(code)
                if code.starts_with("08")
                    || code == TOO_MANY_CONNECTIONS
                    || SHUTDOWN.contains(&code) =>
            {
                StoreError::Unavailable(Box::new(error))
            }
            _ => StoreError::Other(Box::new(error)),
        },
        // A value this crate would not send (see `query.rs`).
        sqlx::Error::Encode(_) => StoreError::Unrepresentable(Box::new(error)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Other(Box::new(error)),
    }
}

/// A value read back that breaks a type's rule, as a decode error (mapped to
/// [`StoreError::Corrupt`]).
pub(crate) fn corrupt(error: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadlock PostgreSQL detects is classified as `Busy` (a 503 to retry), never as a
    /// failure of its own (a 500): two transactions lock two rows in opposite orders.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_detected_deadlock_is_classified_busy() {
        let store = crate::testing::fresh_store().await;
        use sqlx::Executor as _;
        sqlx::raw_sql(
            "CREATE TABLE pair (k text PRIMARY KEY); INSERT INTO pair VALUES ('a'), ('b')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let mut first = store.pool().begin().await.unwrap();
        let mut second = store.pool().begin().await.unwrap();
        // Literals over the simple protocol: the test also runs through a transaction pooler.
        let (a, b) = (
            "SELECT 1 FROM pair WHERE k = 'a' FOR UPDATE",
            "SELECT 1 FROM pair WHERE k = 'b' FOR UPDATE",
        );
        first.execute(sqlx::raw_sql(a)).await.unwrap();
        second.execute(sqlx::raw_sql(b)).await.unwrap();
        let (one, two) = tokio::join!(
            first.execute(sqlx::raw_sql(b)),
            second.execute(sqlx::raw_sql(a)),
        );
        let failed = match (one, two) {
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => e,
            other => panic!("exactly one side is the deadlock victim: {other:?}"),
        };
        assert!(
            matches!(&failed, sqlx::Error::Database(dbe) if dbe.code().as_deref() == Some(DEADLOCK)),
            "{failed:?}"
        );
        assert!(is_retryable(&failed));
        assert!(matches!(store_error(failed), StoreError::Busy(_)));
    }

    /// Each SQLSTATE of a value PostgreSQL cannot hold, raised by the server itself, is
    /// classified as [`StoreError::Unrepresentable`] (answered 422), never as `Other` (a 500).
    #[tokio::test]
    async fn values_postgres_cannot_hold_are_classified_unrepresentable() {
        let store = crate::testing::fresh_store().await;
        for (sql, sqlstate) in [
            ("SELECT convert_from('\\x4100'::bytea, 'UTF8')", "22021"),
            ("SELECT convert_to(U&'\\+01F600', 'LATIN1')", "22P05"),
            ("SELECT '+10000-01-01T00:00:00Z'::timestamptz", "22009"),
            ("SELECT '-0001-01-01T00:00:00Z'::timestamptz", "22007"),
            ("SELECT '294277-01-01 00:00:00Z'::timestamptz", "22008"),
        ] {
            let Err(error) = sqlx::raw_sql(sql).fetch_all(store.pool()).await else {
                panic!("{sql} should fail");
            };
            let code = match &error {
                sqlx::Error::Database(dbe) => dbe.code().map(|c| c.into_owned()),
                _ => None,
            };
            assert_eq!(code.as_deref(), Some(sqlstate), "{sql}: {error}");
            assert!(
                matches!(store_error(error), StoreError::Unrepresentable(_)),
                "{sql}"
            );
        }
    }
}
