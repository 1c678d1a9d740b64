//! A store on a fresh file in its own temporary directory, removed when the store is dropped.

#![allow(dead_code, unreachable_pub)]

use std::ops::Deref;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    Account, AccountId, AccountProfile, AccountStore, BookingCursor, BookingId, BookingQuery,
    BookingView, Claim, Decide, Decision, Doctor, DoctorFilter, DoctorId, Email, EntryId,
    FreeCount, FreeSlotFilter, JournalCursor, JournalEntry, JournalQuery, LoginThrottle,
    MessageQuery, OutboxMessage, Page, Result, RevokedSession, Role, SessionAccount,
    SessionGeneration, SessionId, Settle, SlotCursor, SlotId, SlotQuery, SlotStore, SlotView,
    TimeRange,
};
use medislot_sqlite::SqliteStore;
use tempfile::TempDir;

/// A migrated [`SqliteStore`] that owns the directory its file lives in.
#[derive(Debug)]
pub struct TempStore {
    store: SqliteStore,
    dir: TempDir,
}

impl TempStore {
    /// A store on a new, migrated file.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = open(&dir).await;
        Self { store, dir }
    }

    /// Another store (another pool, as another process would have) on the same file.
    pub async fn second(&self) -> SqliteStore {
        open(&self.dir).await
    }
}

/// A migrated store on `dir/medislot.db`.
pub async fn open(dir: &TempDir) -> SqliteStore {
    let path = dir.path().join("medislot.db");
    let store = SqliteStore::connect(path.to_str().expect("UTF-8 path"))
        .await
        .expect("open store");
    store.migrate().await.expect("migrate");
    store
}

/// The factory the conformance kit runs each check on.
pub async fn fresh_store() -> TempStore {
    TempStore::new().await
}

impl Deref for TempStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

#[async_trait]
impl SlotStore for TempStore {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        self.store.mutate(claim, decide).await
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.store.doctor(id).await
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.store.list_doctors(filter).await
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        self.store.slot(id, now).await
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.store.list_slots(query, now).await
    }

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        self.store.count_free_slots(filter, days, now).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.store.booking(id).await
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.store.list_bookings(query, now).await
    }

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        self.store.journal(query).await
    }

    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.store.claim_messages(now, lease_until, limit).await
    }

    async fn settle_message(
        &self,
        id: EntryId,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        self.store.settle_message(id, settle).await
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.store.messages(query).await
    }
}

#[async_trait]
impl AccountStore for TempStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        self.store.insert_account(account).await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.store.account(id).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        self.store.account_by_email(email).await
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        self.store.search_accounts(part, limit).await
    }

    async fn set_role(&self, id: AccountId, role: Role) -> Result<()> {
        self.store.set_role(id, role).await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        self.store.set_password_hash(id, password_hash).await
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        self.store.update_profile(id, name, profile).await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        self.store.end_sessions(id).await
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        self.store.session_account(id, session).await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        self.store.revoke_session(session).await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.store.prune_revoked_sessions(now).await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        self.store.record_login_failure(id, next).await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.store.clear_login_failures(id).await
    }
}
