//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use safetensors::SafeTensors;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tinyssd::model::weights::decode_floats;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "app")]
pub mod ui_loop;

/// Random-weight model exported by `python -m training.golden`, relative to the
/// repository root (where [`tinyssd`] runs the binary).
pub const GOLDEN: &str = "tests/golden/weights.safetensors";

/// `tinyssd bench` at its quickest: the golden model, one thread, one run.
pub const QUICK_BENCH: [&str; 9] = [
    "bench",
    "--model",
    GOLDEN,
    "--threads",
    "1",
    "--runs",
    "1",
    "--warmup",
    "0",
];

/// [`GOLDEN`] as a full path.
pub fn golden_weights() -> PathBuf {
    repo_path(GOLDEN)
}

/// The detector on the golden model, one thread.
pub fn golden_detector() -> tinyssd::detect::Detector {
    tinyssd::detect::Detector::from_file(&golden_weights(), 1).expect("golden weights load")
}

/// Reference tensors from the PyTorch twin, by name, as f32 with their shapes.
pub struct Golden {
    bytes: Vec<u8>,
}

impl Golden {
    pub fn load() -> Golden {
        let bytes = std::fs::read(repo_path("tests/golden/tensors.safetensors"))
            .expect("tests/golden/tensors.safetensors is committed");
        Golden { bytes }
    }

    pub fn tensor(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let tensors = SafeTensors::deserialize(&self.bytes).expect("golden file is valid");
        let view = tensors
            .tensor(name)
            .unwrap_or_else(|_| panic!("golden tensor {name}"));
        let values = decode_floats(view.dtype(), view.data()).expect("golden tensors are f16/f32");
        (values, view.shape().to_vec())
    }
}

/// Largest absolute difference, relative to the reference's largest magnitude.
pub fn max_relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "tensor sizes differ");
    let scale = expected
        .iter()
        .fold(0.0_f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0.0_f32, |m, (a, e)| m.max((a - e).abs()));
    diff / scale
}

/// The 21 class names of Tiny SSD v1 (background first), from the architecture table.
pub fn class_names() -> Vec<String> {
    tinyssd::model::Architecture::tiny_ssd().class_names.clone()
}

/// Runs the real `tinyssd` binary from the repository root.
pub fn tinyssd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the run failed with exit code 2 and said `message` on stderr.
#[track_caller]
pub fn assert_fails_saying(out: &Output, message: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert_stderr_says(out, message);
}

/// Asserts the run said `message` on stderr.
#[track_caller]
pub fn assert_stderr_says(out: &Output, message: &str) {
    assert!(stderr(out).contains(message), "{}", stderr(out));
}

/// The visible file names in `dir`, and the hidden ones (temporaries), sorted.
pub fn listing(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().partition(|name| !name.starts_with('.'))
}
