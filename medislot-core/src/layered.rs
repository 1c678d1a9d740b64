//! A store wrapped in a [`Layer`]: the one delegating implementation of [`SlotStore`] and
//! [`AccountStore`], so code that only watches or disturbs a store's calls (logging, metrics,
//! fault injection in tests, a test store that owns its temporary directory) writes a hook or
//! two instead of spelling out every method of both traits, and a method added to a trait is
//! delegated here, once.

use std::fmt::Debug;
use std::future::Future;
use std::ops::Deref;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountProfile, AccountStore, Email, Role};
use crate::booking::{BookingCursor, BookingQuery, BookingView};
use crate::doctor::{Doctor, DoctorFilter};
use crate::doctor_hours::DoctorHours;
use crate::error::{Error, Result};
use crate::finding::{FreeCount, FreeSlotFilter};
use crate::ids::{AccountId, BookingId, DoctorId, EntryId, SlotId, WaitlistEntryId};
use crate::journal::{Audit, JournalCursor, JournalEntry, JournalQuery};
use crate::outbox::{Channel, MessageQuery, OutboxMessage, Settle};
use crate::page::Page;
use crate::password_reset::{PasswordReset, Redeemed, Redemption};
use crate::session::{LoginThrottle, RevokedSession, SessionAccount, SessionGeneration, SessionId};
use crate::slot::{SlotCursor, SlotQuery, SlotView, TimeRange};
use crate::store::SlotStore;
use crate::unit_of_work::{Claim, Decide, Decision};
use crate::waitlist::{WaitlistEntry, WaitlistQuery};

/// A method of [`SlotStore`] or [`AccountStore`], as a [`Layer`] sees it: each variant is
/// named after its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Call {
    Mutate,
    Doctor,
    DoctorHours,
    ListDoctors,
    Slot,
    ListSlots,
    CountFreeSlots,
    Booking,
    ListBookings,
    Journal,
    ClaimMessages,
    SettleMessage,
    Messages,
    WaitlistEntry,
    Waitlist,
    InsertAccount,
    Account,
    AccountByEmail,
    SearchAccounts,
    SetRole,
    RecordAccountEntry,
    InsertPasswordReset,
    RedeemPasswordReset,
    SetPasswordHash,
    UpdateProfile,
    EndSessions,
    SessionAccount,
    RevokeSession,
    PruneRevokedSessions,
    RecordLoginFailure,
    ClearLoginFailures,
    CountAttempt,
    PruneAttempts,
}

impl Call {
    /// Whether the method may change what is stored.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Call::Mutate
                | Call::ClaimMessages
                | Call::SettleMessage
                | Call::InsertAccount
                | Call::SetRole
                | Call::RecordAccountEntry
                | Call::InsertPasswordReset
                | Call::RedeemPasswordReset
                | Call::SetPasswordHash
                | Call::UpdateProfile
                | Call::EndSessions
                | Call::RevokeSession
                | Call::PruneRevokedSessions
                | Call::RecordLoginFailure
                | Call::ClearLoginFailures
                | Call::CountAttempt
                | Call::PruneAttempts
        )
    }
}

/// Hooks around every call a [`Layered`] store passes on. Both do nothing unless overridden.
pub trait Layer: Send + Sync {
    /// Runs before `call` reaches the store. An error answers the call instead, and the store
    /// is not called.
    ///
    /// # Errors
    /// Whatever the layer wants the caller to see.
    fn before(&self, call: Call) -> Result<()> {
        let _ = call;
        Ok(())
    }

    /// Runs after the store answered `call`, with its answer.
    fn after(&self, call: Call, outcome: std::result::Result<&dyn Debug, &Error>) {
        let _ = (call, outcome);
    }
}

/// A layer with no hooks: a [`Layered`] store that only keeps something alive beside the
/// store (a temporary directory, a guard).
#[derive(Debug, Default)]
pub struct Keep<T>(pub T);

impl<T: Send + Sync> Layer for Keep<T> {}

/// `inner` with `layer`'s hooks around each call. Derefs to `inner` for what the traits do not
/// cover.
#[derive(Debug, Default)]
pub struct Layered<S, L> {
    inner: S,
    layer: L,
}

