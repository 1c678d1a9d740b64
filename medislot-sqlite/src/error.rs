//! How SQLite's failures become the core's errors.
//!
//! SQLite reports no constraint names, only result codes: sqlx gives the *extended* result code
//! as [`DatabaseError::code`] (for example `2067`, `SQLITE_CONSTRAINT_UNIQUE`). Errors are
//! classified by that code, never by message text; which constraint fired is then known from the
//! statement that ran (see the callers: each statement that can break a constraint documents the
//! one it can break).

use medislot_core::StoreError;
use sqlx::error::DatabaseError;

/// `SQLITE_BUSY`: another connection holds a lock the statement needs (after the busy timeout).
const SQLITE_BUSY: i32 = 5;
/// `SQLITE_LOCKED`: a lock conflict inside one connection or shared cache.
const SQLITE_LOCKED: i32 = 6;
/// `SQLITE_IOERR`: the operating system reported an I/O error.
const SQLITE_IOERR: i32 = 10;
/// `SQLITE_FULL`: the disk is full.
const SQLITE_FULL: i32 = 13;
/// `SQLITE_CANTOPEN`: the file (or its WAL) could not be opened.
const SQLITE_CANTOPEN: i32 = 14;
/// `SQLITE_CONSTRAINT_UNIQUE`: a `UNIQUE` constraint or unique index refused a row.
pub(crate) const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
/// `SQLITE_CONSTRAINT_TRIGGER`: a trigger's `RAISE(ABORT, ...)` refused a row.
pub(crate) const SQLITE_CONSTRAINT_TRIGGER: i32 = 1811;

/// The extended result code of a database error, if it carries one.
pub(crate) fn extended_code(error: &sqlx::Error) -> Option<i32> {
    match error {
        sqlx::Error::Database(db) => code_of(db.as_ref()),
        _ => None,
    }
}

fn code_of(db: &dyn DatabaseError) -> Option<i32> {
    db.code()?.parse().ok()
}

/// Classifies a failure of the storage itself.
///
/// - `SQLITE_BUSY` / `SQLITE_LOCKED` (any extended variant), after SQLite's busy timeout has
///   already waited: [`StoreError::Busy`];
/// - no connection (pool timed out or closed, I/O error, worker thread gone) or a file that
///   cannot be read or grown (`SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`):
///   [`StoreError::Unavailable`];
/// - anything else: [`StoreError::Other`].
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    let primary = extended_code(&error).map(|code| code & 0xff);
    match primary {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => return StoreError::Busy(Box::new(error)),
        Some(SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN) => {
            return StoreError::Unavailable(Box::new(error))
        }
        _ => {}
    }
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        other => StoreError::Other(Box::new(other)),
    }
}

/// As [`store_error`], for a failure to start a write transaction: waiting for the single
/// writer connection is waiting for SQLite's write lock, so running out of time is
/// [`StoreError::Busy`], not a missing connection.
pub(crate) fn begin_write_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut => StoreError::Busy(Box::new(error)),
        other => store_error(other),
    }
}

/// The core's error for a storage failure.
pub(crate) fn db(error: sqlx::Error) -> medislot_core::Error {
    medislot_core::Error::Store(store_error(error))
}

/// A stored value that does not decode into the core's types.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_unavailable_for_readers_and_busy_for_writers() {
        assert!(matches!(
            store_error(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            begin_write_error(sqlx::Error::PoolTimedOut),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            store_error(sqlx::Error::RowNotFound),
            StoreError::Other(_)
        ));
    }
}
