//! Opens the store named by a URL:
//! - `memory:` keeps everything in this process (data is not kept);
//! - `sqlite://PATH` (or `sqlite:PATH`) keeps it in one SQLite file, created when missing;
//! - `postgres://...` (or `postgresql://...`) keeps it in PostgreSQL.
//!
//! Database stores have their migrations applied on opening.

use std::sync::Arc;

use medislot_core::{AccountStore, MemoryStore, SlotStore, StoreError};
use medislot_pg::{PgStore, PgStoreOptions};
use medislot_sqlite::SqliteStore;

/// The URL of the in-memory store.
pub const MEMORY_URL: &str = "memory:";

/// The two faces of one store: bookings and accounts live side by side.
#[derive(Clone)]
pub struct Stores {
    /// Doctors, slots and bookings.
    pub slots: Arc<dyn SlotStore>,
    /// Accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// Where the data lives, for the start-up message (never contains a password).
    pub description: String,
    /// The PostgreSQL store, when the data lives there: what readiness asks about its read
    /// replica.
    pub postgres: Option<PgStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// A fresh in-memory store.
    pub fn memory() -> Self {
        Self::from_store(
            Arc::new(MemoryStore::new()),
            "in memory (data is not kept when the server stops)",
        )
    }

    /// Both faces of a store that implements both traits.
    pub fn from_store<S>(store: Arc<S>, description: impl Into<String>) -> Self
    where
        S: SlotStore + AccountStore + 'static,
    {
        Self {
            slots: store.clone(),
            accounts: store,
            description: description.into(),
            postgres: None,
        }
    }

    /// Both faces of a PostgreSQL store, which readiness also asks about its read replica.
    pub fn postgres(store: PgStore, description: impl Into<String>) -> Self {
        Self {
            postgres: Some(store.clone()),
            ..Self::from_store(Arc::new(store), description)
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no store this build knows.
    #[error("unsupported store URL {0:?}: use memory:, sqlite://PATH or postgres://...")]
    Unsupported(String),
    /// A read replica was given for a store that is not PostgreSQL.
    #[error("a read replica (--replica-url) needs a postgres:// store, not {0:?}")]
    ReplicaNeedsPostgres(String),
    /// The store could not be reached, created or migrated.
    #[error("cannot open the store at {url}")]
    Store {
        /// The URL, without its password.
        url: String,
        /// What failed.
        #[source]
        source: StoreError,
    },
}

/// Opens the store `url` names and applies its migrations.
///
/// # Errors
/// [`OpenError`] when the URL is not understood or the store cannot be reached or migrated.
pub async fn open(url: &str) -> Result<Stores, OpenError> {
    open_with_replica(url, None).await
}

/// Opens the store `url` names and applies its migrations; with `replica`, a streaming replica
/// of that PostgreSQL database serves the reads that tolerate lag (see
/// [`PgStore::with_replica`]). The replica is connected to when first used, so a replica that
/// is down does not stop the start-up: reads then go to the primary.
///
/// # Errors
/// [`OpenError`] when a URL is not understood, a replica is given for a store that is not
/// PostgreSQL, or the store cannot be reached or migrated.
pub async fn open_with_replica(url: &str, replica: Option<&str>) -> Result<Stores, OpenError> {
    let url = url.trim();
    let is_postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if replica.is_some() && !is_postgres {
        return Err(OpenError::ReplicaNeedsPostgres(redact(url)));
    }
    let failed = |source| OpenError::Store {
        url: redact(url),
        source,
    };
    if url == MEMORY_URL || url == "memory" {
        return Ok(Stores::memory());
    }
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await.map_err(failed)?;
        store.migrate().await.map_err(failed)?;
        let path = std::path::absolute(store.path()).unwrap_or_else(|_| store.path().to_owned());
        let description = format!("in the SQLite file {}", path.display());
        return Ok(Stores::from_store(Arc::new(store), description));
    }
    if is_postgres {
        let store = PgStore::connect(url).await.map_err(failed)?;
        store.migrate().await.map_err(failed)?;
        let description = format!("in PostgreSQL at {}", redact(url));
        let Some(replica) = replica else {
            return Ok(Stores::postgres(store, description));
        };
        let replica_store = PgStoreOptions::new()
            // A replica that does not answer costs a read this long before the primary serves
            // it (then it is left alone for a while).
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect_lazy(replica)
            .map_err(|source| OpenError::Store {
                url: redact(replica),
                source,
            })?;
        let description = format!(
            "{description}, lag-tolerant reads from the replica at {}",
            redact(replica)
        );
        return Ok(Stores::postgres(
            store.with_replica(replica_store),
            description,
        ));
    }
    Err(OpenError::Unsupported(redact(url)))
}

/// The URL with any password replaced, for logs and messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_url_opens_a_migrated_file_that_keeps_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let stores = open(&url).await.unwrap();
        assert!(stores.description.contains("m.db"));
        let missing = stores
            .accounts
            .account(medislot_core::AccountId::new())
            .await;
        assert!(matches!(missing, Ok(None)));
    }

    #[tokio::test]
    async fn unknown_urls_are_refused_without_their_password() {
        let err = open("mysql://u:pw@h/db").await.unwrap_err();
        assert!(!err.to_string().contains("pw"));
    }

    #[tokio::test]
    async fn a_replica_for_a_store_that_is_not_postgres_is_refused() {
        let err = open_with_replica("memory:", Some("postgres://u:pw@h/db"))
            .await
            .unwrap_err();
        assert!(matches!(err, OpenError::ReplicaNeedsPostgres(_)), "{err}");
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://medislot.db"), "sqlite://medislot.db");
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
