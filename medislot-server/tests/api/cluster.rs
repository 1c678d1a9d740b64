//! Three server processes behind nginx, on one PostgreSQL database reached through PgBouncer in
//! transaction pooling: the local cluster `deploy/cluster/start.sh` brings up, started by the
//! test itself. Patients race for the same slots through the proxy; afterwards the database
//! holds no slot booked twice and no answer was a 5xx; a logout on one instance is refused at
//! once by the others. With the cluster's own streaming replica (`MEDISLOT_CLUSTER_REPLICA=1`),
//! the rush again, and a caller who brings a booking's position reads it from every instance
//! while the replica's replay is paused.
//!
//! Needs nginx and PgBouncer (`apt-get install nginx-light pgbouncer`); the replica also needs
//! the PostgreSQL server binaries and root or the postgres user (`deploy/replica/start.sh`).
//! Without them the test is left out with a note, unless `MEDISLOT_REQUIRE_CLUSTER=1`, when
//! that is a failure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use medislot_pg::testing::replica::{replayed, wal_position, ReplayPaused};
use medislot_pg::PgStore;
use medislot_server::read_your_writes::{COOKIE, READ_AFTER_HEADER, WRITTEN_AT_HEADER};
use medislot_server::Stores;
use sqlx::Row as _;
use uuid::Uuid;

use crate::process::{free_port, request_with_headers, Reply, BIN};
use crate::{TestApp, User, SECRET};

/// Whether a missing tool fails the cluster tests instead of leaving them out.
pub(crate) fn cluster_required() -> bool {
    std::env::var("MEDISLOT_REQUIRE_CLUSTER").is_ok_and(|v| v == "1")
}

/// The first of `candidates` that exists, or `None` and a note (a panic when required).
pub(crate) fn find_tool(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !cluster_required(),
            "MEDISLOT_REQUIRE_CLUSTER=1 but {name} was not found (looked at {candidates:?})"
        );
        eprintln!("{name} is not installed: the cluster test is left out");
    }
    found
}

/// The repository's `deploy/cluster` folder.
fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/cluster")
}

/// A cluster started by `deploy/cluster/start.sh` in a temporary folder; stopped (`stop.sh`)
/// when dropped, also by a failing assertion.
struct Cluster {
    state: tempfile::TempDir,
    /// nginx's port.
    port: u16,
    /// The instances' ports, in order (instance 1 first).
    instances: [u16; 3],
    /// The cluster's replica (the test database on it), when it was started with one.
    replica: Option<String>,
}

impl Cluster {
    /// Starts one on `store`'s database; its instances sign sessions with the test key.
    fn start(store: &PgStore, env: &[(&str, &str)]) -> Cluster {
        let state = tempfile::tempdir().expect("a state folder");
        std::fs::write(
            state.path().join("session-secret"),
            std::str::from_utf8(SECRET).unwrap(),
        )
        .unwrap();
        let options = store.pool().connect_options();
        let host = options.get_socket().map_or_else(
            || options.get_host().to_owned(),
            |socket| socket.display().to_string(),
        );
        let cluster = Cluster {
            state,
            port: free_port(),
            instances: [free_port(), free_port(), free_port()],
            replica: None,
        };
        let ports = cluster.instances.map(|p| p.to_string()).join(",");
        let output = Command::new(scripts().join("start.sh"))
            .arg(cluster.state.path())
            .arg(BIN)
            .env_remove("DATABASE_URL")
            .env("PG_HOST", host)
            .env("PG_PORT", options.get_port().to_string())
            .env(
                "MEDISLOT_CLUSTER_DATABASE",
                options.get_database().expect("a database name"),
            )
            .env("MEDISLOT_CLUSTER_HTTP_PORT", cluster.port.to_string())
            .env("MEDISLOT_CLUSTER_INSTANCE_PORTS", ports)
            .env("MEDISLOT_CLUSTER_PGBOUNCER_PORT", free_port().to_string())
            .envs(env.iter().copied())
            .output()
            .expect("start.sh runs");
        assert!(
            output.status.success(),
            "start.sh failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.contains(&format!("MEDISLOT_URL=http://127.0.0.1:{}", cluster.port)),
            "start.sh prints the URL: {printed}"
        );
        cluster
    }

