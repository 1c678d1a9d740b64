//! Replays every committed fuzz input as an ordinary test, so that CI keeps the corpora and every
//! crash found as regression tests without libFuzzer or a nightly toolchain:
//! `cargo test --manifest-path fuzz/Cargo.toml`.
//!
//! For each target, every file under `corpus/<target>/` and `regressions/<target>/` is run
//! through the same function the fuzz target calls. A regression whose name starts with `open-`
//! records a bug found but not fixed yet: it must still fail (see [`OPEN`]).

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

/// A regression input for a bug that is found but not fixed yet: its file name starts with this.
/// It must still fail; once it passes, the fix is in and the prefix must go, so that from then
/// on it guards the fix like every other regression.
const OPEN: &str = "open-";

fn fails(target: fn(&[u8]), path: &Path) -> bool {
    let data = fs::read(path).expect("a readable input");
    catch_unwind(AssertUnwindSafe(|| target(&data))).is_err()
}

fn is_open(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(OPEN))
}

/// Runs `target` on every corpus and regression input of `name`; fails naming every input that
/// panics, and every `open-` regression that no longer does. The corpus must not be empty: a
/// missing corpus would make this test pass vacuously.
fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = inputs(&root.join("corpus").join(name));
    assert!(!corpus.is_empty(), "no corpus committed for {name}");
    let regressions = inputs(&root.join("regressions").join(name));
    let (open, fixed): (Vec<&PathBuf>, Vec<&PathBuf>) =
        regressions.iter().partition(|path| is_open(path));
    let failed: Vec<String> = corpus
        .iter()
        .chain(fixed)
        .filter(|path| fails(target, path))
        .map(|path| path.display().to_string())
        .collect();
    let now_passing: Vec<String> = open
        .into_iter()
        .filter(|path| !fails(target, path))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {name} inputs fail: {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
    assert!(
        now_passing.is_empty(),
        "these open {name} bugs pass now: drop the {OPEN:?} prefix from their names so they \
         guard the fix: {now_passing:#?}"
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

#[test]
fn api_input_corpus_and_regressions_pass() {
    replay("api_input", medislot_fuzz::api_input::run);
}
