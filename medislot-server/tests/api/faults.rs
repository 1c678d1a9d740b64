//! Faults between the server and its database: connections ended by the database, and a store
//! that fails right after a write committed. A committed booking is never answered with an
//! error, and the server is ready again as soon as the database is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    Account, AccountId, AccountProfile, AccountStore, BookingCursor, BookingId, BookingQuery,
    BookingView, Claim, Decide, Decision, Doctor, DoctorFilter, DoctorId, Email, EntryId, Error,
    FreeCount, FreeSlotFilter, JournalCursor, JournalEntry, JournalQuery, LoginThrottle,
    MemoryStore, MessageQuery, OutboxMessage, Page, Result, RevokedSession, Role, SessionAccount,
    SessionGeneration, SessionId, Settle, SlotCursor, SlotId, SlotQuery, SlotStore, SlotView,
    StoreError, TimeRange,
};
use medislot_pg::PgStore;
use medislot_server::Stores;
use sqlx::Row as _;
use uuid::Uuid;

use crate::{uuid_of, TestApp};

/// A memory store whose first read of a booking after each write fails as unavailable: the
/// database went away right after the commit.
struct ReadBackFails {
    inner: MemoryStore,
    just_wrote: AtomicBool,
}

#[async_trait]
impl SlotStore for ReadBackFails {
    async fn mutate(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        let decision = self.inner.mutate(claim, decide).await?;
        self.just_wrote.store(true, Ordering::SeqCst);
        Ok(decision)
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
        if self.just_wrote.swap(false, Ordering::SeqCst) {
            return Err(Error::Store(StoreError::Unavailable(
                "the connection was lost".into(),
            )));
        }
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
impl AccountStore for ReadBackFails {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        self.inner.insert_account(account).await
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
        self.inner.set_role(id, role).await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        self.inner.set_password_hash(id, password_hash).await
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        self.inner.update_profile(id, name, profile).await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        self.inner.end_sessions(id).await
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        self.inner.session_account(id, session).await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        self.inner.revoke_session(session).await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.inner.prune_revoked_sessions(now).await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        self.inner.record_login_failure(id, next).await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.inner.clear_login_failures(id).await
    }
}

#[tokio::test]
async fn a_committed_booking_is_answered_201_when_the_read_after_the_write_fails_once() {
    let store = Arc::new(ReadBackFails {
        inner: MemoryStore::new(),
        just_wrote: AtomicBool::new(false),
    });
    let app = TestApp::on_stores(Stores::from_store(store, "fails after writes"), |_| {}).await;
    let (admin, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;

    let booked = app.book(&patient, slots[0]).await;
    let body = booked.expect(201);
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(uuid_of(&body["slot"]["id"]), slots[0]);
    assert_eq!(body["doctor"]["name"], "Dr Ada Lovelace");

    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{}/cancel", booked.id()),
            crate::As::Bearer(&admin),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.expect(200)["status"], "BUFFER");
}

/// A fresh PostgreSQL store (through the pooler `DATABASE_URL` names, if any) and an app on it.
async fn app_on_postgres() -> (TestApp, PgStore) {
    let store = medislot_pg::testing::fresh_store().await;
    let stores = Stores::from_store(Arc::new(store.clone()), "test PostgreSQL");
    (TestApp::on_stores(stores, |_| {}).await, store)
}

/// Ends every other connection to the store's database, as an administrator or a failover
/// would; how many. Simple-query protocol, so that it also runs through a transaction pooler.
async fn terminate_the_others(store: &PgStore) -> i64 {
    sqlx::raw_sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(store.pool())
    .await
    .map_or(0, |row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_200_within_a_second_after_the_database_ended_every_idle_connection() {
    let (app, store) = app_on_postgres().await;
    // Open several connections, then leave them idle.
    let busy = (0..5).map(|_| sqlx::raw_sql("SELECT pg_sleep(0.05)").execute(store.pool()));
    futures::future::join_all(busy).await;
    assert!(terminate_the_others(&store).await >= 1);

    let started = Instant::now();
    let answer = app.get("/readyz", crate::As::Anonymous).await;
    answer.expect(200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "ready only after {:?}",
        started.elapsed()
    );
}

/// Bookings race for slots while a killer ends the server's connections every few
/// milliseconds. Every booking answered 201 is stored; no slot is booked twice; the only
/// errors are 409 (taken) and 503 (the store was unavailable, and a commit's outcome may be
/// unknown), never a 500; and a booking stored but answered with an error is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_under_connection_kills_are_stored_once_and_every_201_is_true() {
    const SLOTS: usize = 40;
    const PATIENTS: usize = 8;
    let (app, store) = app_on_postgres().await;
    let (_, _, slots) = app.clinic(SLOTS).await;
    let mut patients = Vec::new();
    for _ in 0..PATIENTS {
        patients.push(app.patient().await);
    }

    let done = AtomicBool::new(false);
    let killer = async {
        let mut kills = 0;
        while !done.load(Ordering::SeqCst) {
            kills += terminate_the_others(&store).await;
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        kills
    };
    // Every patient tries every slot, in an order of their own.
    let attempts = patients.iter().enumerate().map(|(p, patient)| {
        let app = &app;
        let slots = &slots;
        async move {
            let mut answers = Vec::new();
            for i in 0..SLOTS {
                let slot = slots[(i * (p + 1) + p) % SLOTS];
                let answer = app.book(patient, slot).await;
                let booking = (answer.status == 201).then(|| answer.id());
                answers.push((answer.status.as_u16(), slot, booking));
            }
            answers
        }
    });
    let rush = async {
        let answers = futures::future::join_all(attempts).await;
        done.store(true, Ordering::SeqCst);
        answers
    };
    let (answers, kills) = tokio::join!(rush, killer);
    let answers: Vec<_> = answers.into_iter().flatten().collect();

    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, _, _) in &answers {
        *by_status.entry(*status).or_default() += 1;
    }
    let unexpected: Vec<_> = by_status
        .keys()
        .filter(|s| ![201, 409, 503].contains(*s))
        .collect();
    assert!(unexpected.is_empty(), "statuses {by_status:?}");

    // Read through the store, which finds the connections the killer left dead.
    let all = BookingQuery {
        limit: 500,
        ..BookingQuery::default()
    };
    let stored: Vec<(Uuid, Uuid)> = store
        .list_bookings(&all, app.now())
        .await
        .expect("read the stored bookings")
        .items
        .iter()
        .filter(|view| view.booking.state.occupies_slot_at(app.now()))
        .map(|view| (view.booking.id.as_uuid(), view.slot.id.as_uuid()))
        .collect();
    let stored_ids: HashSet<Uuid> = stored.iter().map(|(id, _)| *id).collect();
    let booked_slots: HashSet<Uuid> = stored.iter().map(|(_, slot)| *slot).collect();
    assert_eq!(booked_slots.len(), stored.len(), "a slot was booked twice");

    let answered: Vec<Uuid> = answers.iter().filter_map(|(_, _, id)| *id).collect();
    for id in &answered {
        assert!(
            stored_ids.contains(id),
            "booking {id} was answered 201 but is not stored"
        );
    }
    // Each slot answered 201 at most once, and every free slot was tried by everyone.
    assert_eq!(
        answered.iter().collect::<HashSet<_>>().len(),
        answered.len()
    );
    let stored_but_not_answered = stored.len() - answered.len();
    eprintln!(
        "{} attempts under {kills} connection kills: {by_status:?}; {} stored, \
         {stored_but_not_answered} of them answered with an error (outcome unknown)",
        answers.len(),
        stored.len()
    );
    // A booking whose COMMIT was lost in flight may be stored and answered 503; every other
    // 503 wrote nothing. There can be no more of them than 503s.
    assert!(stored_but_not_answered <= by_status.get(&503).copied().unwrap_or(0));
}
