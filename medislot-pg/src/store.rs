//! [`PgStore`]: the type, its constructors and migrations, the retry loop, and the
//! [`SlotStore`] implementation, whose methods live by topic in `catalog.rs` and `bookings.rs`.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    BookingCursor, BookingId, BookingQuery, BookingView, Channel, Claim, Decide, Decision, Doctor,
    DoctorFilter, DoctorHours, DoctorId, EntryId, Error, FreeCount, FreeSlotFilter, JournalCursor,
    JournalEntry, JournalQuery, MessageQuery, OutboxMessage, Page, Result, Settle, SlotCursor,
    SlotId, SlotQuery, SlotStore, SlotView, StoreError, TimeRange, WaitlistEntry, WaitlistEntryId,
    WaitlistQuery,
};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Connection as _, PgPool};

use crate::error::{is_connection_lost, is_retryable, store_error, to_error, Failure};
use crate::options::{millis, PgStoreOptions, Pooler};

/// The schema, embedded at compile time from `medislot-pg/migrations/`.
static MIGRATOR: Migrator = sqlx::migrate!();

/// MediSlot's store on PostgreSQL: doctors, slots, bookings and accounts in one database.
///
/// Cheap to clone; clones share the pool. See the crate docs for the transaction shape and the
/// round trips each operation costs.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    max_retries: u32,
    /// How long a lost `COMMIT`'s outcome is asked for; see `outcome.rs`.
    pub(crate) outcome_patience: Duration,
    /// Whether hot statements run prepared (`EXECUTE`) or inline; see `prepared.rs`.
    pub(crate) prepared: bool,
    /// What stands between the store and PostgreSQL; see `query.rs`.
    pub(crate) pooler: Pooler,
    /// What opens a transaction: `BEGIN`, and behind a transaction pooler the timeouts.
    begin: String,
    /// The read replica, if any, and what the store knows of it; see `replica.rs`.
    pub(crate) replica: Option<std::sync::Arc<crate::replica::Replica>>,
    /// The scratch database a test store drops when its last clone goes.
    #[cfg(feature = "test-db")]
    pub(crate) scratch: Option<std::sync::Arc<crate::testing::ScratchDatabase>>,
}

