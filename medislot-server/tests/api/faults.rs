//! Faults between the server and its database: connections ended by the database, and a store
//! that fails right after a write committed. A committed booking is never answered with an
//! error, and the server is ready again as soon as the database is.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medislot_core::{
    BookingQuery, Call, Error, Layer, Layered, MemoryStore, Result, SlotStore, StoreError,
};
use medislot_pg::PgStore;
use medislot_server::Stores;
use sqlx::Row as _;
use uuid::Uuid;

use crate::{uuid_of, TestApp};

/// Makes a store's first read of a booking after each write fail as unavailable: the database
/// went away right after the commit.
#[derive(Default)]
struct ReadBackFails {
    just_wrote: AtomicBool,
}

impl Layer for ReadBackFails {
    fn before(&self, call: Call) -> Result<()> {
        if call == Call::Booking && self.just_wrote.swap(false, Ordering::SeqCst) {
            return Err(Error::Store(StoreError::Unavailable(
                "the connection was lost".into(),
            )));
        }
        Ok(())
    }

    fn after(&self, call: Call, outcome: std::result::Result<&dyn Debug, &Error>) {
        if call == Call::Mutate && outcome.is_ok() {
            self.just_wrote.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_committed_booking_is_answered_201_when_the_read_after_the_write_fails_once() {
    let store = Arc::new(Layered::new(MemoryStore::new(), ReadBackFails::default()));
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

/// Once armed, fails the next write as a store whose connection died during `COMMIT` and that
/// could not learn the outcome; the write is not made.
struct OutcomeLost {
    armed: Arc<AtomicBool>,
}

impl Layer for OutcomeLost {
    fn before(&self, call: Call) -> Result<()> {
        if call == Call::Mutate && self.armed.swap(false, Ordering::SeqCst) {
            return Err(Error::Store(StoreError::OutcomeUnknown(
                "the connection was lost during COMMIT".into(),
            )));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_booking_whose_commit_outcome_is_unknown_answers_503_outcome_unknown_and_the_same_key_answers_it(
) {
    let armed = Arc::new(AtomicBool::new(false));
    let layer = OutcomeLost {
        armed: Arc::clone(&armed),
    };
    let store = Arc::new(Layered::new(MemoryStore::new(), layer));
    let app = TestApp::on_stores(Stores::from_store(store, "loses a commit"), |_| {}).await;
    let (admin, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;

    armed.store(true, Ordering::SeqCst);
    let lost = crate::bookings::book_with_key(&app, &patient, slots[0], "lost-1").await;
    let problem = lost.expect_problem(503, "outcome_unknown");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{problem}"
    );
    assert_eq!(lost.headers["retry-after"], "1");

    let retried = crate::bookings::book_with_key(&app, &patient, slots[0], "lost-1").await;
    assert_eq!(retried.expect(201)["status"], "CONFIRMED");
    let all = app.get("/api/v1/bookings", crate::As::Bearer(&admin)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 1);
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
