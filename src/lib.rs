//! Tiny SSD object detection: the network as data ([`model`]), our inference
//! engine ([`engine`]) and the pre- and post-processing around it ([`detect`]);
//! evaluation on labelled data ([`eval`]); video files in and out ([`video`]); with the `app` feature (on by default), the
//! frame pipeline and the live window (`pipeline`, `ui`).
//!
//! Data flows one way: frame -> tensor -> raw outputs -> detections -> tracks -> overlay.
//!
//! No panics on data a user or a device controls: `unwrap` is linted everywhere
//! (Cargo.toml), `expect` in the library here, and indexing in the modules that
//! parse files, frames and arguments (each says so at its top). Internal invariants
//! that keep an `expect` or an index carry a local `#[allow]` saying why they hold.
#![cfg_attr(not(test), warn(clippy::expect_used))]

pub mod detect;
pub mod engine;
pub mod eval;
pub mod files;
pub mod model;
#[cfg(feature = "app")]
pub mod pipeline;
pub mod scene;
pub mod track;
#[cfg(feature = "app")]
pub mod ui;
pub mod video;

use std::path::PathBuf;

/// A file shipped in the repository (`models/`, `assets/`): under the current directory
/// when run from a checkout, else in the checkout this binary was built from.
pub fn bundled_path(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}
