//! What only a real PostgreSQL can show: races over a real pool, the schema refusing bad rows
//! written with plain SQL, killed connections, timeouts, and expiry read from time.
//!
//! The tests' own SQL travels over the simple-query protocol with literal values (`raw_sql`),
//! so that they also run through a transaction pooler (`DATABASE_URL=...?pooler=transaction`),
//! where sqlx's prepared statements would collide.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use medislot_core::testkit::Fixture;
use medislot_core::{
    journal, Actor, Booking, BookingId, BookingQuery, BookingState, BookingStatus, Changes, Claim,
    Context, Decision, Error, IdempotencyKey, Locked, PatientId, SlotQuery, SlotStatus, SlotStore,
    StoreError,
};
use medislot_pg::testing::{fresh_store, fresh_store_with};
use medislot_pg::{PgStore, PgStoreOptions, Pooler};
use sqlx::{Executor as _, Row as _};
use uuid::Uuid;

/// Locks a slot row, written as a literal.
fn lock_slot_sql(slot: medislot_core::SlotId) -> String {
    format!(
        "SELECT 1 FROM slots WHERE id = '{}' FOR UPDATE",
        slot.as_uuid()
    )
}

fn fixture(store: &PgStore) -> Fixture {
    Fixture::new(Arc::new(store.clone()))
}

async fn count(store: &PgStore, sql: &str) -> i64 {
    store
        .pool()
        .fetch_one(sqlx::raw_sql(sql))
        .await
        .expect("count query")
        .get(0)
}

/// What identifies a hot statement in `pg_stat_activity`: its prepared name, or (sent inline
/// behind a transaction pooler) a piece of its text.
fn hot(store: &PgStore, prepared_name: &'static str, inline_text: &'static str) -> &'static str {
    match store.pooler() {
        Pooler::Transaction => inline_text,
        _ => prepared_name,
    }
}

/// The SQLSTATE and constraint name of a failed statement.
fn violation(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> (String, String) {
    match result {
        Err(sqlx::Error::Database(dbe)) => (
            dbe.code().map(|c| c.into_owned()).unwrap_or_default(),
            dbe.constraint().unwrap_or_default().to_owned(),
        ),
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}

/// Waits (bounded) until a backend of this database is waiting for a lock while running a
/// statement that contains `needle`; returns its pid.
async fn backend_waiting_on_lock(store: &PgStore, needle: &str) -> i32 {
    // A pool of its own, so that watching never waits for one of the store's connections.
    let watcher = sqlx::PgPool::connect_with((*store.pool().connect_options()).clone())
        .await
        .expect("watcher pool");
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
    assert!(!needle.contains('\''), "a needle is written as a literal");
    let sql = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND strpos(query, '{needle}') > 0 LIMIT 1"
    );
    loop {
        let pid: Option<i32> = watcher
            .fetch_all(sqlx::raw_sql(&sql))
            .await
            .expect("read pg_stat_activity")
            .first()
            .map(|row| row.get(0));
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no backend started waiting on a lock"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_tasks_over_twenty_connections_book_each_of_ten_slots_exactly_once() {
    let store = fresh_store_with(PgStoreOptions::new().max_connections(20)).await;
    let fx = fixture(&store);
    let doctor = fx.doctor("Dr Race", "Cardiology").await;
    let slots = fx.slots(&doctor, 10, Duration::zero()).await;

    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let engine = fx.engine.clone();
            let slot = slots[i % slots.len()];
            tokio::spawn(async move { engine.book(slot, PatientId::new(), None).await })
        })
        .collect();
    let mut booked = 0;
    for task in tasks {
        match task.await.expect("task panicked") {
            Ok(_) => booked += 1,
            Err(Error::SlotUnavailable(_)) => {}
            Err(other) => panic!("a loser must get SlotUnavailable, got {other:?}"),
        }
    }

    assert_eq!(booked, 10);
    assert_eq!(count(&store, "SELECT count(*) FROM bookings").await, 10);
    assert_eq!(
        count(&store, "SELECT count(DISTINCT slot_id) FROM bookings").await,
        10
    );
}