    /// Starts one as [`Cluster::start`] does, with a streaming replica of its own on a free
    /// port (`MEDISLOT_CLUSTER_REPLICA=1`), which every instance reads.
    fn start_with_replica(store: &PgStore) -> Cluster {
        let port = free_port();
        let mut cluster = Cluster::start(
            store,
            &[
                ("MEDISLOT_CLUSTER_REPLICA", "1"),
                ("MEDISLOT_CLUSTER_REPLICA_PORT", &port.to_string()),
            ],
        );
        let options = store.pool().connect_options();
        let database = options.get_database().expect("a database name");
        cluster.replica = Some(format!("postgres://postgres@127.0.0.1:{port}/{database}"));
        cluster
    }

    /// Sends a request through nginx, to instance `pin` (1, 2, 3) or to the next in turn.
    fn send(
        &self,
        method: &str,
        path: &str,
        user: &User,
        pin: Option<u8>,
        json: &str,
    ) -> Option<Reply> {
        let pin = pin.map(|n| n.to_string());
        let headers: Vec<(&str, &str)> = pin
            .iter()
            .map(|pin| ("X-Medislot-Instance", pin.as_str()))
            .collect();
        self.send_with(method, path, user, &headers, json)
    }

    /// Sends a request through nginx to the next instance in turn, with `headers`.
    fn send_with(
        &self,
        method: &str,
        path: &str,
        user: &User,
        headers: &[(&str, &str)],
        json: &str,
    ) -> Option<Reply> {
        let auth = format!("Bearer {}", user.token);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        request_with_headers(self.port, method, path, &all, json)
    }

