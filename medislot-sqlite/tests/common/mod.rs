//! A store on a fresh file in its own temporary directory, removed when the store is dropped.

#![allow(dead_code, unreachable_pub)]

use medislot_core::{Keep, Layered};
use medislot_sqlite::SqliteStore;
use tempfile::TempDir;

/// A migrated [`SqliteStore`] that owns the directory its file lives in (it derefs to the
/// store, and is a store itself).
pub type TempStore = Layered<SqliteStore, Keep<TempDir>>;

/// A store on a new, migrated file.
pub async fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open(&dir).await;
    Layered::new(store, Keep(dir))
}

/// Another store (another pool, as another process would have) on the same file as `first`.
pub async fn second(first: &TempStore) -> SqliteStore {
    open(&first.layer().0).await
}

/// A migrated store on `dir/medislot.db`.
pub async fn open(dir: &TempDir) -> SqliteStore {
    let path = dir.path().join("medislot.db");
    let store = SqliteStore::connect(path.to_str().expect("UTF-8 path"))
        .await
        .expect("open store");
    store.migrate().await.expect("migrate");
    store
}

/// The factory the conformance kit runs each check on.
pub async fn fresh_store() -> TempStore {
    temp_store().await
}
