//! Fresh databases for tests (feature `test-db`): every call to [`fresh_store`] creates a new,
//! migrated database, so tests run in parallel and never see each other's rows, and drops it
//! when the store's last clone is dropped.
//!
//! The server is found once per test process, the first time a test asks, in this order
//! ([`TestServer::find`]):
//! 1. `DATABASE_URL` when set (`postgres://user:password@host:port/database`), used as it is;
//!    the role needs the right to `CREATE DATABASE`;
//! 2. the local server, found as libpq finds it: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//!    `PGDATABASE`, or their defaults (the Unix socket in `/var/run/postgresql` or `/tmp`,
//!    then TCP on 127.0.0.1; port 5432; the login user, then `postgres`), when it answers
//!    and the role may create databases;
//! 3. a throwaway cluster started from the PostgreSQL binaries installed on the machine
//!    (`initdb`, `pg_ctl` and `postgres` on `PATH`, or under `/usr/lib/postgresql/*/bin`),
//!    in a temporary folder, on a Unix socket only; it is stopped and its folder removed
//!    when the test process ends, however it ends;
//! 4. a PostgreSQL container started through testcontainers, where Docker runs;
//! 5. otherwise every test fails with a message that lists what was tried and says what to
//!    install or set.
//!
//! [`replica`] adds a real streaming replica for the read replica's tests.
//!
//! These helpers panic on failure: they are for tests.

mod cluster;
mod finder;
pub mod replica;
mod scratch;

use sqlx::postgres::PgConnectOptions;
use tokio::sync::OnceCell;

pub use finder::{NoServer, ServerSettings, ServerSource, TestServer};
pub(crate) use scratch::ScratchDatabase;

use crate::{PgStore, PgStoreOptions};

/// The test process's server: found the first time a test asks, from this process's
/// environment, and kept until the process ends.
///
/// # Panics
/// When no server can be found or started (the message says what was tried and what to
/// install or set); every later call panics with the same message.
pub async fn test_server() -> &'static TestServer {
    static SERVER: OnceCell<Result<TestServer, String>> = OnceCell::const_new();
    let found = SERVER
        .get_or_init(|| async {
            TestServer::find(&ServerSettings::from_env())
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    match found {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

/// A new, empty, migrated database on the test server, with the default options.
///
/// # Panics
/// As [`test_server`], or when the server refuses.
pub async fn fresh_store() -> PgStore {
    fresh_store_with(PgStoreOptions::default()).await
}

/// A new, empty, migrated database on the test server, with a pool set up by `options`.
///
/// # Panics
/// As [`fresh_store`].
pub async fn fresh_store_with(options: PgStoreOptions) -> PgStore {
    test_server().await.fresh_store_with(options).await
}

/// Connection options for the test server's admin database (where databases are created).
///
/// # Panics
/// As [`test_server`].
pub async fn admin_options() -> PgConnectOptions {
    test_server().await.admin_options().clone()
}
