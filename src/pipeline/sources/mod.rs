//! Where frames come from: the [`FrameSource`] trait and its errors
//! (`frame_source.rs`), the `--source` syntax and its opener (`spec.rs`), and one file
//! per source: images, video, the built-in demo, and `camera/` (its backends, format
//! choice and errors). This file only declares them and re-exports what the rest of
//! the crate uses; no file here imports from it.

mod camera;
mod demo;
mod frame_source;
mod images;
mod spec;
mod video;

pub use camera::{
    CameraEntry, CameraSelector, CameraSource, camera_error, explain_camera_failure, list_cameras,
};
pub use demo::DemoSource;
pub use frame_source::{
    FrameSource, SourceError, SourceOpener, interval_for_fps, is_exact_rgb, opener,
};
pub use images::{ImageCursor, ImageListSource, read_rgb};
pub use spec::{DEFAULT_IMAGE_FPS, SourceControl, SourceSpec};
pub use video::{Playback, VideoSource};