/// A refused attempt answers before its `ROLLBACK` is answered (the pool's ping on release
/// reads that answer): whoever gets the connection next must find no transaction open.
#[tokio::test]
async fn after_a_refused_booking_the_next_user_of_its_connection_is_in_no_transaction() {
    // One connection, so every step below gets the one the refused attempts used.
    let store = fresh_store_with(PgStoreOptions::new().max_connections(1)).await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    fx.engine.book(slot, PatientId::new(), None).await.unwrap();
    for attempt in 0..3 {
        assert!(matches!(
            fx.engine.book(slot, PatientId::new(), None).await,
            Err(Error::SlotUnavailable(_))
        ));
        // A statement of a transaction already open would see that transaction's start time
        // and the id the refused attempt's transaction was given.
        let row = store
            .pool()
            .fetch_one(sqlx::raw_sql(
                "SELECT now() = statement_timestamp(), pg_current_xact_id_if_assigned() IS NULL",
            ))
            .await
            .expect("the connection is usable");
        assert!(
            row.get::<bool, _>(0) && row.get::<bool, _>(1),
            "attempt {attempt}: the next statement ran inside the refused attempt's transaction"
        );
    }
    // And the store goes on working on that connection.
    let other = fx.slot().await;
    fx.engine.book(other, PatientId::new(), None).await.unwrap();
    assert_eq!(fx.bookings_of(slot).await.len(), 1);
}

#[tokio::test]
async fn two_active_bookings_for_one_slot_written_with_sql_are_refused_by_the_database() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let insert = |status: &'static str| {
        let pool = store.pool().clone();
        async move {
            let sql = format!(
                "INSERT INTO bookings (id, slot_id, patient_id, status, buffer_until, \
                 cancelled_by, created_at, updated_at) \
                 VALUES ('{}', '{}', '{}', '{status}', now() + interval '1 hour', \
                 CASE WHEN '{status}' = 'CONFIRMED' THEN NULL ELSE 'admin' END, now(), now())",
                Uuid::now_v7(),
                slot.as_uuid(),
                Uuid::now_v7(),
            );
            pool.execute(sqlx::raw_sql(&sql)).await
        }
    };

    insert("CONFIRMED").await.expect("the first booking");
    for second in ["CONFIRMED", "BUFFER"] {
        assert_eq!(
            violation(insert(second).await),
            ("23505".into(), "bookings_one_active_per_slot".into()),
            "{second}"
        );
    }
    // A final booking does not occupy the slot: history may hold any number of them.
    insert("CANCELLED").await.expect("a cancelled booking");
    assert_eq!(count(&store, "SELECT count(*) FROM bookings").await, 2);
}

