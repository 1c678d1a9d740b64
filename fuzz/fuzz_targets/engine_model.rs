//! libFuzzer entry point for `medislot_fuzz::engine_model`. The typed input decodes exactly as
//! `engine_model::run` decodes bytes, so the replay test sees what the fuzzer saw, and
//! `cargo fuzz fmt` can print an input.
#![no_main]

use medislot_fuzz::engine_model::{check, Input};

libfuzzer_sys::fuzz_target!(|input: Input| check(&input));
