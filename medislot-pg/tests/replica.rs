//! The read replica, on a real streaming replica (`deploy/replica/start.sh`) named by
//! `MEDISLOT_REPLICA_URL` (its database is replaced by each test's scratch database). Without it
//! these tests say so and pass, unless `MEDISLOT_REQUIRE_REPLICA=1`: then they fail.
//!
//! Replay is paused (`pg_wal_replay_pause()`) to make the replica stale on purpose, so the tests
//! run one at a time (the pause is the whole replica's), and replay is resumed when a test
//! ends, however it ends.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medislot_core::testkit::Fixture;
use medislot_core::{
    BookingEngine, BookingQuery, Error, PatientId, SlotId, SlotQuery, SlotStatus, SlotStore as _,
};
use medislot_pg::testing::fresh_store;
use medislot_pg::{PgStore, PgStoreOptions, ReplicaStatus};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use tokio::sync::{Mutex, MutexGuard};

/// The replica's URL, or `None` (after saying so) when the tests may skip.
fn replica_url() -> Option<String> {
    match std::env::var("MEDISLOT_REPLICA_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("MEDISLOT_REQUIRE_REPLICA").as_deref() == Ok("1") => panic!(
            "MEDISLOT_REQUIRE_REPLICA=1 but MEDISLOT_REPLICA_URL is not set: start a replica \
             with deploy/replica/start.sh and export the URL it prints"
        ),
        _ => {
            eprintln!("MEDISLOT_REPLICA_URL is not set: skipping (see deploy/replica/start.sh)");
            None
        }
    }
}

/// One test at a time: pausing replay pauses it for every database.
async fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    LOCK.lock().await
}

/// A connection to the replica's own database (the URL's), for pausing and resuming replay.
async fn replica_admin(url: &str) -> sqlx::PgConnection {
    PgConnectOptions::from_str(url)
        .expect("MEDISLOT_REPLICA_URL parses")
        .connect()
        .await
        .expect("connect to the replica")
}