impl<S, L: Layer> Layered<S, L> {
    /// Wraps `inner`.
    pub fn new(inner: S, layer: L) -> Self {
        Self { inner, layer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// Runs `answer` (a call to the inner store, not started yet) between the layer's hooks.
    async fn around<T: Debug>(
        &self,
        call: Call,
        answer: impl Future<Output = Result<T>> + Send,
    ) -> Result<T> {
        self.layer.before(call)?;
        let outcome = answer.await;
        self.layer
            .after(call, outcome.as_ref().map(|value| value as &dyn Debug));
        outcome
    }
}

impl<S, L> Deref for Layered<S, L> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: SlotStore, L: Layer> SlotStore for Layered<S, L> {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        self.around(Call::Mutate, self.inner.mutate(claim, decide))
            .await
    }

    async fn doctor(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.around(Call::Doctor, self.inner.doctor(id)).await
    }

    async fn doctor_hours(&self, id: DoctorId) -> Result<Option<DoctorHours>> {
        self.around(Call::DoctorHours, self.inner.doctor_hours(id))
            .await
    }

    async fn list_doctors(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.around(Call::ListDoctors, self.inner.list_doctors(filter))
            .await
    }

    async fn slot(&self, id: SlotId, now: DateTime<Utc>) -> Result<Option<SlotView>> {
        self.around(Call::Slot, self.inner.slot(id, now)).await
    }

    async fn list_slots(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.around(Call::ListSlots, self.inner.list_slots(query, now))
            .await
    }

    async fn count_free_slots(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        let answer = self.inner.count_free_slots(filter, days, now);
        self.around(Call::CountFreeSlots, answer).await
    }

    async fn booking(&self, id: BookingId) -> Result<Option<BookingView>> {
        self.around(Call::Booking, self.inner.booking(id)).await
    }

    async fn list_bookings(
        &self,
        query: &BookingQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.around(Call::ListBookings, self.inner.list_bookings(query, now))
            .await
    }

    async fn journal(&self, query: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        self.around(Call::Journal, self.inner.journal(query)).await
    }

    async fn claim_messages(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        let answer = self.inner.claim_messages(channel, now, lease_until, limit);
        self.around(Call::ClaimMessages, answer).await
    }

    async fn settle_message(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        let answer = self.inner.settle_message(id, channel, settle);
        self.around(Call::SettleMessage, answer).await
    }

    async fn messages(&self, query: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.around(Call::Messages, self.inner.messages(query))
            .await
    }

    async fn waitlist_entry(&self, id: WaitlistEntryId) -> Result<Option<WaitlistEntry>> {
        self.around(Call::WaitlistEntry, self.inner.waitlist_entry(id))
            .await
    }

    async fn waitlist(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        self.around(Call::Waitlist, self.inner.waitlist(query))
            .await
    }
}

#[async_trait]
impl<S: AccountStore, L: Layer> AccountStore for Layered<S, L> {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        self.around(Call::InsertAccount, self.inner.insert_account(account))
            .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.around(Call::Account, self.inner.account(id)).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        self.around(Call::AccountByEmail, self.inner.account_by_email(email))
            .await
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        let answer = self.inner.search_accounts(part, limit);
        self.around(Call::SearchAccounts, answer).await
    }

    async fn set_role(&self, id: AccountId, role: Role, audit: &Audit) -> Result<()> {
        self.around(Call::SetRole, self.inner.set_role(id, role, audit))
            .await
    }

    async fn record_account_entry(&self, entry: &JournalEntry) -> Result<()> {
        let answer = self.inner.record_account_entry(entry);
        self.around(Call::RecordAccountEntry, answer).await
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<()> {
        let answer = self.inner.insert_password_reset(reset);
        self.around(Call::InsertPasswordReset, answer).await
    }

    async fn redeem_password_reset(&self, redemption: &Redemption) -> Result<Redeemed> {
        let answer = self.inner.redeem_password_reset(redemption);
        self.around(Call::RedeemPasswordReset, answer).await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        let answer = self.inner.set_password_hash(id, password_hash);
        self.around(Call::SetPasswordHash, answer).await
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        let answer = self.inner.update_profile(id, name, profile);
        self.around(Call::UpdateProfile, answer).await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        self.around(Call::EndSessions, self.inner.end_sessions(id))
            .await
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        let answer = self.inner.session_account(id, session);
        self.around(Call::SessionAccount, answer).await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        self.around(Call::RevokeSession, self.inner.revoke_session(session))
            .await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let answer = self.inner.prune_revoked_sessions(now);
        self.around(Call::PruneRevokedSessions, answer).await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        let answer = self.inner.record_login_failure(id, next);
        self.around(Call::RecordLoginFailure, answer).await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.around(
            Call::ClearLoginFailures,
            self.inner.clear_login_failures(id),
        )
        .await
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> Result<u32> {
        let answer = self.inner.count_attempt(key, window);
        self.around(Call::CountAttempt, answer).await
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64> {
        self.around(Call::PruneAttempts, self.inner.prune_attempts(before))
            .await
    }
}

// Not under loom: its build has no tokio.
#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{MemoryStore, StoreError};

    /// Refuses every write and remembers what it saw.
    #[derive(Default)]
    struct ReadOnly {
        seen: Mutex<Vec<(Call, bool)>>,
    }

    impl Layer for ReadOnly {
        fn before(&self, call: Call) -> Result<()> {
            if call.writes() {
                return Err(Error::Store(StoreError::Unavailable("read only".into())));
            }
            Ok(())
        }

        fn after(&self, call: Call, outcome: std::result::Result<&dyn Debug, &Error>) {
            self.seen.lock().unwrap().push((call, outcome.is_ok()));
        }
    }

    #[tokio::test]
    async fn a_layer_sees_each_answer_and_a_refusal_never_reaches_the_store() {
        let store = Layered::new(MemoryStore::new(), ReadOnly::default());
        let account = Account {
            id: AccountId::new(),
            email: Email::parse("layer@example.com").unwrap(),
            name: "Layer".into(),
            role: Role::Patient,
            password_hash: "hash".into(),
            created_at: Utc::now(),
            profile: AccountProfile::default(),
            sessions: SessionGeneration::FIRST,
            login_throttle: LoginThrottle::default(),
        };
        assert!(matches!(
            store.insert_account(&account).await,
            Err(Error::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(store.inner().account(account.id).await.unwrap(), None);
        assert_eq!(store.account(account.id).await.unwrap(), None);
        assert!(store.doctor(DoctorId::new()).await.unwrap().is_none());
        assert_eq!(
            *store.layer().seen.lock().unwrap(),
            [(Call::Account, true), (Call::Doctor, true)],
            "the refused write never reached the store, so it has no answer to see"
        );
    }
}