#[tokio::test]
async fn overlapping_slots_written_with_sql_are_refused_by_the_exclusion_constraint() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let doctor = fx.doctor("Dr Overlap", "Cardiology").await;
    let insert = |from: i64, to: i64, withdrawn: bool| {
        let pool = store.pool().clone();
        async move {
            let sql = format!(
                "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at, withdrawn_at) \
                 VALUES ('{}', '{}', timestamptz '2030-01-01 10:00Z' + {from} * interval '1 minute', \
                 timestamptz '2030-01-01 10:00Z' + {to} * interval '1 minute', now(), \
                 CASE WHEN {withdrawn} THEN now() END)",
                Uuid::now_v7(),
                doctor.id.as_uuid(),
            );
            pool.execute(sqlx::raw_sql(&sql)).await
        }
    };

    insert(0, 30, false).await.expect("the first slot");
    assert_eq!(
        violation(insert(15, 45, false).await),
        ("23P01".into(), "slots_no_overlap".into())
    );
    insert(30, 60, false)
        .await
        .expect("a slot that only touches");
    insert(15, 45, true)
        .await
        .expect("a withdrawn slot may overlap");
    assert_eq!(
        violation(insert(60, 60, false).await),
        ("23514".into(), "slots_end_after_start".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_transaction_leaves_no_partial_booking_and_the_store_keeps_working()
{
    // Two connections: the blocker's, and the booking's, made ready by a first booking (which
    // prepares the booking statements on it).
    let store = fresh_store_with(PgStoreOptions::new().max_connections(2)).await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let warm_up = fx.slot().await;
    let mut blocker = store.pool().begin().await.expect("blocker");
    fx.engine
        .book(warm_up, PatientId::new(), None)
        .await
        .expect("warm-up booking");

    // Hold the bookings table so that the booking transaction, having locked its slot and read,
    // stops at its INSERT: then kill its connection.
    blocker
        .execute("LOCK TABLE bookings IN SHARE MODE")
        .await
        .expect("lock bookings");
    let engine = fx.engine.clone();
    let booking = tokio::spawn(async move { engine.book(slot, PatientId::new(), None).await });
    let needle = hot(&store, "medislot_insert_booking", "INSERT INTO bookings");
    let pid = backend_waiting_on_lock(&store, needle).await;
    let killed: bool = blocker
        .fetch_one(sqlx::raw_sql(&format!(
            "SELECT pg_terminate_backend({pid})"
        )))
        .await
        .expect("terminate")
        .get(0);
    assert!(killed);

    match booking.await.expect("task panicked") {
        Err(Error::Store(error)) => assert!(error.is_transient(), "{error:?}"),
        other => panic!("the killed booking must fail as a store failure, got {other:?}"),
    }
    blocker.rollback().await.expect("release the table");

    // Only the warm-up booking.
    assert_eq!(count(&store, "SELECT count(*) FROM bookings").await, 1);
    assert_eq!(fx.status(slot).await, SlotStatus::Available);
    let rebooked = fx
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("the store keeps working");
    assert_eq!(rebooked.status(), BookingStatus::Confirmed);
}

#[tokio::test]
async fn a_buffered_slot_is_free_again_once_the_buffer_ends_without_a_sweeper() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let first = fx
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    fx.engine
        .cancel_as_admin(first.id, Some("doctor ill".into()))
        .await
        .expect("admin cancel");
    assert!(matches!(fx.status(slot).await, SlotStatus::Buffer { .. }));

    fx.clock
        .advance(fx.engine.policy().buffer + Duration::seconds(1));

    // Free in every read, although the stored status is still BUFFER: nothing swept it.
    assert_eq!(fx.status(slot).await, SlotStatus::Available);
    let available = SlotQuery {
        available: Some(true),
        limit: 10,
        ..SlotQuery::default()
    };
    let page = fx.engine.slots(&available).await.expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].slot.id, slot);
    let cancelled = BookingQuery {
        status: Some(BookingStatus::Cancelled),
        limit: 10,
        ..BookingQuery::default()
    };
    let page = fx.engine.bookings(&cancelled).await.expect("list bookings");
    assert_eq!(page.items.len(), 1);
    let stored: String = store
        .pool()
        .fetch_one(sqlx::raw_sql(&format!(
            "SELECT status FROM bookings WHERE id = '{}'",
            first.id.as_uuid()
        )))
        .await
        .expect("stored status")
        .get(0);
    assert_eq!(stored, "BUFFER");

    // Booking it tidies the lapsed buffer in the same transaction.
    let second = fx
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("the slot is bookable again");
    assert_eq!(second.status(), BookingStatus::Confirmed);
    let first_now = fx.engine.booking(first.id).await.expect("first booking");
    assert_eq!(first_now.booking.status(), BookingStatus::Cancelled);
}

#[tokio::test]
async fn a_lock_held_past_lock_timeout_is_reported_as_busy() {
    let store =
        fresh_store_with(PgStoreOptions::new().lock_timeout(StdDuration::from_millis(100))).await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let mut holder = store.pool().begin().await.expect("holder");
    holder
        .execute(sqlx::raw_sql(&lock_slot_sql(slot)))
        .await
        .expect("lock the slot");

    let result = fx.engine.book(slot, PatientId::new(), None).await;
    assert!(
        matches!(result, Err(Error::Store(StoreError::Busy(_)))),
        "{result:?}"
    );
    holder.rollback().await.expect("release");
    fx.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("free once the lock is released");
}

#[tokio::test]
async fn a_booking_abandoned_before_commit_writes_nothing_and_leaves_no_pooled_connection_in_a_transaction(
) {
    // Three connections: the blocker, the booking, and one to watch pg_stat_activity.
    let store = fresh_store_with(PgStoreOptions::new().max_connections(3)).await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let mut blocker = store.pool().begin().await.expect("blocker");
    blocker
        .execute(sqlx::raw_sql(&lock_slot_sql(slot)))
        .await
        .expect("lock the slot");
    let engine = fx.engine.clone();
    let booking = tokio::spawn(async move { engine.book(slot, PatientId::new(), None).await });
    // The booking has sent BEGIN and waits for the slot: it is inside its transaction.
    backend_waiting_on_lock(&store, hot(&store, "medislot_lock_slot", "s_withdrawn")).await;

    // The caller gives up (a client hung up): the future is dropped mid-transaction.
    booking.abort();
    assert!(booking.await.expect_err("aborted").is_cancelled());
    blocker.rollback().await.expect("release the slot");

    // The abandoned connection was closed, not pooled: with at most three connections, one of
    // the probes below would run inside the abandoned transaction if it had been pooled.
    for _ in 0..6 {
        // The abandoned transaction locks a slot row once the blocker lets go, so it has a
        // transaction id; a statement outside any transaction has none.
        let in_tx: bool = store
            .pool()
            .fetch_one(sqlx::raw_sql(
                "SELECT pg_current_xact_id_if_assigned() IS NOT NULL",
            ))
            .await
            .expect("probe")
            .get(0);
        assert!(!in_tx, "a pooled connection is inside a transaction");
    }
    assert_eq!(count(&store, "SELECT count(*) FROM bookings").await, 0);
    fx.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book after the abandoned attempt");
}

