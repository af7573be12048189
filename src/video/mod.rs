//! Video files through the `ffmpeg` program: what a file is ([`probe`]), its frames
//! ([`VideoFrames`], and the app's looping source built on the same decoder), and
//! frames back into a file ([`VideoEncoder`]). ffmpeg reads and writes every common
//! container and codec (MP4/H.264, MKV, WebM, AVI) and costs nothing at build time;
//! Rust decoders either handle one codec without a demuxer (openh264) or need libav's
//! headers to build (ffmpeg-next). It runs as a child process on a leash (`ffmpeg.rs`).
//! Without the `app` feature too: `tinyssd detect` reads videos in every build.

mod decode;
mod encode;
mod ffmpeg;
mod probe;

pub use decode::VideoFrames;
#[cfg(feature = "app")]
pub(crate) use decode::{Decoder, decoding_failure};
pub use encode::{VideoCodec, VideoEncoder};
pub use probe::{
    DEFAULT_RATE, FrameRate, MAX_VIDEO_SIDE, VideoInfo, decoded_size, parse_probe, probe,
};
use std::path::{Path, PathBuf};

/// A video that cannot be read or written, and why, in words for the user.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct VideoError {
    pub path: PathBuf,
    pub message: String,
}

/// Whether a path names a video, the one rule for the app's `--source PATH` and for
/// `tinyssd detect`: an existing file (not a folder) whose name does not say PNG or
/// JPEG. ffmpeg then tells whether it is one.
pub fn is_video_file(path: &Path) -> bool {
    path.exists() && !path.is_dir() && !crate::detect::has_image_extension(path)
}
