//! Objects followed over frames: detections in, tracks with IDs, smoothed boxes and
//! scores out. Below the UI and beside [`crate::detect`], with no threads, so the app,
//! the command line and the tests all drive it the same way.

mod count;
mod json;
mod motion;
mod tracker;

pub use count::DistinctCounts;
pub use json::{FrameTracks, TrackJson};
pub use motion::BoxFilter;
pub use tracker::{Track, TrackSnapshot, TrackedBox, Tracker, TrackerConfig};
