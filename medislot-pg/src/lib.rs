//! # medislot-pg
//!
//! MediSlot's PostgreSQL store: [`PgStore`] implements [`medislot_core::SlotStore`] and
//! [`medislot_core::AccountStore`] on an sqlx [`PgPool`](sqlx::PgPool), so doctors, slots,
//! bookings and accounts live in one database. The booking rules stay in `medislot-core`; this
//! crate supplies atomicity, and a schema that refuses a double booking even if Rust had a bug.
//!
//! ```no_run
//! use std::sync::Arc;
//! use chrono::{Duration, Utc};
//! use medislot_core::{BookingEngine, NewDoctor, PatientId, TimeRange};
//! use medislot_pg::PgStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/medislot").await?;
//! store.migrate().await?; // idempotent
//! let engine = BookingEngine::new(Arc::new(store));
//! let doctor = engine
//!     .create_doctor(NewDoctor::new("Dr Ada Lovelace", "Cardiology", "Europe/London")?)
//!     .await?;
//! let start = Utc::now() + Duration::days(1);
//! let slots = engine
//!     .publish_slots(doctor.id, &[TimeRange::new(start, start + Duration::minutes(30))?])
//!     .await?;
//! engine.book(slots[0].id, PatientId::new(), None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## How a mutation runs
//! Every mutation arrives as one [`SlotStore::mutate`](medislot_core::SlotStore::mutate) call
//! and is one transaction: lock the rows the core's claim names (`SELECT ... FOR UPDATE`:
//! doctor, then slot, then the booking's slot and the booking, always in that order), read what
//! it asks for, hand the reads to the core's decision, write the changes it returns, commit. A
//! refusal rolls back. This crate never calls a rule itself: it supplies atomicity, and a
//! schema that refuses a double booking even if Rust had a bug. A deadlock (`40P01`) or
//! serialization failure (`40001`) runs the transaction again, up to
//! [`PgStoreOptions::max_retries`] times, then fails as
//! [`StoreError::Busy`](medislot_core::StoreError::Busy); a lock wait longer than
//! `lock_timeout` (`55P03`) is `Busy` at once. A lost connection is tried again on another
//! while nothing was committed, else reported as
//! [`StoreError::Unavailable`](medislot_core::StoreError::Unavailable). A connection lost
//! after `COMMIT` was sent is settled by asking the database what became of the transaction
//! (`txid_status` of the id its first script read): committed, the mutation succeeds; rolled
//! back, it runs again; no answer within [`PgStoreOptions::outcome_patience`] is
//! [`StoreError::OutcomeUnknown`](medislot_core::StoreError::OutcomeUnknown). See `outcome.rs`.
//!
//! Round trips are what a booking costs, so a mutation is sent as two scripts over PostgreSQL's
//! simple-query protocol, each one round trip: `BEGIN`, the locks and the reads; then the
//! writes and `COMMIT` (or `ROLLBACK` when the core refused). Each statement of a script takes
//! its own snapshot, so the reads that follow the lock see every commit made before it was
//! granted. Values travel as literals that cannot leave their quotes (text is sent
//! hex-encoded); see `script.rs`. The statements every booking and booking event runs are
//! prepared once per connection (`PREPARE medislot_*`) and run with `EXECUTE`, so the hot path
//! skips parsing and planning too. See `unit_of_work.rs` and `prepared.rs`.
//!
//! ## Behind a transaction pooler
//! Behind PgBouncer in transaction mode set [`PgStoreOptions::pooler`] to
//! [`Pooler::Transaction`] (or add `?pooler=transaction` to the URL): then nothing is named or
//! prepared, since nothing may outlive a transaction there. The booking statements are sent
//! inline, still in two round trips; reads travel as one simple-protocol statement with
//! literal values instead of sqlx's prepared statements; the timeouts are set in each
//! transaction; migrations run in one transaction. See `query.rs`.
//!
//! ## A read replica
//! [`PgStore::with_replica`] sends the reads that tolerate lag (`list_slots`,
//! `count_free_slots`, `list_doctors`) to a streaming replica, once it has replayed this
//! store's latest write: after each committed mutation the primary's WAL insert position
//! comes back in the same script as the `COMMIT` (no extra round trip), and a read goes to the
//! replica only when `pg_last_wal_replay_lsn()` there has reached it (checked with one round
//! trip to the replica when the last position seen there is not enough), else to the primary.
//! Every lock and decision, every booking read or list, accounts, the journal, the outbox and
//! the waitlist stay on the primary. A replica that fails a read leaves it to the primary and
//! is left alone for a second. [`PgStore::replica_status`] says where those reads go now.
//!
//! That guarantee is per store. Across stores (several server processes), a caller carries
//! its own: [`consistency::scope`] runs a request with the [`WalPosition`] the caller's last
//! write answered with (reads then wait for the replica to replay that too, else go to the
//! primary), and answers with the position the request's own writes reached.
//!
//! ## Lost connections
//! A connection the database closed is found when next used; a read, or a transaction whose
//! `COMMIT` was not sent yet, then runs again on another connection (as many times as the
//! pool has connections, and once more), so a restart or `pg_terminate_backend` is not seen
//! by callers once the database answers. A connection lost after `COMMIT` was sent is
//! [`StoreError::Unavailable`](medislot_core::StoreError::Unavailable): it may have committed.
//!
//! | mutation (its claim) | round trips | statements |
//! |---|---|---|
//! | book, hold (a slot, a replay key) | 2 | `BEGIN`; lock slot; replay candidate; occupant — then tidy (if decided); insert; `COMMIT` |
//! | confirm, cancel (a booking) | 2 | `BEGIN`; lock its slot; lock + read booking — then update; `COMMIT` |
//! | publish slots (a doctor, a time range) | 2 | `BEGIN`; lock doctor; its live slots in the range — then one `INSERT ... unnest`; `COMMIT` |
//! | withdraw a slot (a slot) | 2 | `BEGIN`; lock slot; occupant — then update; `COMMIT` |
//! | delete a doctor (a doctor, occupants) | 2 | `BEGIN`; lock doctor; lock live slots; occupants — then two updates; `COMMIT` |
//! | create a doctor (nothing) | 1 | `BEGIN`; insert; `COMMIT` |
//! | release expired (lapsed bookings) | 2 per 1,000 | `BEGIN`; read lapsed — then one update each; `COMMIT` |
//! | refusal of any of these | 2 | the first script, then `ROLLBACK` |
//! | `slot`, `booking`, `doctor`, `list_*`, accounts | 1 | one query (joins, no N+1) |
//!
//! On top of these, sqlx pings a connection when it returns to the pool (off the request's
//! path); a pool made by [`PgStoreOptions`] does not ping again before lending it. A
//! connection's first booking spends two more round trips preparing the booking statements.
//!
//! ## What the schema guarantees (`migrations/`)
//! - `bookings_one_active_per_slot`: at most one `PENDING`, `CONFIRMED` or `BUFFER` booking per
//!   slot (partial unique index);
//! - `slots_no_overlap`: a doctor's live slots never overlap (btree_gist exclusion constraint);
//! - checks: a slot ends after it starts; a booking's status is known and carries the times
//!   and canceller its status needs;
//! - foreign keys `ON DELETE RESTRICT`: doctors are soft-deleted and slots withdrawn, history is
//!   never removed;
//! - `accounts_email_unique`: one account per address, ignoring case.
//!
//! A violation maps to the matching [`medislot_core::Error`] by SQLSTATE and constraint name.
//!
//! ## Reads
//! Expired holds and ended buffers count as free in every read, by comparing with `now`;
//! `release_expired` only tidies stored statuses. Listings page by keyset (never `OFFSET`) on
//! indexes that fit them: live slots by `(starts_at, id)` and `(doctor_id, starts_at, id)`,
//! bookings by `(patient_id, id DESC)`, `(slot_id, id DESC)` and the primary key.
//!
//! ## Tests
//! The feature `test-db` adds the module `testing`: a fresh, migrated database per test, on
//! the server `DATABASE_URL` names, else the local server, else a throwaway cluster from the
//! PostgreSQL binaries installed on the machine, else a testcontainers PostgreSQL.
//! Checked with `EXPLAIN` on 100,000 slots: the slot listing (overall and per doctor) and the
//! patient's and admin's booking lists read their indexes and stop at the page's end.
//! Finding a time (the availability summary per day, and "next available") is checked the same
//! way by `catalog::tests`: each plan walks `slots_live_by_start` or `slots_live_by_doctor`
//! over the span asked for, never the whole slots table; the listings and "next available" walk
//! them index-only (the indexes carry every slot column a listing reads) and check each free
//! slot with one probe of `bookings_one_active_per_slot`.

mod accounts;
mod bookings;
mod catalog;
pub mod consistency;
mod error;
mod hours;
mod journal;
mod options;
mod outcome;
mod prepared;
mod query;
mod replica;
mod rows;
mod script;
mod store;
#[cfg(feature = "test-db")]
pub mod testing;
mod unit_of_work;
mod waitlist;

pub use consistency::WalPosition;
pub use options::{split_pooler, PgStoreOptions, Pooler, UnknownPooler, POOLER_PARAMETER};
pub use replica::ReplicaStatus;
pub use store::PgStore;