#[tokio::test]
async fn idempotency_keys_and_reasons_with_quotes_round_trip_through_the_sql_literals() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    let patient = PatientId::new();
    let key = IdempotencyKey::new(r#"k'ey";--\x27)"#).expect("visible ASCII");
    let first = fx
        .engine
        .book(slot, patient, Some(key.clone()))
        .await
        .expect("book");
    let again = fx
        .engine
        .book(slot, patient, Some(key.clone()))
        .await
        .expect("replay");
    assert_eq!(again, first);
    assert_eq!(first.idempotency_key, Some(key));

    let reason = "l'été \\ '); DROP TABLE bookings; -- ✓";
    let cancelled = fx
        .engine
        .cancel_as_patient(first.id, patient, Some(reason.into()))
        .await
        .expect("cancel");
    let view = fx.engine.booking(first.id).await.expect("read back");
    assert_eq!(view.booking, cancelled);
    assert!(matches!(
        view.booking.state,
        medislot_core::BookingState::Cancelled { reason: Some(ref r), .. } if r == reason
    ));
}

#[tokio::test]
async fn migrating_twice_is_harmless() {
    let store = fresh_store().await;
    store.migrate().await.expect("second migrate");
    assert_eq!(count(&store, "SELECT count(*) FROM doctors").await, 0);
}

#[tokio::test]
async fn a_connection_that_lost_its_prepared_statements_prepares_them_again() {
    // One connection, so the statement is dropped from the connection the bookings use.
    let store = fresh_store_with(PgStoreOptions::new().max_connections(1)).await;
    if store.pooler() == Pooler::Transaction {
        // Nothing is prepared behind a transaction pooler (checked by the next test).
        return;
    }
    let fx = fixture(&store);
    let (first, second) = (fx.slot().await, fx.slot().await);
    fx.engine
        .book(first, PatientId::new(), None)
        .await
        .expect("first booking prepares");
    sqlx::raw_sql("DEALLOCATE medislot_lock_slot")
        .execute(store.pool())
        .await
        .expect("drop one prepared statement");

    fx.engine
        .book(second, PatientId::new(), None)
        .await
        .expect("the booking prepares it again");
    assert_eq!(count(&store, "SELECT count(*) FROM bookings").await, 2);
}

/// How many `medislot_*` statements the pool's one connection has prepared.
async fn prepared_statements(store: &PgStore) -> i64 {
    count(
        store,
        "SELECT count(*) FROM pg_prepared_statements WHERE starts_with(name, 'medislot_')",
    )
    .await
}

#[tokio::test]
async fn hot_statements_are_prepared_by_default_and_never_when_turned_off_or_behind_a_transaction_pooler(
) {
    for (prepared, asked) in [(true, true), (false, false)] {
        let options = PgStoreOptions::new()
            .max_connections(1)
            .prepared_statements(prepared);
        let store = fresh_store_with(options).await;
        let expect_some = asked && store.pooler() == Pooler::None;
        let fx = fixture(&store);
        let slot = fx.slot().await;
        let booking = fx
            .engine
            .book(slot, PatientId::new(), None)
            .await
            .expect("book");
        fx.engine
            .cancel_as_admin(booking.id, None)
            .await
            .expect("cancel");
        assert_eq!(
            prepared_statements(&store).await > 0,
            expect_some,
            "prepared_statements({prepared})"
        );
    }
}

/// Asserts the backstop's answer: a typed "cannot represent" store error, not `Other` (a 500).
#[track_caller]
fn assert_unrepresentable<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    assert!(
        matches!(result, Err(Error::Store(StoreError::Unrepresentable(_)))),
        "{what}: expected StoreError::Unrepresentable, got {result:?}"
    );
}

