//! # medislot-core
//!
//! The booking engine of MediSlot: doctors publish time slots, patients book them, and no slot is
//! ever booked twice, however many patients press "book" at the same instant.
//!
//! This crate holds the rules and nothing else: no SQL, no HTTP, no async runtime.
//! - [`BookingEngine`] is what applications call.
//! - [`SlotStore`] is the storage trait; [`MemoryStore`] implements it in memory, and the
//!   `medislot-pg` and `medislot-sqlite` crates implement it on databases.
//! - [`state`] is the booking state machine: pure functions, no I/O, no clock.
//! - Every mutation runs one way: the engine names what to lock ([`Claim`]), the store locks and
//!   reads ([`Locked`]), the core decides ([`Decision`]), and the store commits the [`Changes`]
//!   (see [`SlotStore::mutate`]). The steps live once, in the core; stores supply atomicity.
//! - [`text`] and [`instant`] say which text and which instants every store can hold; the
//!   engine's constructors and queries refuse anything else before it reaches a store.
//! - `testkit` (feature `testkit`) is the conformance kit every store must pass.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{Duration, Utc};
//! use medislot_core::{BookingEngine, BookingStatus, Error, MemoryStore, NewDoctor, PatientId, TimeRange};
//!
//! # futures::executor::block_on(async {
//! let engine = BookingEngine::new(Arc::new(MemoryStore::new()));
//! let doctor = engine
//!     .create_doctor(NewDoctor::new("Dr Ada Lovelace", "Cardiology", "Europe/London")?)
//!     .await?;
//! let start = Utc::now() + Duration::days(1);
//! let slots = engine
//!     .publish_slots(doctor.id, &[TimeRange::new(start, start + Duration::minutes(30))?])
//!     .await?;
//!
//! let booking = engine.book(slots[0].id, PatientId::new(), None).await?;
//! assert_eq!(booking.status(), BookingStatus::Confirmed);
//!
//! // The slot is taken: a second patient is refused.
//! let second = engine.book(slots[0].id, PatientId::new(), None).await;
//! assert!(matches!(second, Err(Error::SlotUnavailable(_))));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

mod account;
mod booking;
mod clock;
mod decisions;
mod doctor;
pub mod doctor_hours;
mod doctor_profile;
mod engine;
mod error;
mod finding;
mod generation;
mod ids;
pub mod instant;
pub mod journal;
mod layered;
mod memory;
pub mod outbox;
mod page;
pub mod password_reset;
pub mod reminder;
pub mod schedule;
mod session;
mod slot;
pub mod state;
mod store;
mod sync;
pub mod text;
mod unit_of_work;
pub mod waitlist;
mod window;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use account::{
    parse_time_zone, Account, AccountProfile, AccountStore, Email, PhoneNumber, Role,
};
pub use booking::{
    Booking, BookingCursor, BookingOrder, BookingQuery, BookingState, BookingStatus, BookingView,
    CancelledBy, Event, EventKind, IdempotencyKey, StateParts,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use doctor::{parse_timezone, Doctor, DoctorCursor, DoctorFilter, NewDoctor, MAX_NAME_CHARS};
pub use doctor_hours::{DoctorHours, HoursOutcome, DEFAULT_HORIZON_WEEKS, MAX_HORIZON_WEEKS};
pub use doctor_profile::{
    DoctorProfile, MAX_BIO_CHARS, MAX_LANGUAGES, MAX_LANGUAGE_CHARS, MAX_LOCATION_CHARS,
};
pub use engine::{
    BookingEngine, Created, Policy, DEFAULT_HORIZON, MAX_CHANGE_CUTOFF, MAX_HORIZON,
    MAX_MIN_NOTICE, MAX_REASON_CHARS, MAX_SLOTS_PER_PUBLISH,
};
pub use error::{BoxError, Error, Result, StoreError};
pub use finding::{
    day_ranges, Availability, DayAvailability, FreeCount, FreeSlotFilter, NextAvailable,
    MAX_SUMMARY_DAYS,
};
pub use generation::{Generated, MAX_GENERATION_DAYS, MAX_SLOTS_PER_GENERATION};
pub use ids::{AccountId, BookingId, DoctorId, EntryId, PatientId, SlotId, WaitlistEntryId};
pub use journal::{Actor, Audit, Context, EntryKind, JournalCursor, JournalEntry, JournalQuery};
pub use layered::{Call, Keep, Layer, Layered};
pub use memory::MemoryStore;
pub use outbox::{
    Channel, Delivery, MessageQuery, MessageState, OutboxMessage, Settle, Settlement,
};
pub use page::{Cursor, Page, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use password_reset::{PasswordReset, Redeemed, Redemption, ResetTokenHash, StoredReset};
pub use reminder::MAX_REMINDER_LEAD;
pub use session::{
    LoginBackoff, LoginThrottle, RevokedSession, SessionAccount, SessionCheck, SessionGeneration,
    SessionId, SessionRefusal,
};
pub use slot::{Slot, SlotCursor, SlotQuery, SlotStatus, SlotView, TimeRange};
pub use store::SlotStore;
pub use unit_of_work::{
    Changes, Claim, Decide, Decision, DoctorClaim, HoursChange, Locked, ProfileChange, StateChange,
    LAPSED_BATCH,
};
pub use waitlist::{
    EntryChange, EntryState, EntryStatus, NewEntry, TimeOfDay, WaitlistEntry, WaitlistQuery,
    WaitlistTarget, DEFAULT_WAITLIST_LIMIT,
};
pub use window::BookingWindow;
