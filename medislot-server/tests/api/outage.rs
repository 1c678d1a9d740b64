use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    Account, AccountId, AccountProfile, AccountStore, BookingCursor, BookingId, BookingQuery,
    BookingView, Claim, Decide, Decision, Doctor, DoctorFilter, DoctorId, Email, EntryId, Error,
    FreeCount, FreeSlotFilter, JournalCursor, JournalEntry, JournalQuery, LoginThrottle,
    MessageQuery, OutboxMessage, Page, Result, RevokedSession, Role, SessionAccount,
    SessionGeneration, SessionId, Settle, SlotCursor, SlotId, SlotQuery, SlotStore, SlotView,
    StoreError, TimeRange,
};
use medislot_server::Stores;
use serde_json::json;

use crate::{As, TestApp, User};

/// A store whose every call fails the way `fail` says.
struct BrokenStore {
    fail: fn() -> StoreError,
}

impl BrokenStore {
    fn err<T>(&self) -> Result<T> {
        Err(Error::Store((self.fail)()))
    }
}

#[async_trait]
impl SlotStore for BrokenStore {
    async fn mutate(&self, _: &Claim, _: &Decide<'_>) -> Result<Decision> {
        self.err()
    }
    async fn doctor(&self, _: DoctorId) -> Result<Option<Doctor>> {
        self.err()
    }
    async fn list_doctors(&self, _: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.err()
    }
    async fn slot(&self, _: SlotId, _: DateTime<Utc>) -> Result<Option<SlotView>> {
        self.err()
    }
    async fn list_slots(
        &self,
        _: &SlotQuery,
        _: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.err()
    }
    async fn count_free_slots(
        &self,
        _: &FreeSlotFilter,
        _: &[TimeRange],
        _: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        self.err()
    }
    async fn booking(&self, _: BookingId) -> Result<Option<BookingView>> {
        self.err()
    }
    async fn list_bookings(
        &self,
        _: &BookingQuery,
        _: DateTime<Utc>,
    ) -> Result<Page<BookingView, BookingCursor>> {
        self.err()
    }
    async fn journal(&self, _: &JournalQuery) -> Result<Page<JournalEntry, JournalCursor>> {
        self.err()
    }
    async fn claim_messages(
        &self,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.err()
    }
    async fn settle_message(&self, _: EntryId, _: &Settle<'_>) -> Result<Option<OutboxMessage>> {
        self.err()
    }
    async fn messages(&self, _: &MessageQuery) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.err()
    }
}

#[async_trait]
impl AccountStore for BrokenStore {
    async fn insert_account(&self, _: &Account) -> Result<()> {
        self.err()
    }
    async fn account(&self, _: AccountId) -> Result<Option<Account>> {
        self.err()
    }
    async fn account_by_email(&self, _: &Email) -> Result<Option<Account>> {
        self.err()
    }
    async fn search_accounts(&self, _: &str, _: u32) -> Result<Vec<Account>> {
        self.err()
    }
    async fn set_role(&self, _: AccountId, _: Role) -> Result<()> {
        self.err()
    }
    async fn set_password_hash(&self, _: AccountId, _: &str) -> Result<SessionGeneration> {
        self.err()
    }
    async fn update_profile(&self, _: AccountId, _: &str, _: &AccountProfile) -> Result<()> {
        self.err()
    }
    async fn end_sessions(&self, _: AccountId) -> Result<SessionGeneration> {
        self.err()
    }
    async fn session_account(&self, _: AccountId, _: SessionId) -> Result<Option<SessionAccount>> {
        self.err()
    }
    async fn revoke_session(&self, _: &RevokedSession) -> Result<()> {
        self.err()
    }
    async fn prune_revoked_sessions(&self, _: DateTime<Utc>) -> Result<u64> {
        self.err()
    }
    async fn record_login_failure(
        &self,
        _: AccountId,
        _: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        self.err()
    }
    async fn clear_login_failures(&self, _: AccountId) -> Result<()> {
        self.err()
    }
}

async fn broken_app(fail: fn() -> StoreError) -> (TestApp, User) {
    let stores = Stores::from_store(Arc::new(BrokenStore { fail }), "broken");
    let app = TestApp::on_stores(stores, |_| {}).await;
    // A correctly signed session for an account the store cannot read.
    let session = app
        .state
        .sessions()
        .issue(AccountId::new(), SessionGeneration::FIRST, app.now())
        .unwrap();
    let user = User {
        id: session.claims.sub,
        email: "ghost@example.com".into(),
        token: session.token,
        csrf: session.claims.csrf,
    };
    (app, user)
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("connection refused to db.internal:5432".into())
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("bookings.status = 'WEIRD' at row 42".into())
}

#[tokio::test]
async fn a_store_outage_answers_503_with_retry_after_on_every_kind_of_route() {
    let (app, user) = broken_app(unavailable).await;
    let answers = [
        app.get("/readyz", As::Anonymous).await,
        app.get("/api/v1/slots", As::Anonymous).await,
        app.get("/api/v1/doctors", As::Anonymous).await,
        app.login("a@example.com", "whatever1").await,
        app.register("a@example.com", "long enough").await,
        app.get("/api/v1/me", As::Bearer(&user)).await,
    ];
    for answer in answers {
        answer.expect_problem(503, "store_unavailable");
        assert_eq!(answer.headers["retry-after"], "1");
        assert!(!answer.body.to_string().contains("db.internal"));
    }
    // Liveness does not depend on the store.
    app.get("/healthz", As::Anonymous).await.expect(200);
}

#[tokio::test]
async fn a_corrupt_store_answers_500_without_internal_detail() {
    let (app, user) = broken_app(corrupt).await;
    for answer in [
        app.get("/api/v1/slots", As::Anonymous).await,
        app.post(
            "/api/v1/bookings",
            As::Bearer(&user),
            json!({"slot_id": uuid::Uuid::now_v7()}),
        )
        .await,
    ] {
        answer.expect_problem(500, "internal_error");
        let text = answer.body.to_string();
        assert!(
            !text.contains("WEIRD") && !text.contains("row 42"),
            "{text}"
        );
    }
}
