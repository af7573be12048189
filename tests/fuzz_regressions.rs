//! The fuzz targets' inputs replayed in `cargo test`: the seed corpus
//! (`tests/fuzz/seeds/<target>/`) and every input that once found a bug
//! (`tests/fuzz/regressions/<target>/`), through the same code the libFuzzer targets
//! run (`tests/fuzz/harness.rs`). Fast and deterministic; the campaigns themselves are
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none --fuzz-dir tests/fuzz <target>` (README).

#[path = "fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Every committed input of `target`, seeds and regressions.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut found = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let bytes = std::fs::read(&path).expect("readable input");
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no committed inputs for {target}");
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| run(bytes));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
    inputs.len()
}

#[test]
fn weights_inputs_replay_cleanly() {
    replay("weights", harness::weights);
}

#[test]
fn image_inputs_replay_cleanly() {
    replay("image_decode", harness::image_decode);
}

#[test]
fn profile_inputs_replay_cleanly() {
    replay("profile", harness::profile);
}

#[test]
fn eval_data_inputs_replay_cleanly() {
    replay("eval_data", harness::eval_data);
}

#[test]
fn the_weights_seed_with_the_golden_header_loads() {
    // Mode 1 with the unchanged header rebuilds the golden file: the harness reaches
    // the deepest checks, and the model loads.
    let mut input = vec![1u8];
    input.extend_from_slice(harness::golden_header());
    let mut file = (harness::golden_header().len() as u64)
        .to_le_bytes()
        .to_vec();
    file.extend_from_slice(harness::golden_header());
    file.extend_from_slice(harness::golden_data());
    assert_eq!(file, harness::GOLDEN_WEIGHTS);
    assert!(tinyssd::model::Model::from_bytes(&file).is_ok());
    harness::weights(&input);
}

#[test]
fn a_header_claiming_terabytes_is_refused_before_parsing() {
    let mut file = (1u64 << 41).to_le_bytes().to_vec();
    file.extend_from_slice(b"{}");
    let error = tinyssd::model::Model::from_bytes(&file).expect_err("refused");
    assert!(
        error.to_string().contains("claims 2199023255552 bytes"),
        "{error}"
    );
}