async fn wal_position(store: &PgStore) -> i64 {
    sqlx::raw_sql("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
        .fetch_one(store.pool())
        .await
        .expect("the primary's WAL position")
        .get(0)
}

/// Waits until the replica has replayed the primary's WAL up to `position`.
async fn replayed(url: &str, position: i64) {
    let mut conn = replica_admin(url).await;
    let started = Instant::now();
    loop {
        let row = sqlx::raw_sql(
            "SELECT pg_is_in_recovery(), \
             pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint",
        )
        .fetch_one(&mut conn)
        .await
        .expect("the replica's replay position");
        assert!(row.get::<bool, _>(0), "{url} is not a standby");
        if row
            .get::<Option<i64>, _>(1)
            .is_some_and(|at| at >= position)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the replica did not replay the primary's WAL within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A store on a fresh database of the primary with that database on the replica as its
/// replica, once the replica has it.
async fn store_with_replica(url: &str) -> PgStore {
    let primary = fresh_store().await;
    replayed(url, wal_position(&primary).await).await;
    let database: String = sqlx::raw_sql("SELECT current_database()")
        .fetch_one(primary.pool())
        .await
        .unwrap()
        .get(0);
    let replica = PgStoreOptions::new()
        .max_connections(4)
        .connect_with(PgConnectOptions::from_str(url).unwrap().database(&database))
        .await
        .expect("connect to the test database on the replica");
    primary.with_replica(replica)
}

/// Replay paused on the replica until dropped; dropping resumes it, also when a test panics.
struct ReplayPaused {
    url: String,
}

impl ReplayPaused {
    async fn start(url: &str) -> Self {
        let mut conn = replica_admin(url).await;
        sqlx::raw_sql("SELECT pg_wal_replay_pause()")
            .execute(&mut conn)
            .await
            .expect("pause replay");
        let paused = Self {
            url: url.to_owned(),
        };
        // A pause is requested, then takes effect: wait until replay has stopped.
        loop {
            let state: String = sqlx::raw_sql("SELECT pg_get_wal_replay_pause_state()")
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            if state == "paused" {
                return paused;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        let url = self.url.clone();
        // Drop cannot wait on the test's runtime: resume on a thread with its own.
        let resumed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to resume replay");
            runtime.block_on(async {
                let mut conn = replica_admin(&url).await;
                sqlx::raw_sql("SELECT pg_wal_replay_resume()")
                    .execute(&mut conn)
                    .await
                    .expect("resume replay");
                let _ = conn.close().await;
            });
        })
        .join();
        if resumed.is_err() && !std::thread::panicking() {
            panic!("replay could not be resumed on the replica");
        }
    }
}

/// Waits until the store finds its replica current (it has replayed the store's writes).
async fn current(store: &PgStore) {
    let started = Instant::now();
    while store.replica_status().await != Some(ReplicaStatus::Current) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the replica did not catch up within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn doctors_slots(doctor: medislot_core::DoctorId) -> SlotQuery {
    SlotQuery {
        doctor_id: Some(doctor),
        limit: 50,
        ..SlotQuery::default()
    }
}

async fn listed(
    store: &PgStore,
    doctor: medislot_core::DoctorId,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(SlotId, SlotStatus)> {
    store
        .list_slots(&doctors_slots(doctor), now)
        .await
        .expect("list slots")
        .items
        .into_iter()
        .map(|view| (view.slot.id, view.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_come_from_the_replica_until_this_store_writes_then_from_the_primary() {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let store = store_with_replica(&url).await;
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Replica", "Cardiology").await;
    let first = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    current(&store).await;

    let paused = ReplayPaused::start(&url).await;
    // Another instance (a store on the primary alone) publishes a slot.
    let elsewhere = Fixture::new(Arc::new(PgStore::from_pool(store.pool().clone())));
    let second = elsewhere
        .slots(&doctor, 1, chrono::Duration::hours(2))
        .await[0];
    let now = fx.now();
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available)],
        "the listing should come from the paused replica, which has not seen the new slot"
    );
    let free = store
        .count_free_slots(
            &medislot_core::FreeSlotFilter {
                doctor_id: Some(doctor.id),
                ..Default::default()
            },
            &[medislot_core::TimeRange::new(now, now + chrono::Duration::days(3)).unwrap()],
            now,
        )
        .await
        .unwrap();
    assert_eq!(free[0].free, 1, "availability comes from the replica too");
    assert_eq!(store.replica_status().await, Some(ReplicaStatus::Current));

    // The patient books the slot the replica does not know: the booking locks and reads it on
    // the primary.
    let patient = PatientId::new();
    let booking = fx.engine.book(second, patient, None).await.expect("book");
    // Their own bookings come from the primary.
    let mine = store
        .list_bookings(
            &BookingQuery {
                patient_id: Some(patient),
                limit: 10,
                ..BookingQuery::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|v| v.booking.id).collect::<Vec<_>>(),
        vec![booking.id]
    );
    // And after their write the lag-tolerant listing reads the primary: it sees the slot,
    // booked, while the replica is still paused.
    assert_eq!(store.replica_status().await, Some(ReplicaStatus::Behind));
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available), (second, SlotStatus::Booked)],
        "after this store's write the listing must come from the primary"
    );
    drop(paused);

    current(&store).await;
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available), (second, SlotStatus::Booked)],
        "the replica, resumed, has it all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_paused_a_slot_taken_on_the_primary_is_refused_and_nothing_is_booked_twice() {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let store = store_with_replica(&url).await;
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Stale", "Dermatology").await;
    let slots = fx.slots(&doctor, 2, chrono::Duration::zero()).await;
    let (taken, raced) = (slots[0], slots[1]);
    current(&store).await;

    let _paused = ReplayPaused::start(&url).await;
    let elsewhere: Arc<PgStore> = Arc::new(PgStore::from_pool(store.pool().clone()));
    let other = BookingEngine::new(elsewhere.clone());
    other
        .book(taken, PatientId::new(), None)
        .await
        .expect("another instance books the slot");
    let now = fx.now();
    assert!(
        listed(&store, doctor.id, now)
            .await
            .contains(&(taken, SlotStatus::Available)),
        "the paused replica still lists the taken slot as free"
    );
    let refused = fx.engine.book(taken, PatientId::new(), None).await;
    assert!(
        matches!(refused, Err(Error::SlotUnavailable(slot)) if slot == taken),
        "a stale listing must not reach the decision: {refused:?}"
    );

    // A rush on one slot from both instances while the replica is stale: one booking.
    let attempts = (0..16).map(|i| {
        let engine = if i % 2 == 0 {
            fx.engine.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { engine.book(raced, PatientId::new(), None).await })
    });
    let answers = futures::future::join_all(attempts).await;
    let booked = answers
        .iter()
        .filter(|answer| matches!(answer, Ok(Ok(_))))
        .count();
    for answer in &answers {
        match answer {
            Ok(Ok(_)) | Ok(Err(Error::SlotUnavailable(_))) => {}
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    assert_eq!(booked, 1);
    let stored = fx.assert_at_most_one_occupant(raced).await;
    assert!(stored.is_some());
    assert_eq!(fx.bookings_of(taken).await.len(), 1);
}

#[tokio::test]
async fn a_replica_that_does_not_answer_leaves_reads_to_the_primary() {
    let primary = fresh_store().await;
    // Nothing listens on port 1.
    let replica = PgStoreOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let store = primary.with_replica(replica);
    // Before any write the replica would do: the read fails there and runs on the primary.
    let none = store
        .list_doctors(&medislot_core::DoctorFilter::default())
        .await
        .expect("the primary answers for the replica");
    assert!(none.is_empty());
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Alone", "Neurology").await;
    let slot = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    assert_eq!(
        store.replica_status().await,
        Some(ReplicaStatus::Unavailable)
    );
    assert_eq!(
        listed(&store, doctor.id, fx.now()).await,
        vec![(slot, SlotStatus::Available)]
    );
    let doctors = store
        .list_doctors(&medislot_core::DoctorFilter::default())
        .await
        .unwrap();
    assert_eq!(doctors.len(), 1);
}
