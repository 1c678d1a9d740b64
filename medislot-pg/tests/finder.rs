//! The test-server finder itself (`medislot_pg::testing::TestServer::find`): with
//! `DATABASE_URL` unset it finds the local server; where nothing answers, it starts a throwaway
//! cluster from the installed binaries, the conformance kit passes on that cluster, and the
//! cluster is gone once dropped, or once its test process is killed.
//!
//! A machine without a running server or without the PostgreSQL binaries skips the test that
//! needs them with one line on standard error, unless `MEDISLOT_REQUIRE_POSTGRES=1` (CI sets
//! it), which makes a missing one a failure.
//!
//! The killed-process test runs this binary again as its child (the ignored
//! `child_starts_a_cluster_and_waits_to_be_killed`, told so by an environment variable), which
//! says where its cluster is on standard error and waits; the parent kills it with SIGKILL.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use medislot_core::{BookingEngine, NewDoctor};
use medislot_pg::testing::{ServerSettings, ServerSource, TestServer};
use medislot_pg::PgStore;
use tokio::sync::OnceCell;

/// `1` where PostgreSQL must be found (CI): a missing server or missing binaries fail the
/// tests instead of skipping them.
const REQUIRE_VAR: &str = "MEDISLOT_REQUIRE_POSTGRES";
/// Tells the child test that it runs as the killed-process test's child.
const CHILD_VAR: &str = "MEDISLOT_FINDER_CHILD";
/// How long a killed process's cluster may take to stop and clean up.
const CLEANUP_WAIT: Duration = Duration::from_secs(20);

/// Says on one line why the running test is skipped and what would run it; panics instead
/// when `MEDISLOT_REQUIRE_POSTGRES=1`.
fn skip(missing: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
        "{test}: {missing}, and {REQUIRE_VAR}=1 requires it"
    );
    // Straight to stderr, past the harness's capture, so that the line shows in a passing run.
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped {test}: {missing} ({REQUIRE_VAR}=1 makes this a failure)"
    );
}

/// This machine's settings, without `DATABASE_URL` and without containers: the finder must
/// find the local server or start a cluster by itself.
fn machine() -> ServerSettings {
    ServerSettings {
        database_url: None,
        containers: false,
        ..ServerSettings::from_env()
    }
}

/// A machine where nothing answers where the local server would be: `PGHOST` and `PGPORT`
/// name a loopback port where nothing listens.
fn machine_without_a_local_server() -> ServerSettings {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // The listener is closed again: nothing listens on `port` now.
    ServerSettings {
        pghost: Some("127.0.0.1".to_owned()),
        pgport: Some(port.to_string()),
        ..machine()
    }
}

/// Whether a server listens where libpq looks by default (or where `PGPORT` says).
fn local_server_listens(settings: &ServerSettings) -> bool {
    let port = settings
        .pgport
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let socket = format!(".s.PGSQL.{port}");
    ["/var/run/postgresql", "/tmp"]
        .iter()
        .any(|folder| Path::new(folder).join(&socket).exists())
        || TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Duration::from_secs(2),
        )
        .is_ok()
}

/// A short round trip: the store answers and its schema is there.
async fn store_works(store: &PgStore) {
    let engine = BookingEngine::new(std::sync::Arc::new(store.clone()));
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Finder", "GP", "UTC").expect("doctor fields"))
        .await
        .expect("create a doctor");
    assert_eq!(
        engine.doctor(doctor.id).await.expect("read it back").id,
        doctor.id
    );
}

/// The cluster's postmaster pid, from the first line of `data/postmaster.pid`.
fn postmaster_pid(folder: &Path) -> u32 {
    let pid_file = std::fs::read_to_string(folder.join("data").join("postmaster.pid"))
        .expect("the running cluster's postmaster.pid");
    pid_file
        .lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .expect("a pid on postmaster.pid's first line")
}