fn utc_year(year: i32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    let day = chrono::NaiveDate::from_ymd_opt(year, 1, 1).expect("within chrono's range");
    chrono::Utc.from_utc_datetime(&day.into())
}

#[tokio::test]
async fn values_postgres_cannot_hold_are_a_typed_error_when_a_caller_skips_the_engine() {
    use medislot_core::{
        Account, AccountId, AccountStore as _, BookingState, CancelledBy, Changes, Claim, Decision,
        Doctor, DoctorFilter, DoctorId, Email, Role, SlotStore as _, StateChange,
    };

    let store = fresh_store().await;
    let fx = fixture(&store);
    let now = fx.now();
    // A change the core would never decide, committed straight through the unit of work.
    let commit = |claim: Claim, changes: Changes| {
        let store = store.clone();
        async move {
            store
                .mutate(&claim, &|_| {
                    Ok(Decision {
                        changes: changes.clone(),
                        reply: None,
                    })
                })
                .await
        }
    };
    // Straight to the store: the engine's validation would refuse every value below.
    let nul_doctor = Doctor {
        id: DoctorId::new(),
        name: "Dr \0Ada".into(),
        specialization: "Cardiology".into(),
        timezone: chrono_tz::UTC,
        profile: Default::default(),
        created_at: now,
    };
    assert_unrepresentable(
        commit(
            Claim::default(),
            Changes {
                new_doctor: Some(nul_doctor),
                ..Changes::at(now)
            },
        )
        .await,
        "NUL in a name (22021)",
    );
    let nul_filter = DoctorFilter {
        name_contains: Some("\0".into()),
        ..DoctorFilter::default()
    };
    assert_unrepresentable(store.list_doctors(&nul_filter).await, "NUL in a filter");
    let account = Account {
        id: AccountId::new(),
        email: Email::parse("nul@example.com").expect("valid"),
        name: "Pat\0".into(),
        role: Role::Patient,
        password_hash: "$argon2id$x".into(),
        created_at: now,
        profile: medislot_core::AccountProfile::default(),
        sessions: medislot_core::SessionGeneration::FIRST,
        login_throttle: medislot_core::LoginThrottle::default(),
    };
    assert_unrepresentable(
        store.insert_account(&account).await,
        "NUL in an account name",
    );

    // Before `timestamptz`'s first day (4713 BC): 22008 as a bound value.
    let query = SlotQuery {
        from: Some(utc_year(-5_000)),
        limit: 10,
        ..SlotQuery::default()
    };
    assert_unrepresentable(store.list_slots(&query, now).await, "5001 BC in a filter");
    let query = BookingQuery {
        to: Some(utc_year(-5_000)),
        limit: 10,
        ..BookingQuery::default()
    };
    assert_unrepresentable(
        store.list_bookings(&query, now).await,
        "5001 BC in a filter",
    );

    let slot = fx.slot().await;
    let patient = PatientId::new();
    let booking = fx.engine.book(slot, patient, None).await.expect("book");
    let cancel = |reason: Option<&str>, at| {
        let claim = Claim {
            booking: Some(booking.id),
            ..Claim::default()
        };
        let changes = Changes {
            states: vec![StateChange {
                booking: booking.id,
                state: BookingState::Cancelled {
                    by: CancelledBy::Patient,
                    reason: reason.map(str::to_owned),
                    buffer_until: None,
                },
            }],
            ..Changes::at(at)
        };
        commit(claim, changes)
    };
    assert_unrepresentable(
        cancel(Some("moved\0away"), now).await,
        "NUL in a cancel reason",
    );
    assert_unrepresentable(
        cancel(None, utc_year(-5_000)).await,
        "5001 BC as the instant of a change",
    );
    let view = fx.engine.booking(booking.id).await.expect("read back");
    assert_eq!(
        view.booking.status(),
        BookingStatus::Confirmed,
        "nothing changed"
    );
    // The store keeps working after the refused statements.
    fx.engine
        .cancel_as_patient(booking.id, patient, Some("moved away".into()))
        .await
        .expect("a valid cancel");
}

