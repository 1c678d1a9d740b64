//! The in-memory store passes the conformance kit every store must pass.

use medislot_core::MemoryStore;

async fn fresh_store() -> MemoryStore {
    MemoryStore::new()
}

medislot_core::slot_store_conformance!(fresh_store);
