//! Fresh databases for tests (feature `test-db`): every call to [`fresh_store`] creates a new,
//! migrated database, so tests run in parallel and never see each other's rows, and drops it
//! when the store's last clone is dropped.
//!
//! Where the server comes from:
//! 1. `DATABASE_URL` when set (`postgres://user:password@host:port/database`); the role needs
//!    the right to `CREATE DATABASE`;
//! 2. otherwise a PostgreSQL container started through testcontainers, where Docker runs;
//! 3. otherwise the test fails with a message that says how to give it one.
//!
//! Databases are named `medislot_test_<unix seconds>_<random>`; ones that a crashed run left
//! behind are dropped by the first [`fresh_store`] of a later run once they are an hour old.
//!
//! These helpers panic on failure: they are for tests.

use std::str::FromStr as _;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Row as _};
use tokio::sync::OnceCell;

use crate::{PgStore, PgStoreOptions};

/// How old a leftover test database must be before a later run drops it.
const LEFTOVER_AGE_SECS: u64 = 3600;
const PREFIX: &str = "medislot_test_";

/// A new, empty, migrated database on the test server, with the default options.
///
/// # Panics
/// When no server is available (the message says how to provide one) or it refuses.
pub async fn fresh_store() -> PgStore {
    fresh_store_with(PgStoreOptions::default()).await
}

/// A new, empty, migrated database on the test server, with a pool set up by `options`.
///
/// # Panics
/// As [`fresh_store`].
pub async fn fresh_store_with(options: PgStoreOptions) -> PgStore {
    let admin = admin_options().await;
    sweep_leftovers_once(&admin).await;
    let name = format!(
        "{PREFIX}{}_{}",
        unix_seconds(),
        uuid::Uuid::now_v7().simple()
    );
    let mut conn = admin
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    // `name` is ours: a fixed prefix, digits and hex.
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = conn.close().await;
    let scratch = Arc::new(ScratchDatabase {
        admin: admin.clone(),
        name: name.clone(),
    });
    let mut store = options
        .connect_with(admin.database(&name))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {name}: {e}"));
    store.scratch = Some(scratch);
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate test database {name}: {e:?}"));
    store
}

/// Connection options for the test server's admin database (where databases are created).
///
/// # Panics
/// As [`fresh_store`].
pub async fn admin_options() -> PgConnectOptions {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => container_url().await,
    };
    PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("DATABASE_URL is not a PostgreSQL URL: {e}"))
}

/// The URL of a PostgreSQL container, started once per test process.
async fn container_url() -> String {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::AsyncRunner as _;
    use testcontainers_modules::testcontainers::ContainerAsync;

    static CONTAINER: OnceCell<(ContainerAsync<Postgres>, String)> = OnceCell::const_new();
    let (_, url) = CONTAINER
        .get_or_init(|| async {
            let container = Postgres::default().start().await.unwrap_or_else(|e| {
                panic!(
                    "the PostgreSQL tests need a server: set DATABASE_URL \
                     (for example postgres://postgres@127.0.0.1:5432/postgres, a role that may \
                     CREATE DATABASE), or run Docker so that testcontainers can start one \
                     (it failed: {e})"
                )
            });
            let host = container
                .get_host()
                .await
                .unwrap_or_else(|e| panic!("testcontainers: no host for PostgreSQL: {e}"));
            let port = container
                .get_host_port_ipv4(5432)
                .await
                .unwrap_or_else(|e| panic!("testcontainers: no port for PostgreSQL: {e}"));
            let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
            (container, url)
        })
        .await;
    url.clone()
}

/// Drops test databases that earlier, crashed runs left behind (once per process).
async fn sweep_leftovers_once(admin: &PgConnectOptions) {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let Ok(mut conn) = admin.connect().await else {
                return;
            };
            let names: Vec<String> =
                match sqlx::query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
                    .bind(PREFIX)
                    .fetch_all(&mut conn)
                    .await
                {
                    Ok(rows) => rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
                    Err(_) => return,
                };
            let now = unix_seconds();
            for name in names {
                let created = name
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|secs| secs.parse::<u64>().ok());
                if created.is_some_and(|secs| now.saturating_sub(secs) > LEFTOVER_AGE_SECS)
                    && is_ours(&name)
                {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(error) = conn.execute(sql.as_str()).await {
                        tracing::warn!(%error, name, "cannot drop a leftover test database");
                    }
                }
            }
            let _ = conn.close().await;
        })
        .await;
}

/// Whether a database name is one this module made (so it is safe to quote and drop).
fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A test database, dropped when the last store on it is dropped.
#[derive(Debug)]
pub(crate) struct ScratchDatabase {
    admin: PgConnectOptions,
    name: String,
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, where we cannot block on async work: drop the
        // database from a thread with its own small runtime, and wait for it.
        let admin = self.admin.clone();
        let name = std::mem::take(&mut self.name);
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::warn!(%error, name, "cannot drop the test database");
                    return;
                }
            };
            runtime.block_on(async {
                let result = async {
                    let mut conn = admin.connect().await?;
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    conn.execute(sql.as_str()).await?;
                    conn.close().await
                }
                .await;
                if let Err(error) = result {
                    tracing::warn!(%error, name, "cannot drop the test database");
                }
            });
        });
        let _ = dropper.join();
    }
}