/// Whether `pid` has exited (a zombie not yet reaped counts: it no longer runs).
fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[tokio::test]
async fn with_database_url_unset_the_local_server_is_found() {
    let settings = machine();
    if !local_server_listens(&settings) {
        skip("no PostgreSQL server runs on this machine (start one, e.g. `apt-get install postgresql`)");
        return;
    }
    let server = TestServer::find(&settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(server.source(), ServerSource::Local { .. }),
        "expected the local server, found {}",
        server.source()
    );
    store_works(&server.fresh_store().await).await;
}

#[tokio::test]
async fn with_no_local_server_a_throwaway_cluster_is_started_and_gone_once_dropped() {
    let settings = machine_without_a_local_server();
    if settings.postgres_binaries().is_none() {
        skip("the PostgreSQL binaries (initdb, pg_ctl, postgres) are not installed");
        return;
    }
    let server = TestServer::find(&settings)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ServerSource::Cluster { folder, .. } = server.source().clone() else {
        panic!("expected a throwaway cluster, found {}", server.source());
    };
    assert!(
        folder.join(".s.PGSQL.5432").exists(),
        "no socket in {}",
        folder.display()
    );
    let pid = postmaster_pid(&folder);
    let store = server.fresh_store().await;
    store_works(&store).await;
    drop(store);

    drop(server);
    assert!(!folder.exists(), "{} is still there", folder.display());
    assert!(has_exited(pid), "the cluster's postmaster {pid} still runs");
}

#[test]
fn a_killed_test_process_leaves_no_cluster_behind() {
    if machine().postgres_binaries().is_none() {
        skip("the PostgreSQL binaries (initdb, pg_ctl, postgres) are not installed");
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--ignored",
            "--exact",
            "child_starts_a_cluster_and_waits_to_be_killed",
            "--nocapture",
        ])
        .env(CHILD_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run this test binary as the child");
    let stderr = BufReader::new(child.stderr.take().expect("the child's stderr"));
    let line = stderr
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("cluster ").map(str::to_owned));
    let Some(line) = line else {
        let _ = child.kill();
        panic!(
            "the child ended before it started a cluster: {:?}",
            child.wait()
        );
    };
    let (pid, folder) = line.split_once(' ').expect("`cluster <pid> <folder>`");
    let (pid, folder): (u32, PathBuf) = (pid.parse().expect("a pid"), PathBuf::from(folder));
    assert!(
        !has_exited(pid) && folder.exists(),
        "the child's cluster is not running"
    );

    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");

    let deadline = Instant::now() + CLEANUP_WAIT;
    while folder.exists() || !has_exited(pid) {
        assert!(
            Instant::now() < deadline,
            "{CLEANUP_WAIT:?} after its process was killed, the cluster in {} still {}",
            folder.display(),
            if has_exited(pid) {
                "has its folder"
            } else {
                "runs"
            },
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run by [`a_killed_test_process_leaves_no_cluster_behind`] only.
#[tokio::test]
#[ignore = "the child of a_killed_test_process_leaves_no_cluster_behind"]
async fn child_starts_a_cluster_and_waits_to_be_killed() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let server = TestServer::find(&machine_without_a_local_server())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ServerSource::Cluster { folder, .. } = server.source() else {
        panic!("expected a throwaway cluster, found {}", server.source());
    };
    eprintln!("cluster {} {}", postmaster_pid(folder), folder.display());
    std::future::pending::<()>().await;
}

/// The conformance kit, every check on its own fresh database of one throwaway cluster,
/// started as on a machine where no local server answers.
mod on_a_throwaway_cluster {
    use super::*;

    async fn cluster() -> &'static TestServer {
        static CLUSTER: OnceCell<TestServer> = OnceCell::const_new();
        CLUSTER
            .get_or_init(|| async {
                let settings = machine_without_a_local_server();
                if settings.postgres_binaries().is_none() {
                    skip("the PostgreSQL binaries are not installed: the kit runs on the tests' usual server instead");
                    return TestServer::find(&ServerSettings::from_env())
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                let server = TestServer::find(&settings)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    matches!(server.source(), ServerSource::Cluster { .. }),
                    "expected a throwaway cluster, found {}",
                    server.source()
                );
                server
            })
            .await
    }

    async fn fresh_store() -> PgStore {
        cluster().await.fresh_store().await
    }

    medislot_core::slot_store_conformance!(fresh_store);
}
