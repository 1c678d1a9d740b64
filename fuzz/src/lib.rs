//! # medislot-fuzz
//!
//! The logic of MediSlot's fuzz targets, kept in a library so that two callers share it: the
//! libFuzzer binaries in `fuzz_targets/` (built by `cargo fuzz` with the `libfuzzer` feature) and
//! the ordinary test `tests/replay.rs`, which runs every committed corpus and regression input on
//! stable without the fuzzer.
//!
//! Each target is one module with one entry point, `run(&[u8])`, that turns the bytes into a
//! structured input with [`arbitrary`] and panics when a rule is broken:
//! - [`state_machine`]: event sequences through the pure transition function
//!   [`medislot_core::state::transition`], checked against a hand-written table of the rules;
//! - [`engine_model`]: operation sequences on a [`medislot_core::BookingEngine`] over a
//!   [`medislot_core::MemoryStore`] and a [`medislot_core::ManualClock`], checked against a plain
//!   reference model;
//! - [`api_input`]: arbitrary requests through the whole HTTP application of `medislot-server`,
//!   in process on an in-memory store: never a panic, never a 5xx.
//!
//! ```
//! // Any bytes are a valid input; too few simply make a short sequence.
//! medislot_fuzz::state_machine::run(b"\x01\x02\x03 some bytes");
//! medislot_fuzz::engine_model::run(b"\x01\x02\x03 some bytes");
//! ```

pub mod api_input;
pub mod engine_model;
mod rules;
pub mod state_machine;
mod time;