impl PgStore {
    /// Connects to `url` with the default [`PgStoreOptions`]. Does not migrate: call
    /// [`PgStore::migrate`].
    ///
    /// # Errors
    /// As [`PgStoreOptions::connect`].
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStoreOptions::default().connect(url).await
    }

    /// A store on a ready pool, used as it is configured (its timeouts, its size). The store
    /// never leaves a pooled connection inside a transaction.
    pub fn from_pool(pool: PgPool) -> PgStore {
        PgStore {
            pool,
            max_retries: PgStoreOptions::default().get_max_retries(),
            outcome_patience: PgStoreOptions::default().get_outcome_patience(),
            prepared: PgStoreOptions::default().get_prepared_statements(),
            pooler: Pooler::None,
            begin: "BEGIN".to_owned(),
            replica: None,
            #[cfg(feature = "test-db")]
            scratch: None,
        }
    }

    /// Sets how many times a deadlocked or serialization-failed transaction is run again
    /// before the operation fails as [`StoreError::Busy`].
    pub fn with_max_retries(mut self, retries: u32) -> PgStore {
        self.max_retries = retries;
        self
    }

    /// Sets how long the store waits for the database to say whether a transaction committed
    /// when the connection was lost during its `COMMIT`; see
    /// [`PgStoreOptions::outcome_patience`].
    pub fn with_outcome_patience(mut self, patience: Duration) -> PgStore {
        self.outcome_patience = patience;
        self
    }

    /// Sets whether the hot statements are prepared once per connection (`true`, the default)
    /// or sent inline; see [`PgStoreOptions::prepared_statements`].
    pub fn with_prepared_statements(mut self, prepared: bool) -> PgStore {
        self.prepared = prepared && self.pooler == Pooler::None;
        self
    }

    /// Sets what stands between the store and PostgreSQL; see [`PgStoreOptions::pooler`]. A
    /// pool made elsewhere for [`Pooler::Transaction`] should not send start-up options.
    pub fn with_pooler(mut self, pooler: Pooler) -> PgStore {
        self.pooler = pooler;
        if pooler == Pooler::Transaction {
            self.prepared = false;
        }
        self.begin = opening_sql(pooler, PgStoreOptions::default());
        self
    }

    /// Sets the timeouts a transaction sets itself behind a transaction pooler.
    pub(crate) fn with_timeouts(mut self, lock: Duration, statement: Duration) -> PgStore {
        let options = PgStoreOptions::default()
            .lock_timeout(lock)
            .statement_timeout(statement);
        self.begin = opening_sql(self.pooler, options);
        self
    }

    /// What the store is set up for.
    pub fn pooler(&self) -> Pooler {
        self.pooler
    }

    /// The statements that open a transaction, as one script: `BEGIN`, then (behind a
    /// transaction pooler, where start-up options do not reach the server) the lock and
    /// statement timeouts for this transaction only. Each is one statement of the script.
    pub(crate) fn begin_sql(&self) -> &str {
        &self.begin
    }

    /// The pool underneath, for health checks and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema up to date. Applying it again is harmless: applied migrations are
    /// skipped, and concurrent callers wait on the migrator's advisory lock.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached; [`StoreError::Other`] when
    /// a migration fails or the database holds migrations this build does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let applied = match self.pooler {
            Pooler::None => MIGRATOR.run(&self.pool).await,
            Pooler::Transaction => self.migrate_in_one_transaction().await,
        };
        applied.map_err(|error| match error {
            MigrateError::Execute(error) => store_error(error),
            other => StoreError::Other(Box::new(other)),
        })
    }

    /// Migrates behind a transaction pooler, where a server connection is this client's only
    /// until the transaction ends: the migrator's session lock and its prepared statements
    /// would otherwise be left on a server connection that other clients use next. So every
    /// migration runs in one transaction on one connection, serialized by a transaction-level
    /// advisory lock; the statements it prepared are deallocated before it commits, and the
    /// connection is closed rather than pooled (its statement cache no longer matches the
    /// server's).
    async fn migrate_in_one_transaction(&self) -> Result<(), MigrateError> {
        let mut migrator = sqlx::migrate!();
        migrator.set_locking(false);
        let mut conn = self.pool.acquire().await?.detach();
        let mut tx = conn.begin().await?;
        // One key for this crate's migrations; advisory locks are per database.
        sqlx::raw_sql("SELECT pg_advisory_xact_lock(hashtext('medislot_pg migrations'))")
            .execute(&mut *tx)
            .await?;
        migrator.run(&mut *tx).await?;
        sqlx::raw_sql("DEALLOCATE ALL").execute(&mut *tx).await?;
        tx.commit().await?;
        conn.close().await?;
        Ok(())
    }

    /// Runs one attempt of an operation until it succeeds, a rule refuses, or the database
    /// fails in a way a new attempt cannot fix; deadlocks and serialization failures are tried
    /// again up to the retry budget, then reported as [`StoreError::Busy`]; a lost connection
    /// is tried again at once on another, unless the attempt had sent its `COMMIT` and the
    /// database could not say that it rolled back ([`Failure::Unknown`]). `rule` names the
    /// domain error of a constraint violation in this operation.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        operation: &'static str,
        rule: &(dyn Fn(&str) -> Option<Error> + Sync),
        mut attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retries = 0;
        let mut lost = 0;
        // Every idle connection may have been closed at once (the server restarted, or an
        // administrator ended them): each is found dead only when used, so a lost connection
        // is tried again on another one, up to once per connection the pool may hold and once
        // more on a new one.
        let lost_budget = self.pool.options().get_max_connections() + 1;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Rule(error)) => return Err(error),
                Err(Failure::Sql(error)) if is_connection_lost(&error) && lost < lost_budget => {
                    lost += 1;
                    tracing::debug!(operation, lost, %error, "connection lost before any commit; retrying");
                }
                Err(Failure::Sql(error)) if is_retryable(&error) && retries < self.max_retries => {
                    retries += 1;
                    tracing::debug!(operation, retries, %error, "transaction aborted; retrying");
                    tokio::time::sleep(backoff(retries)).await;
                }
                Err(Failure::Unknown(error)) => {
                    tracing::warn!(operation, %error, "commit outcome unknown");
                    return Err(Error::Store(StoreError::OutcomeUnknown(Box::new(error))));
                }
                Err(Failure::Sql(error)) => {
                    let error = to_error(error, rule);
                    if let Error::Store(store) = &error {
                        tracing::warn!(operation, retries, error = %store, "store failure");
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// `BEGIN`, with the timeouts `options` asks for when `pooler` would not carry them from the
/// connection's start-up.
fn opening_sql(pooler: Pooler, options: PgStoreOptions) -> String {
    match pooler {
        Pooler::None => "BEGIN".to_owned(),
        Pooler::Transaction => format!(
            "BEGIN;\nSET LOCAL lock_timeout = '{}';\nSET LOCAL statement_timeout = '{}'",
            millis(options.get_lock_timeout()),
            millis(options.get_statement_timeout())
        ),
    }
}

/// Exponential backoff from 1 ms, with up to 1 ms of jitter so that retries spread out.
fn backoff(retries: u32) -> Duration {
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 1_000_000);
    Duration::from_millis(1 << retries.min(6)) + Duration::from_nanos(jitter.into())
}

/// No constraint of this operation has a domain meaning of its own.
pub(crate) fn no_rule(_: &str) -> Option<Error> {
    None
}

#[async_trait]
impl SlotStore for PgStore {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        self.mutate_impl(claim, decide).await
    }

    async fn doctor_hours(&self, id: DoctorId) -> Result<Option<DoctorHours>> {
        self.doctor_hours_impl(id).await
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.doctor_impl(id).await
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.list_doctors_impl(filter).await
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        self.slot_impl(id, now).await
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.list_slots_impl(query, now).await
    }

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        self.count_free_slots_impl(filter, days, now).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.booking_impl(id).await
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.list_bookings_impl(query, now).await
    }

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        self.journal_impl(query).await
    }

    async fn claim_messages(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.claim_messages_impl(channel, now, lease_until, limit)
            .await
    }

    async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        self.settle_message_impl(id, channel, settle).await
    }

    async fn waitlist_entry(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>> {
        self.waitlist_entry_impl(id).await
    }

    async fn waitlist(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        self.waitlist_impl(query).await
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.messages_impl(query).await
    }
}
