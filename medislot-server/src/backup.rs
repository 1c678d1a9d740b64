//! `backup`: a consistent copy of the SQLite store, taken while the server runs.
//!
//! PostgreSQL has its own tools for this (`pg_dump`, or `pg_basebackup` for the whole cluster),
//! and the in-memory store keeps nothing to copy, so both are refused with the way to go.

use std::path::Path;

use medislot_sqlite::SqliteStore;

use crate::config::{Backup, Settings};
use crate::serve::StartError;
use crate::stores::redact;

/// Copies the configured SQLite store to `args.to`, which must not exist yet.
///
/// # Errors
/// When the store is not SQLite, its file does not exist, the destination exists, or the copy
/// cannot be written.
pub async fn back_up(settings: &Settings, args: &Backup) -> Result<(), StartError> {
    let url = settings.store_url();
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(format!(
            "backup copies a SQLite store; for PostgreSQL use pg_dump: pg_dump --format=custom --file=medislot.dump '{}'",
            redact(url)
        )
        .into());
    }
    if !url.starts_with("sqlite:") {
        return Err(format!(
            "backup copies a SQLite store; {} keeps nothing to copy",
            redact(url)
        )
        .into());
    }
    let store = open_existing(url).await?;
    let result = store.back_up_to(&args.to).await;
    store.close().await;
    result?;
    println!(
        "backed up {} to {}",
        store.path().display(),
        args.to.display()
    );
    Ok(())
}

/// Opens the store at `url` only when its file exists: a backup of a mistyped path must not
/// create an empty database and copy that.
async fn open_existing(url: &str) -> Result<SqliteStore, StartError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    if !Path::new(path).exists() {
        return Err(format!("no SQLite store at {path}: nothing to back up").into());
    }
    Ok(SqliteStore::connect(url).await?)
}
