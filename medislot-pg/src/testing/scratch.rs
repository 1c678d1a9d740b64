//! Test databases: each made fresh and migrated, dropped with the last store on it; ones a
//! crashed run left behind are dropped by a later run once they are an hour old.

use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, Row as _};

use crate::{PgStore, PgStoreOptions};

/// How old a leftover test database must be before a later run drops it.
const LEFTOVER_AGE_SECS: u64 = 3600;
const PREFIX: &str = "medislot_test_";

/// A new, empty, migrated database on the server `admin` reaches, named
/// `medislot_test_<unix seconds>_<random>`.
pub(super) async fn fresh_store(admin: &PgConnectOptions, options: PgStoreOptions) -> PgStore {
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
        .connect_with(admin.clone().database(&name))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test database {name}: {e}"));
    store.scratch = Some(scratch);
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate test database {name}: {e:?}"));
    store
}

/// Drops test databases that earlier, crashed runs left behind.
pub(super) async fn drop_leftovers(admin: &PgConnectOptions) {
    let Ok(mut conn) = admin.connect().await else {
        return;
    };
    // Simple protocol, nothing prepared: the admin connection may go through a pooler.
    // `PREFIX` is ours: lowercase letters and `_`.
    let sql = format!("SELECT datname FROM pg_database WHERE starts_with(datname, '{PREFIX}')");
    let names: Vec<String> = match sqlx::raw_sql(&sql).fetch_all(&mut conn).await {
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
