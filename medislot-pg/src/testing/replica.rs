//! Tests on a real streaming replica (`deploy/replica/start.sh`), named by
//! `MEDISLOT_REPLICA_URL`: stores whose replica is the test database there, replay paused to
//! make the replica stale on purpose, and waiting until it has caught up.
//!
//! Without `MEDISLOT_REPLICA_URL` such tests say so and pass ([`replica_url`]), unless
//! `MEDISLOT_REQUIRE_REPLICA=1`: then they fail. Pausing replay pauses it for every database
//! of the replica, so a test that pauses holds [`one_at_a_time`] (one test process at a time:
//! run them with `cargo test`, whose tests share a process).

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use medislot_core::{DoctorId, SlotId, SlotQuery, SlotStatus, SlotStore as _};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Row as _};
use tokio::sync::{Mutex, MutexGuard};

use crate::{PgStore, PgStoreOptions, ReplicaStatus};

/// How long a replica may take to replay what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// The replica's URL, or `None` (after saying so) when the tests may skip.
///
/// # Panics
/// When `MEDISLOT_REQUIRE_REPLICA=1` and no URL is set.
pub fn replica_url() -> Option<String> {
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

/// One test of this process at a time: pausing replay pauses it for every database.
pub async fn one_at_a_time() -> MutexGuard<'static, ()> {
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

/// The primary's WAL insert position now, in bytes.
///
/// # Panics
/// When the primary does not answer.
pub async fn wal_position(store: &PgStore) -> i64 {
    sqlx::raw_sql("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
        .fetch_one(store.pool())
        .await
        .expect("the primary's WAL position")
        .get(0)
}

/// Waits until the replica at `url` has replayed the primary's WAL up to `position`.
///
/// # Panics
/// When `url` is not a standby, or it has not replayed that far within 30 s.
pub async fn replayed(url: &str, position: i64) {
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
            started.elapsed() < PATIENCE,
            "the replica did not replay the primary's WAL within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A store on a fresh database of the primary, with that database on the replica at `url`
/// as its replica, once the replica has it.
///
/// # Panics
/// As [`crate::testing::fresh_store`] and [`replayed`].
pub async fn store_with_replica(url: &str) -> PgStore {
    let primary = super::fresh_store().await;
    replayed(url, wal_position(&primary).await).await;
    let replica = replica_of(&primary, url).await;
    primary.with_replica(replica)
}

/// Another store on `store`'s database and on its database on the replica at `url`, with
/// pools of its own, as another server process would have: it knows nothing of `store`'s
/// writes. The database lives as long as either store.
///
/// # Panics
/// When either server refuses the connections.
pub async fn another_instance(store: &PgStore, url: &str) -> PgStore {
    let options = store.pool().connect_options().as_ref().clone();
    let mut primary = PgStoreOptions::new()
        .pooler(store.pooler())
        .connect_with(options)
        .await
        .expect("connect to the test database again");
    primary.scratch = store.scratch.clone();
    let replica = replica_of(&primary, url).await;
    primary.with_replica(replica)
}

/// A store on `primary`'s database on the replica at `url`.
async fn replica_of(primary: &PgStore, url: &str) -> PgStore {
    let database: String = sqlx::raw_sql("SELECT current_database()")
        .fetch_one(primary.pool())
        .await
        .expect("the test database's name")
        .get(0);
    PgStoreOptions::new()
        .max_connections(4)
        .connect_with(
            PgConnectOptions::from_str(url)
                .expect("MEDISLOT_REPLICA_URL parses")
                .database(&database),
        )
        .await
        .expect("connect to the test database on the replica")
}

/// Waits until `store` finds its replica current (it has replayed the store's writes).
///
/// # Panics
/// When that takes more than 30 s.
pub async fn current(store: &PgStore) {
    let started = Instant::now();
    while store.replica_status().await != Some(ReplicaStatus::Current) {
        assert!(
            started.elapsed() < PATIENCE,
            "the replica did not catch up within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `doctor`'s slots as `store` lists them at `now` (a lag-tolerant read): each id and status.
///
/// # Panics
/// When the listing fails.
pub async fn listed(
    store: &PgStore,
    doctor: DoctorId,
    now: DateTime<Utc>,
) -> Vec<(SlotId, SlotStatus)> {
    let query = SlotQuery {
        doctor_id: Some(doctor),
        limit: 50,
        ..SlotQuery::default()
    };
    store
        .list_slots(&query, now)
        .await
        .expect("list slots")
        .items
        .into_iter()
        .map(|view| (view.slot.id, view.status))
        .collect()
}

/// Replay paused on the replica until dropped; dropping resumes it, also when a test panics.
#[derive(Debug)]
pub struct ReplayPaused {
    url: String,
}

impl ReplayPaused {
    /// Pauses replay on the replica at `url` and waits until it has stopped.
    ///
    /// # Panics
    /// When the replica refuses.
    pub async fn start(url: &str) -> Self {
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
                .expect("the replica's pause state")
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