    /// Which instance (1, 2, 3) served `reply`, by the upstream address nginx names.
    fn served_by(&self, reply: &Reply) -> Option<usize> {
        let upstream = reply.header("x-medislot-upstream")?;
        let port: u16 = upstream.rsplit(':').next()?.parse().ok()?;
        self.instances
            .iter()
            .position(|p| *p == port)
            .map(|i| i + 1)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = Command::new(scripts().join("stop.sh"))
            .arg(self.state.path())
            .output();
        if let Ok(output) = stopped {
            if !output.status.success() {
                eprintln!("stop.sh: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
    }
}

/// nginx and PgBouncer, or `None` when either is missing (see the module's documentation).
fn tools() -> Option<()> {
    find_tool("nginx", &["/usr/sbin/nginx", "/usr/bin/nginx"])?;
    find_tool("pgbouncer", &["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"])?;
    Some(())
}

/// What a cluster with a replica needs: [`tools`], `pg_basebackup`, and root or the postgres
/// user (`deploy/replica/start.sh` runs PostgreSQL as postgres); `None` when something is
/// missing (see the module's documentation).
fn replica_tools() -> Option<()> {
    tools()?;
    let basebackup: Vec<String> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pg_basebackup").display().to_string())
        .collect();
    let basebackup: Vec<&str> = basebackup.iter().map(String::as_str).collect();
    find_tool("pg_basebackup", &basebackup)?;
    let user = Command::new("id").arg("-un").output().expect("id runs");
    let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
    if !matches!(user.as_str(), "root" | "postgres") {
        assert!(
            !cluster_required(),
            "MEDISLOT_REQUIRE_CLUSTER=1 but the replica needs root or the postgres user, not {user}"
        );
        eprintln!("not root nor postgres: the cluster test with a replica is left out");
        return None;
    }
    Some(())
}

/// An app in this process on the same database, for the setup (doctor, slots, accounts); its
/// sessions are signed with the key the cluster's instances share.
async fn setup_app(store: &PgStore) -> TestApp {
    let stores = Stores::from_store(Arc::new(store.clone()), "cluster PostgreSQL");
    TestApp::on_stores(stores, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_rush_through_nginx_across_three_instances_books_no_slot_twice_and_never_answers_5xx(
) {
    if tools().is_none() {
        return;
    }
    let store = medislot_pg::testing::fresh_store().await;
    let cluster = Cluster::start(&store, &[]);
    booking_rush(&store, &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_rush_through_nginx_with_a_read_replica_books_no_slot_twice_and_never_answers_5xx(
) {
    if replica_tools().is_none() {
        return;
    }
    let store = medislot_pg::testing::fresh_store().await;
    let cluster = Cluster::start_with_replica(&store);
    booking_rush(&store, &cluster).await;
}

/// 16 patients each try all 20 slots of `store`'s new doctor through `cluster`'s nginx, as fast
/// as they can: no answer is a 5xx, each slot is answered 201 once, the database holds that
/// booking and no other, and each 201 carries its position exactly when the cluster has a
/// replica.
async fn booking_rush(store: &PgStore, cluster: &Cluster) {
    const SLOTS: usize = 20;
    const PATIENTS: usize = 16;
    let app = setup_app(store).await;
    let (_, _, slots) = app.clinic(SLOTS).await;
    let mut patients = Vec::new();
    for _ in 0..PATIENTS {
        patients.push(app.patient().await);
    }

    // Every patient tries every slot, each starting at a different one, as fast as it can.
    let started = std::time::Instant::now();
    let answers: Vec<(Uuid, Uuid, Reply)> = std::thread::scope(|scope| {
        let workers: Vec<_> = patients
            .iter()
            .enumerate()
            .map(|(i, patient)| {
                let slots = &slots;
                scope.spawn(move || {
                    (0..SLOTS)
                        .map(|k| {
                            let slot = slots[(i + k) % SLOTS];
                            let body = format!(r#"{{"slot_id":"{slot}"}}"#);
                            let reply = cluster
                                .send("POST", "/api/v1/bookings", patient, None, &body)
                                .expect("nginx answers");
                            (patient.id, slot, reply)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker"))
            .collect()
    });
    let elapsed = started.elapsed();

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut by_instance: BTreeMap<usize, usize> = BTreeMap::new();
    let mut booked: HashMap<Uuid, Uuid> = HashMap::new();
    for (patient, slot, reply) in &answers {
        *by_status.entry(reply.status).or_default() += 1;
        if let Some(instance) = cluster.served_by(reply) {
            *by_instance.entry(instance).or_default() += 1;
        }
        assert!(
            reply.status < 500,
            "a {} through the proxy: {}",
            reply.status,
            reply.body
        );
        if reply.status == 201 {
            assert_eq!(
                reply.header(WRITTEN_AT_HEADER).is_some(),
                cluster.replica.is_some(),
                "a booking answers its position when there is a replica: {}",
                reply.head
            );
            let booking = crate::uuid_of(&reply.json()["id"]);
            assert!(
                booked.insert(*slot, booking).is_none(),
                "slot {slot} was answered 201 twice (the second for patient {patient})"
            );
        }
    }
    eprintln!(
        "{} booking attempts through nginx (replica: {}) in {elapsed:?}: statuses {by_status:?}, \
         served per instance {by_instance:?}",
        answers.len(),
        cluster.replica.is_some()
    );
    assert_eq!(
        by_instance.len(),
        3,
        "nginx spread the rush: {by_instance:?}"
    );
    assert_eq!(booked.len(), SLOTS, "every slot was booked once");

    // The database agrees: one active booking per slot, and it is the one answered 201.
    let rows = sqlx::raw_sql(
        "SELECT slot_id, id, count(*) OVER (PARTITION BY slot_id) AS n FROM bookings \
         WHERE status IN ('PENDING', 'CONFIRMED', 'BUFFER')",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), SLOTS);
    for row in rows {
        let (slot, id, n): (Uuid, Uuid, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(n, 1, "slot {slot} is booked {n} times");
        assert_eq!(
            booked.get(&slot),
            Some(&id),
            "the stored booking was answered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_is_refused_at_once_by_the_other_two() {
    if tools().is_none() {
        return;
    }
    let store = medislot_pg::testing::fresh_store().await;
    let app = setup_app(&store).await;
    let patient = app.patient().await;
    let bystander = app.patient().await;
    let cluster = Cluster::start(&store, &[]);

    let me = |user: &User, pin: u8| {
        let reply = cluster
            .send("GET", "/api/v1/me", user, Some(pin), "")
            .expect("nginx answers");
        assert_eq!(
            cluster.served_by(&reply),
            Some(usize::from(pin)),
            "the pinned instance answered"
        );
        reply.status
    };
    for pin in 1..=3 {
        assert_eq!(me(&patient, pin), 200, "signed in on instance {pin}");
    }

    let logout = cluster
        .send("POST", "/api/v1/auth/logout", &patient, Some(1), "{}")
        .expect("nginx answers");
    assert!(
        logout.status < 300,
        "logout: {} {}",
        logout.status,
        logout.body
    );

    let statuses: HashSet<(u8, u16)> = (1..=3).map(|pin| (pin, me(&patient, pin))).collect();
    assert_eq!(
        statuses,
        HashSet::from([(1, 401), (2, 401), (3, 401)]),
        "the token is refused everywhere"
    );
    // Only that session ended.
    for pin in 1..=3 {
        assert_eq!(me(&bystander, pin), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_share_one_sign_in_budget_per_client_address() {
    const BUDGET: usize = 6;
    if tools().is_none() {
        return;
    }
    let store = medislot_pg::testing::fresh_store().await;
    let cluster = Cluster::start(
        &store,
        &[("MEDISLOT_AUTH_ATTEMPTS_PER_MINUTE", &BUDGET.to_string())],
    );
    // The budget is per wall-clock minute: start well inside one, so that every attempt below
    // is counted in the same window.
    let second = chrono::Timelike::second(&chrono::Utc::now());
    if second > 50 {
        std::thread::sleep(std::time::Duration::from_secs(u64::from(61 - second)));
    }

    let attempt = |pin: Option<u8>| {
        let body = format!(
            r#"{{"email":"nobody-{}@example.com","password":"wrong password"}}"#,
            Uuid::now_v7().simple()
        );
        let headers: Vec<(&str, String)> = pin
            .map(|n| ("X-Medislot-Instance", n.to_string()))
            .into_iter()
            .collect();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        request_with_headers(cluster.port, "POST", "/api/v1/auth/login", &headers, &body)
            .expect("nginx answers")
    };
    // The budget, spent round robin: each instance counts a third of it.
    let mut served = BTreeMap::new();
    for _ in 0..BUDGET {
        let reply = attempt(None);
        assert_eq!(reply.status, 401, "{}", reply.body);
        *served.entry(cluster.served_by(&reply)).or_insert(0) += 1;
    }
    assert_eq!(
        served,
        BTreeMap::from([(Some(1), 2), (Some(2), 2), (Some(3), 2)]),
        "nginx took turns"
    );
    // Spent: every instance refuses the next attempt from this address.
    for pin in 1..=3 {
        let reply = attempt(Some(pin));
        assert_eq!(reply.status, 429, "instance {pin}: {}", reply.body);
        assert_eq!(reply.json()["code"], "too_many_attempts");
        assert!(reply.header("retry-after").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_a_caller_who_brings_its_booking_s_position_sees_the_slot_taken_on_every_instance_while_the_replica_lags(
) {
    if replica_tools().is_none() {
        return;
    }
    let store = medislot_pg::testing::fresh_store().await;
    let app = setup_app(&store).await;
    let (_, doctor, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let cluster = Cluster::start_with_replica(&store);
    let replica = cluster.replica.as_deref().expect("a replica");
    // The replica lists the slot, then falls behind on purpose: replay stays paused until the
    // guard is dropped (before the cluster stops), however the test ends.
    replayed(replica, wal_position(&store).await).await;
    let _paused = ReplayPaused::start(replica).await;

    let booked = cluster
        .send_with(
            "POST",
            "/api/v1/bookings",
            &patient,
            &[],
            &format!(r#"{{"slot_id":"{}"}}"#, slots[0]),
        )
        .expect("nginx answers");
    assert_eq!(booked.status, 201, "{}", booked.body);
    let written = booked
        .header(WRITTEN_AT_HEADER)
        .expect("a booking answers its position")
        .to_owned();
    let cookie = format!("{COOKIE}={written}");
    assert!(
        booked
            .header("set-cookie")
            .is_some_and(|set| set.starts_with(&format!("{cookie};"))),
        "nginx passes the position's cookie on: {}",
        booked.head
    );
    let writer = cluster.served_by(&booked);

    // The slot's status in the doctor's listing through nginx, and the instance that served it.
    let listed = |headers: &[(&str, &str)]| {
        let reply = cluster
            .send_with(
                "GET",
                &format!("/api/v1/slots?doctor_id={doctor}"),
                &patient,
                headers,
                "",
            )
            .expect("nginx answers");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let status = reply.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| crate::uuid_of(&item["id"]) == slots[0])
            .expect("the slot is listed")["status"]
            .as_str()
            .expect("a status")
            .to_owned();
        (cluster.served_by(&reply), status)
    };
    // Round robin: three listings in a row reach the three instances.
    for carrier in [(READ_AFTER_HEADER, written.as_str()), ("Cookie", &cookie)] {
        let answers: Vec<_> = (0..3).map(|_| listed(&[carrier])).collect();
        assert!(
            answers.iter().all(|(_, status)| status == "booked"),
            "with the position in {}, every instance lists the slot taken: {answers:?}",
            carrier.0
        );
        let served: HashSet<_> = answers.iter().map(|(by, _)| *by).collect();
        assert_eq!(
            served,
            HashSet::from([Some(1), Some(2), Some(3)]),
            "nginx took turns"
        );
    }
    // Without it, the instances that did not book read the paused replica.
    let answers: Vec<_> = (0..3).map(|_| listed(&[])).collect();
    eprintln!("booked through instance {writer:?}; listed without the position: {answers:?}");
    assert!(
        answers.iter().any(|(_, status)| status == "available"),
        "without the position, the replica's stale listing is served somewhere: {answers:?}"
    );
}
