//! Opens the store named by a URL: `memory:` keeps everything in this process (data is not
//! kept); database URLs come with the store crates.

use std::sync::Arc;

use medislot_core::{AccountStore, MemoryStore, SlotStore};

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
        let store = Arc::new(MemoryStore::new());
        Self {
            slots: store.clone(),
            accounts: store,
            description: "in memory (data is not kept when the server stops)".to_owned(),
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no store this build knows.
    #[error("unsupported store URL {0:?}: use `memory:`")]
    Unsupported(String),
}

/// Opens the store `url` names and applies its migrations.
///
/// # Errors
/// [`OpenError`] when the URL is not understood or the store cannot be reached.
pub async fn open(url: &str) -> Result<Stores, OpenError> {
    let url = url.trim();
    if url == MEMORY_URL || url == "memory" {
        return Ok(Stores::memory());
    }
    Err(OpenError::Unsupported(redact(url)))
}

/// The URL with any password replaced, for logs and messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://medislot.db"), "sqlite://medislot.db");
    }
}
