//! The read replica ([`PgStore::with_replica`]): which reads may go there, and how a caller
//! reads its own writes.
//!
//! Reads that tolerate lag (the slot listing, the free-slot counts behind availability and
//! "next available", the doctor list) go to a streaming replica, all others to the primary:
//! every mutation (its locks, its reads and its writes are one transaction there), a single
//! slot, booking or doctor, every booking list (a patient's own bookings among them), the
//! journal, the outbox, the waitlist and accounts.
//!
//! **Read-your-writes.** After each committed mutation the store notes the primary's WAL
//! insert position, read by a statement that travels after `COMMIT` in the same script (no
//! extra round trip). A lag-tolerant read goes to the replica only once the replica has
//! replayed (`pg_last_wal_replay_lsn()`) up to the later of two positions, else to the
//! primary:
//! - the latest position this store noted, so whatever a caller of this store wrote, any
//!   caller of this store then reads (a guarantee per store, so per server process: it covers
//!   every session the process serves);
//! - the position the caller brings, when the read runs inside a
//!   [`consistency::scope`](crate::consistency::scope) with one: a caller who wrote through
//!   another store (another server process) and kept the position that write answered with
//!   (the scope records it) reads that write too. A caller who brings nothing gets the
//!   per-store guarantee only.
//!
//! The replica's replay position only moves forward, so once seen past a position no further
//! check is needed for it; a check costs one round trip to the replica, made only by a
//! lag-tolerant read that needs a position the replica has not been seen to replay.
//!
//! **No stale read decides.** A booking decision never reads the replica: the mutation locks
//! and re-reads its rows with `SELECT ... FOR UPDATE` on the primary, so a slot a stale listing
//! showed as free is refused if it was taken.
//!
//! **The replica failing.** A lag-tolerant read the replica fails (unreachable, a query
//! cancelled by a recovery conflict, a database not yet replayed) runs on the primary instead,
//! and the replica is left alone for [`RESTING`] before it is tried again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use medislot_core::{Error, Result, StoreError};
use sqlx::Row as _;

use crate::consistency::{self, WalPosition};
use crate::store::PgStore;

/// How long the replica is left alone after it failed a read.
pub(crate) const RESTING: Duration = Duration::from_secs(1);

/// The statement that follows `COMMIT` in a mutation's last script when the store has a
/// replica: the primary's WAL insert position, which is past the commit record just written.
pub(crate) const WAL_POSITION: &str =
    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint";

/// The replica's replay position (`NULL` on a server that is not a standby).
const REPLAYED: &str = "SELECT pg_is_in_recovery(), \
     pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint";

/// A replica and what the store knows of it. Shared by every clone of the store.
#[derive(Debug)]
pub(crate) struct Replica {
    /// The replica's pool (a store with no replica of its own).
    store: PgStore,
    /// The primary's WAL position after this store's latest committed mutation.
    written: AtomicU64,
    /// The furthest replay position seen on the replica.
    replayed: AtomicU64,
    /// Until when the replica is left alone after a failure.
    resting_until: Mutex<Option<Instant>>,
}

/// What a store with a replica knows of it, for readiness checks: where lag-tolerant reads
/// go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicaStatus {
    /// A standby that has replayed this store's latest write: lag-tolerant reads go there.
    Current,
    /// A standby that has not replayed this store's latest write yet: lag-tolerant reads go
    /// to the primary until it has.
    Behind,
    /// It answers but is not a standby (promoted, or the URL names a primary): reads go to
    /// the primary.
    NotStandby,
    /// It does not answer: reads go to the primary.
    Unavailable,
}

