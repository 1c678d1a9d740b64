//! Read-your-writes across processes: a caller's WAL position, carried from one request to the
//! next by the caller, so that a store that never saw the caller's write still reads it.
//!
//! A store with a replica reads its own writes ([`PgStore::with_replica`]); another process
//! on the same database does not know about them. [`scope`] runs a request with the position
//! its caller brings (`read_after`, from the caller's last write, wherever it was made):
//! inside it, a lag-tolerant read goes to the replica only once the replica has replayed that
//! position too. The scope also records the highest position any mutation committed inside it
//! wrote, read in the same script as its `COMMIT` (no extra round trip), for the caller to
//! bring to its next request. Outside any scope nothing changes.
//!
//! ```
//! use medislot_pg::consistency::{self, WalPosition};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let brought: WalPosition = "16/B374D848".parse().unwrap();
//! let (answer, written) = consistency::scope(Some(brought), async {
//!     // Reads and writes through a `PgStore` with a replica; here, nothing.
//!     42
//! })
//! .await;
//! assert_eq!(answer, 42);
//! assert_eq!(written, None, "nothing was written in the scope");
//! # });
//! ```
//!
//! The scope is a tokio task-local: it covers the future it is given, not tasks that future
//! spawns.
//!
//! [`PgStore::with_replica`]: crate::PgStore::with_replica

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::str::FromStr;

/// A position in PostgreSQL's write-ahead log: bytes since `0/0`. Its text form is
/// PostgreSQL's `pg_lsn`, `X/Y` (the high and low 32 bits in hexadecimal, as
/// `pg_current_wal_lsn()` prints them), which is how it travels outside the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition(u64);

impl WalPosition {
    /// The position `bytes` bytes after `0/0`.
    pub const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    /// Bytes since `0/0`.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for WalPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & u64::from(u32::MAX))
    }
}

/// Text that is not a WAL position: not two hexadecimal numbers of 1 to 8 digits around a `/`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a WAL position: expected X/Y, two hexadecimal numbers of 1 to 8 digits (16/B374D848)")]
#[non_exhaustive]
pub struct ParseWalPositionError {}

impl FromStr for WalPosition {
    type Err = ParseWalPositionError;

    /// Parses `X/Y` as PostgreSQL's `pg_lsn` input does: each half 1 to 8 hexadecimal digits,
    /// either case, nothing around them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let half = |digits: &str| {
            let valid = (1..=8).contains(&digits.len())
                && digits.bytes().all(|byte| byte.is_ascii_hexdigit());
            valid
                .then(|| u32::from_str_radix(digits, 16).ok())
                .flatten()
                .ok_or(ParseWalPositionError {})
        };
        let (high, low) = text.split_once('/').ok_or(ParseWalPositionError {})?;
        Ok(Self(u64::from(half(high)?) << 32 | u64::from(half(low)?)))
    }
}

/// What a request's scope carries.
struct Scope {
    /// What the caller asks lag-tolerant reads to have replayed.
    read_after: Option<WalPosition>,
    /// The highest position a mutation committed in the scope wrote.
    written: Cell<Option<WalPosition>>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Runs `future` in a scope where lag-tolerant reads go to a replica only once it has replayed
/// `read_after` (as well as this store's own latest write), and answers its output with the
/// highest WAL position a mutation committed inside wrote (`None` when none did, or when the
/// store has no replica: only then is the position read).
pub async fn scope<F: Future>(
    read_after: Option<WalPosition>,
    future: F,
) -> (F::Output, Option<WalPosition>) {
    let scope = Scope {
        read_after,
        written: Cell::new(None),
    };
    SCOPE
        .scope(scope, async move {
            let output = future.await;
            let written = SCOPE.with(|scope| scope.written.get());
            (output, written)
        })
        .await
}

/// The position the current scope's caller asks reads to have replayed; `None` outside a scope.
pub(crate) fn read_after() -> Option<WalPosition> {
    SCOPE.try_with(|scope| scope.read_after).ok().flatten()
}

/// Notes that a mutation committed in the current scope wrote up to `position`; nothing
/// outside a scope.
pub(crate) fn note_written(position: WalPosition) {
    let _outside = SCOPE.try_with(|scope| {
        scope.written.set(scope.written.get().max(Some(position)));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_print_as_postgresql_writes_them() {
        for (text, bytes) in [
            ("0/0", 0),
            ("0/16B3748", 0x16B_3748),
            ("16/B374D848", 0x16_B374_D848),
            ("FFFFFFFF/FFFFFFFF", u64::MAX),
        ] {
            let position: WalPosition = text.parse().unwrap();
            assert_eq!(position.bytes(), bytes, "{text}");
            assert_eq!(position.to_string(), text);
        }
        assert_eq!(
            "16/b374d848".parse::<WalPosition>().unwrap().to_string(),
            "16/B374D848",
            "either case reads"
        );
        assert_eq!(
            "00000001/00000000".parse::<WalPosition>().unwrap().bytes(),
            1 << 32
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "/",
            "16",
            "16/",
            "/B374D848",
            "16/B374D848/0",
            "1 /0",
            " 1/0",
            "1/0 ",
            "+1/0",
            "-1/0",
            "G/0",
            "0x1/0",
            "123456789/0",
            "0/123456789",
            "1.5/0",
            "١/0",
        ] {
            assert_eq!(
                text.parse::<WalPosition>(),
                Err(ParseWalPositionError {}),
                "{text:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_scope_carries_its_requirement_and_keeps_the_highest_write() {
        let brought = WalPosition::from_bytes(7);
        let ((), written) = scope(Some(brought), async {
            assert_eq!(read_after(), Some(brought));
            note_written(WalPosition::from_bytes(30));
            note_written(WalPosition::from_bytes(20));
        })
        .await;
        assert_eq!(written, Some(WalPosition::from_bytes(30)));
        let ((), written) = scope(None, async { assert_eq!(read_after(), None) }).await;
        assert_eq!(written, None);
    }

    #[tokio::test]
    async fn outside_a_scope_nothing_is_required_or_kept() {
        assert_eq!(read_after(), None);
        note_written(WalPosition::from_bytes(1));
        let ((), written) = scope(None, async {}).await;
        assert_eq!(written, None);
    }
}
