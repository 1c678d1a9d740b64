//! libFuzzer entry point for `medislot_fuzz::state_machine`. The typed input decodes exactly as
//! `state_machine::run` decodes bytes, so the replay test sees what the fuzzer saw, and
//! `cargo fuzz fmt` can print an input.
#![no_main]

use medislot_fuzz::state_machine::{check, Input};

libfuzzer_sys::fuzz_target!(|input: Input| check(&input));
