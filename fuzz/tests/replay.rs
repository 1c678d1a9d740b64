//! Replays every committed fuzz input as an ordinary test, so that CI keeps the corpora and every
//! crash found as regression tests without libFuzzer or a nightly toolchain:
//! `cargo test --manifest-path fuzz/Cargo.toml`.
//!
//! For each target, every file under `corpus/<target>/` and `regressions/<target>/` is run
//! through the same function the fuzz target calls.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The files in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on every corpus and regression input of `name`; fails naming every input that
/// panics. The corpus must not be empty: a missing corpus would make this test pass vacuously.
fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = inputs(&root.join("corpus").join(name));
    assert!(!corpus.is_empty(), "no corpus committed for {name}");
    let regressions = inputs(&root.join("regressions").join(name));
    let failed: Vec<String> = corpus
        .iter()
        .chain(&regressions)
        .filter(|path| {
            let data = fs::read(path).expect("a readable input");
            catch_unwind(AssertUnwindSafe(|| target(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {name} inputs fail: {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
}

#[test]
fn state_machine_corpus_and_regressions_pass() {
    replay("state_machine", medislot_fuzz::state_machine::run);
}

#[test]
fn engine_model_corpus_and_regressions_pass() {
    replay("engine_model", medislot_fuzz::engine_model::run);
}
