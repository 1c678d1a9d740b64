//! The core's conformance kit, every check on its own fresh PostgreSQL database.

use medislot_pg::testing::fresh_store;

medislot_core::slot_store_conformance!(fresh_store);
