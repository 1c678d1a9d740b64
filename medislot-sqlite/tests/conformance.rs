//! The core's conformance kit, every check on its own fresh SQLite file.

mod common;

use common::fresh_store;

medislot_core::slot_store_conformance!(fresh_store);
