//! Plug in your own storage: a `SlotStore` that wraps another store and logs every change, and
//! proof that it keeps the rules by running the conformance kit against it.
//!
//! Run the demo: `cargo run --example custom_store`
//! Run the kit on it: `cargo test -p medislot-examples --example custom_store`
//!
//! Every change reaches a store through one method, `SlotStore::mutate`, so the wrapper logs
//! them all in one place. A real backend implements the same two traits over its own storage;
//! the kit is the contract.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use medislot_core::{
    Account, AccountId, AccountProfile, AccountStore, BookingCursor, BookingEngine, BookingId,
    BookingQuery, BookingView, Claim, Decide, Decision, Doctor, DoctorFilter, DoctorId, Email,
    EntryId, Error, FreeCount, FreeSlotFilter, JournalCursor, JournalEntry, JournalQuery,
    LoginThrottle, MemoryStore, MessageQuery, NewDoctor, OutboxMessage, Page, PatientId, Result,
    RevokedSession, Role, SessionAccount, SessionGeneration, SessionId, Settle, SlotCursor, SlotId,
    SlotQuery, SlotStore, SlotView, TimeRange,
};

/// Wraps any store and logs each mutation and its outcome with `tracing`.
#[derive(Debug, Default)]
pub struct LoggingStore<S> {
    inner: S,
}

impl<S> LoggingStore<S> {
    /// Logs the changes made to `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// Logs what a mutation did and passes its result through.
fn logged<T: std::fmt::Debug>(what: &str, result: Result<T>) -> Result<T> {
    match &result {
        Ok(value) => tracing::info!(what, ?value, "applied"),
        Err(error) => tracing::info!(what, %error, "refused"),
    }
    result
}

#[async_trait]
impl<S: SlotStore> SlotStore for LoggingStore<S> {
    /// Every mutation passes here: log what it claimed and what was committed, or why not.
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        let result = self.inner.mutate(claim, decide).await;
        match &result {
            Ok(decision) => tracing::info!(
                ?claim,
                changes = ?decision.changes,
                reply = ?decision.reply.as_ref().map(|b| (b.id, b.status())),
                "committed"
            ),
            Err(error) => tracing::info!(?claim, %error, "refused"),
        }
        result
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.inner.doctor(id).await
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.inner.list_doctors(filter).await
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        self.inner.slot(id, now).await
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.inner.list_slots(query, now).await
    }

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        self.inner.count_free_slots(filter, days, now).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.inner.booking(id).await
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.inner.list_bookings(query, now).await
    }

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        self.inner.journal(query).await
    }

    async fn claim_messages(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.inner.claim_messages(now, lease_until, limit).await
    }

    async fn settle_message(
        &self,
        id: EntryId,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        self.inner.settle_message(id, settle).await
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.inner.messages(query).await
    }
}

#[async_trait]
impl<S: AccountStore> AccountStore for LoggingStore<S> {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        // Log the id only: an account carries a password hash.
        let result = self.inner.insert_account(account).await;
        logged("insert_account", result.map(|()| account.id))?;
        Ok(())
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.inner.account(id).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        self.inner.account_by_email(email).await
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        self.inner.search_accounts(part, limit).await
    }

    async fn set_role(&self, id: AccountId, role: Role) -> Result<()> {
        logged("set_role", self.inner.set_role(id, role).await)
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        logged(
            "set_password_hash",
            self.inner.set_password_hash(id, password_hash).await,
        )
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        logged(
            "update_profile",
            self.inner.update_profile(id, name, profile).await,
        )
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        logged("end_sessions", self.inner.end_sessions(id).await)
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        self.inner.session_account(id, session).await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        logged("revoke_session", self.inner.revoke_session(session).await)
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.inner.prune_revoked_sessions(now).await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        logged(
            "record_login_failure",
            self.inner.record_login_failure(id, next).await,
        )
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.inner.clear_login_failures(id).await
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_target(false).init();

    let engine = BookingEngine::new(Arc::new(LoggingStore::new(MemoryStore::new())));
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Custom", "Dermatology", "Asia/Tokyo")?)
        .await?;
    let start = Utc::now() + Duration::days(2);
    let slot = engine
        .publish_slots(
            doctor.id,
            &[TimeRange::new(start, start + Duration::minutes(15))?],
        )
        .await?[0]
        .id;
    let patient = PatientId::new();
    let hold = engine.hold(slot, patient).await?;
    engine.confirm(hold.id, patient).await?;
    let refused = engine.book(slot, PatientId::new(), None).await;
    assert!(matches!(refused, Err(Error::SlotUnavailable(_))));
    engine.cancel_as_patient(hold.id, patient, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh_store() -> LoggingStore<MemoryStore> {
        LoggingStore::new(MemoryStore::new())
    }

    // Every check of the conformance kit, run against the logging store.
    medislot_core::slot_store_conformance!(fresh_store);
}