/// Two opposite reschedules (the booking on A to B, the booking on B to A) made to start at the
/// same instant: a transaction holds both slots, both reschedules queue behind it, and it
/// commits. Were the slots locked target first, each would take its first lock and wait for the
/// other's (a deadlock, which with retries off surfaces as `Busy`); locked in id order, both are
/// answered by the rules. Three rounds, so that the connections have their statements prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opposite_reschedules_lock_both_slots_in_id_order_and_never_deadlock() {
    let store = fresh_store_with(PgStoreOptions::new().max_retries(0)).await;
    let f = fixture(&store);
    let doc = f.doctor("Dr Swap", "Cardiology").await;
    let slots = f.slots(&doc, 6, Duration::zero()).await;
    for pair in slots.chunks(2) {
        opposite_reschedules_behind_a_gate(&store, &f, pair[0], pair[1]).await;
    }
}

async fn opposite_reschedules_behind_a_gate(
    store: &PgStore,
    f: &Fixture,
    a: medislot_core::SlotId,
    b: medislot_core::SlotId,
) {
    let (p1, p2) = (PatientId::new(), PatientId::new());
    let on_a = f.engine.book(a, p1, None).await.unwrap();
    let on_b = f.engine.book(b, p2, None).await.unwrap();

    let mut gate = store.pool().begin().await.unwrap();
    let lock_both = format!(
        "SELECT 1 FROM slots WHERE id IN ('{}', '{}') FOR UPDATE",
        Uuid::from(a),
        Uuid::from(b)
    );
    gate.execute(sqlx::raw_sql(&lock_both)).await.unwrap();
    let (e1, e2) = (f.engine.clone(), f.engine.clone());
    let one = tokio::spawn(async move { e1.reschedule_as_patient(on_a.id, p1, b, None).await });
    let two = tokio::spawn(async move { e2.reschedule_as_patient(on_b.id, p2, a, None).await });
    // Both wait behind the gate before it opens.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
    loop {
        let waiting = count(
            store,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .await;
        if waiting >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reschedules never queued"
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    gate.commit().await.unwrap();
    for result in [one.await.unwrap(), two.await.unwrap()] {
        assert!(
            matches!(result, Err(Error::SlotUnavailable(_))),
            "each target is taken, and no deadlock: {result:?}"
        );
    }
    assert_eq!(f.engine.booking(on_a.id).await.unwrap().booking, on_a);
    assert_eq!(f.engine.booking(on_b.id).await.unwrap().booking, on_b);
}

#[tokio::test]
async fn journal_entries_cannot_be_changed_or_removed_even_with_sql() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    fx.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    let entries = count(&store, "SELECT count(*) FROM journal").await;
    assert!(entries >= 3, "doctor, slot and booking: {entries}");
    for sql in [
        "UPDATE journal SET reason = 'rewritten'",
        "UPDATE journal SET to_role = 'admin', account_id = NULL",
        "DELETE FROM journal WHERE kind = 'booking.booked'",
        "TRUNCATE journal CASCADE",
    ] {
        let refused = store.pool().execute(sql).await;
        assert_eq!(
            violation(refused),
            ("23001".into(), "journal_append_only".into()),
            "{sql}"
        );
    }
    assert_eq!(count(&store, "SELECT count(*) FROM journal").await, entries);
    assert_eq!(
        count(&store, "SELECT count(DISTINCT entry_id) FROM outbox").await,
        1
    );
}

#[tokio::test]
async fn a_write_the_database_refuses_leaves_no_journal_entry_and_no_message() {
    let store = fresh_store().await;
    let fx = fixture(&store);
    let slot = fx.slot().await;
    fx.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    let entries = count(&store, "SELECT count(*) FROM journal").await;
    // A writer that skips the rule: a second occupying booking of the slot, with its entry.
    let now = fx.now();
    let second = Booking {
        id: BookingId::new(),
        slot_id: slot,
        patient_id: PatientId::new(),
        state: BookingState::Confirmed,
        idempotency_key: None,
        created_at: now,
        updated_at: now,
        rescheduled_from: None,
        visit_reason: None,
    };
    let mut changes = Changes {
        new_bookings: vec![second],
        ..Changes::at(now)
    };
    changes.journal = journal::record(
        &Locked::default(),
        &changes,
        Actor::System,
        &Context::default(),
    );
    assert_eq!(changes.journal.len(), 1);
    let decision = Decision {
        changes,
        reply: None,
    };
    let refused = store
        .mutate(&Claim::default(), &|_| Ok(decision.clone()))
        .await;
    assert!(
        matches!(refused, Err(Error::SlotUnavailable(_))),
        "{refused:?}"
    );
    assert_eq!(count(&store, "SELECT count(*) FROM journal").await, entries);
    assert_eq!(
        count(&store, "SELECT count(DISTINCT entry_id) FROM outbox").await,
        1
    );
}
