//! The conformance kit again, with the hot statements sent inline instead of prepared (as
//! behind PgBouncer in transaction pooling, where `PREPARE` does not outlive a transaction).

use medislot_pg::testing::fresh_store_with;
use medislot_pg::{PgStore, PgStoreOptions};

async fn inline_store() -> PgStore {
    fresh_store_with(PgStoreOptions::new().prepared_statements(false)).await
}

medislot_core::slot_store_conformance!(inline_store);