impl ReplicaStatus {
    /// A short name: `current`, `behind`, `not_standby`, `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaStatus::Current => "current",
            ReplicaStatus::Behind => "behind",
            ReplicaStatus::NotStandby => "not_standby",
            ReplicaStatus::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for ReplicaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Replica {
    pub(crate) fn new(store: PgStore) -> Self {
        Self {
            store,
            written: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            resting_until: Mutex::new(None),
        }
    }

    /// The replica's standby state and replay position, one round trip; `None` for the
    /// position when it is not a standby.
    async fn ask(&self) -> Result<(bool, Option<u64>), sqlx::Error> {
        let row = sqlx::raw_sql(REPLAYED).fetch_one(self.store.pool()).await?;
        let recovering: bool = row.try_get(0)?;
        let replayed: Option<i64> = row.try_get(1)?;
        // A server that is no longer a standby (promoted) follows the primary no more: what it
        // replayed says nothing of the primary's later writes.
        let replayed = replayed
            .and_then(|lsn| u64::try_from(lsn).ok())
            .filter(|_| recovering);
        if let Some(lsn) = replayed {
            self.replayed.fetch_max(lsn, Ordering::AcqRel);
        }
        Ok((recovering, replayed))
    }

    fn resting(&self) -> bool {
        let until = *self
            .resting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        until.is_some_and(|until| Instant::now() < until)
    }

    fn rest(&self) {
        *self
            .resting_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + RESTING);
    }

    /// Whether the replica has replayed this store's latest write and the position the
    /// current [`consistency::scope`] asks for, asking it when what was last seen is not
    /// enough.
    async fn caught_up(&self) -> bool {
        let required = self
            .written
            .load(Ordering::Acquire)
            .max(consistency::read_after().map_or(0, WalPosition::bytes));
        if self.replayed.load(Ordering::Acquire) >= required {
            return true;
        }
        match self.ask().await {
            Ok((_, Some(replayed))) => replayed >= required,
            Ok((_, None)) => false,
            Err(error) => {
                tracing::warn!(%error, "the read replica does not answer; reading the primary");
                self.rest();
                false
            }
        }
    }
}

impl PgStore {
    /// This store, with lag-tolerant reads going to `replica` (a store on a streaming replica
    /// of this store's database) whenever it has replayed this store's latest write and the
    /// position the caller's [`consistency::scope`] brings; see the crate docs. `replica` is
    /// never migrated nor written to.
    pub fn with_replica(mut self, replica: PgStore) -> PgStore {
        self.replica = Some(std::sync::Arc::new(Replica::new(replica)));
        self
    }

    /// Whether lag-tolerant reads may go to a replica.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Where lag-tolerant reads go now; `None` without a replica. One round trip to the
    /// replica.
    pub async fn replica_status(&self) -> Option<ReplicaStatus> {
        let replica = self.replica.as_ref()?;
        Some(match replica.ask().await {
            Ok((false, _)) | Ok((true, None)) => ReplicaStatus::NotStandby,
            Ok((true, Some(replayed))) => {
                if replayed >= replica.written.load(Ordering::Acquire) {
                    ReplicaStatus::Current
                } else {
                    ReplicaStatus::Behind
                }
            }
            Err(error) => {
                tracing::debug!(%error, "the read replica does not answer");
                ReplicaStatus::Unavailable
            }
        })
    }

    /// Notes a committed mutation's WAL position (the last row of its script's results), for
    /// this store and for the current [`consistency::scope`].
    pub(crate) fn note_write(&self, position: Option<i64>) {
        let Some(replica) = &self.replica else {
            return;
        };
        // A primary always has a position. Without one no replica read is known to be safe,
        // so none is made again by this store, nor for a caller who brings the scope's
        // position back (safe, not fast).
        let lsn = position
            .and_then(|lsn| u64::try_from(lsn).ok())
            .unwrap_or(u64::MAX);
        replica.written.fetch_max(lsn, Ordering::AcqRel);
        consistency::note_written(WalPosition::from_bytes(lsn));
    }

    /// Runs a lag-tolerant `read` on the replica when it has replayed this store's latest
    /// write and the current scope's position, and answers; else on the primary.
    pub(crate) async fn lag_tolerant<'a, T>(
        &'a self,
        operation: &'static str,
        read: impl Fn(&'a PgStore) -> BoxFuture<'a, Result<T>> + Send + Sync,
    ) -> Result<T> {
        if let Some(replica) = self.replica.as_deref() {
            if !replica.resting() && replica.caught_up().await {
                match read(&replica.store).await {
                    Err(Error::Store(
                        error @ (StoreError::Unavailable(_)
                        | StoreError::Busy(_)
                        | StoreError::Other(_)),
                    )) => {
                        tracing::warn!(%error, operation, "the read replica failed a read; reading the primary");
                        replica.rest();
                    }
                    answer => {
                        tracing::trace!(operation, "read from the replica");
                        return answer;
                    }
                }
            }
        }
        read(self).await
    }
}
