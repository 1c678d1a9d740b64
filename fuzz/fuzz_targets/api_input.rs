//! libFuzzer entry point for `medislot_fuzz::api_input`. The typed input decodes exactly as
//! `api_input::run` decodes bytes, so the replay test sees what the fuzzer saw, and
//! `cargo fuzz fmt` can print an input.
#![no_main]

use medislot_fuzz::api_input::{check, Input};

libfuzzer_sys::fuzz_target!(|input: Input| check(&input));
