//! # medislot-sqlite
//!
//! MediSlot's embedded store: [`SqliteStore`] keeps doctors, slots, bookings and accounts in one
//! SQLite file, so a clinic running the server on one machine, with no database server, keeps
//! every booking across restarts. It implements [`SlotStore`](medislot_core::SlotStore) and
//! [`AccountStore`](medislot_core::AccountStore) on sqlx's SQLite driver with SQLite compiled in
//! (nothing to install), and passes the core's conformance kit.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{Duration, Utc};
//! use medislot_core::{BookingEngine, BookingStatus, Error, NewDoctor, PatientId, TimeRange};
//! use medislot_sqlite::SqliteStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("clinic.db");
//! let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await?;
//! store.migrate().await?;
//!
//! let engine = BookingEngine::new(Arc::new(store.clone()));
//! let doctor = engine
//!     .create_doctor(NewDoctor::new("Dr Ada Lovelace", "Cardiology", "Europe/London")?)
//!     .await?;
//! let start = Utc::now() + Duration::days(1);
//! let slots = engine
//!     .publish_slots(doctor.id, &[TimeRange::new(start, start + Duration::minutes(30))?])
//!     .await?;
//! let booking = engine.book(slots[0].id, PatientId::new(), None).await?;
//! assert_eq!(booking.status(), BookingStatus::Confirmed);
//! store.close().await;
//!
//! // Opened again, the file still has the booking, and the slot is still taken.
//! let store = SqliteStore::connect(path.to_str().unwrap()).await?;
//! store.migrate().await?; // harmless on a migrated file
//! let engine = BookingEngine::new(Arc::new(store));
//! assert_eq!(engine.booking(booking.id).await?.booking, booking);
//! let second = engine.book(slots[0].id, PatientId::new(), None).await;
//! assert!(matches!(second, Err(Error::SlotUnavailable(_))));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```
//!
//! ## Concurrency
//! - Every mutation is one call to [`SlotStore::mutate`](medislot_core::SlotStore::mutate): one
//!   transaction begun with `BEGIN IMMEDIATE`, which takes SQLite's write lock (the whole
//!   database, so every lock the core's [`Claim`](medislot_core::Claim) names) before its first
//!   read. It reads what the claim asks for, hands the reads to the core's decision, writes the
//!   [`Changes`](medislot_core::Changes) it returns and commits. Any error rolls back. The
//!   booking rules and the steps of each mutation live in the core; this crate only reads and
//!   writes rows.
//! - Within one store, mutations queue for its single writer connection (up to
//!   [`WRITE_QUEUE_TIMEOUT`]); across stores or processes sharing the file, they wait in
//!   SQLite's busy handler (up to [`BUSY_TIMEOUT`]). Running out of either is
//!   [`StoreError::Busy`](medislot_core::StoreError::Busy), never a raw "database is locked".
//! - Reads run on separate `query_only` connections; in WAL mode they see the last commit and
//!   never wait for a writer.
//!
//! ## Durability
//! The journal is WAL with `synchronous = FULL`: a commit returns only after the WAL is synced
//! to disk. `NORMAL` would also survive the process being killed (the WAL is in the OS's page
//! cache), but a power cut or kernel crash could lose the last commits, each of them a booking
//! a patient was already told they have. One fsync per mutation is the price; one writer at a
//! time is SQLite's model anyway.
//!
//! ## File format
//! - Schema: `migrations/` of this crate, embedded and applied by [`SqliteStore::migrate`]
//!   (tracked in sqlx's `_sqlx_migrations` table). All tables are `STRICT`.
//! - Instants: `INTEGER` microseconds since 1970-01-01T00:00:00Z (UTC), so ordering and range
//!   comparisons are integer comparisons; finer precision is truncated on write.
//! - Ids: UUIDs as 16-byte big-endian `BLOB`s (`hex(id)` in the `sqlite3` shell); UUID v7 ids
//!   sort by creation time, which orders booking listings newest first.
//! - Statuses, roles and cancellers: the core's stored spellings (`CONFIRMED`, `admin`, ...).
//! - Doctors and slots are never deleted: a deleted doctor has `deleted_at`, a withdrawn slot
//!   `withdrawn_at`; foreign keys `RESTRICT` deletes so that no booking loses its history.
//!
//! ## Rules the schema backs
//! - `bookings_one_active_per_slot`: a partial unique index, at most one booking per slot in
//!   `PENDING`, `CONFIRMED` or `BUFFER`. Whether it still occupies the slot at an instant is read
//!   from `hold_until` / `buffer_until`, in SQL for listings, so an expired hold or buffer counts
//!   as free whether or not [`release_expired`](medislot_core::BookingEngine::release_expired)
//!   ran. A booking this index refuses is answered
//!   [`SlotUnavailable`](medislot_core::Error::SlotUnavailable).
//! - `bookings_state_fields` and other `CHECK`s: the columns each status needs, as
//!   [`BookingState::to_parts`](medislot_core::BookingState::to_parts) writes them; a slot ends
//!   after it starts.
//! - Unique `(patient_id, idempotency_key)` and unique account email.
//! - Slot overlap: SQLite has no exclusion constraint. The core checks it against the doctor's
//!   slots read inside the publish transaction, and a `BEFORE INSERT` trigger
//!   (`slots_no_overlap_on_insert`) refuses an overlapping live slot from any other writer,
//!   answered [`SlotOverlap`](medislot_core::Error::SlotOverlap) naming the refused slot.
//!
//! SQLite reports no constraint names, so errors are classified by the extended result code
//! sqlx returns (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY`, ...), never by message text; which
//! constraint fired follows from the statement that ran.

mod accounts;
mod error;
mod hours;
mod journal;
mod rows;
mod slot_store;
mod store;
mod unit_of_work;
mod waitlist;

pub use store::{SqliteStore, BUSY_TIMEOUT, WRITE_QUEUE_TIMEOUT};
