//! The [`FrameSource`] trait every source implements, what can go wrong reading one
//! ([`SourceError`]), and how a source gets onto the capture thread ([`SourceOpener`]).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crate::detect::ImageReadError;
use image::RgbImage;
use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong while opening or reading a source. None of these end the app
/// once it runs: the capture thread reports them and tries again.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "'{0}' is not a source, nor a file or folder of that name: use camera:0, camera:NAME, \
         images:DIR, image:FILE, video:FILE, demo, or the path of an image, a folder of images \
         or a video"
    )]
    BadSpec(String),
    #[error("no camera found")]
    NoCamera,
    #[error("no camera named '{name}' (cameras: {available})")]
    CameraNotFound { name: String, available: String },
    #[error("camera {camera}: {message}")]
    Camera { camera: String, message: String },
    /// A camera has not sent its next frame yet; the capture thread reads again
    /// (after looking whether it should stop). Not a failure.
    #[error("no frame yet")]
    NoFrameYet,
    #[error("{}: no PNG or JPEG images there", .0.display())]
    NoImages(PathBuf),
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Image {
        path: PathBuf,
        error: ImageReadError,
    },
    /// Every file failed and none has changed since: decoding them again would fail
    /// again (and a decompression bomb costs a lot to find out).
    #[error("{}", waiting_message(*.files, .last))]
    NothingDecodable { files: usize, last: String },
    #[error("{}: {message}", path.display())]
    Video { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

impl From<crate::video::VideoError> for SourceError {
    fn from(error: crate::video::VideoError) -> SourceError {
        SourceError::Video {
            path: error.path,
            message: error.message,
        }
    }
}

impl SourceError {
    /// Whether trying again can only help once a file changes, so the capture thread
    /// need not report each try.
    pub fn waits_for_a_change(&self) -> bool {
        matches!(self, SourceError::NothingDecodable { .. })
    }
}

fn waiting_message(files: usize, last: &str) -> String {
    if files == 1 {
        format!("{last}; it is read again once the file changes")
    } else {
        format!(
            "none of the {files} images can be shown ({last}); each is read again once it changes"
        )
    }
}

/// A stream of RGB frames. `next_frame` may block (a camera waits for its next frame);
/// sources that can produce frames at any time say how often they want to be read
/// with [`FrameSource::frame_interval`] and the capture thread paces them.
///
/// Not `Send`: some camera backends must stay on the thread that opened them, so a
/// source is created on the capture thread by a [`SourceOpener`].
pub trait FrameSource {
    /// A short name for the window ("demo", "camera 0").
    fn name(&self) -> String;
    /// One line saying what it shows.
    fn description(&self) -> String {
        self.name()
    }
    /// The next frame, or why there is none. After an error the capture thread waits
    /// (with backoff) and calls again, so a source should reopen itself if it can.
    fn next_frame(&mut self) -> Result<RgbImage, SourceError>;
    /// The wanted time between frames; `None` for sources that pace themselves.
    fn frame_interval(&self) -> Option<Duration> {
        None
    }
    /// The user asked for another frame (stepped to another image): the capture thread
    /// reads one at once, paused or not, without waiting for the pace.
    fn wants_frame_now(&self) -> bool {
        false
    }
}

/// Whether `image` holds exactly its pixels: `RgbImage::from_raw` accepts a longer
/// buffer (a camera driver's page-padded one, say), and the screen's texture upload
/// and the pre-processing expect width x height x 3 bytes. The one rule for the
/// capture thread, which drops such frames, and the UI, which never uploads one.
pub fn is_exact_rgb(image: &RgbImage) -> bool {
    image.width() as usize * image.height() as usize * 3 == image.as_raw().len()
}

/// Creates the source on the capture thread.
pub type SourceOpener = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, SourceError> + Send>;

/// An opener for a source that can be moved between threads (files, fakes in tests).
pub fn opener<S: FrameSource + Send + 'static>(source: S) -> SourceOpener {
    Box::new(move || Ok(Box::new(source) as Box<dyn FrameSource>))
}

/// The time between frames at `fps` frames per second (at least 1 ms, at most 10 s).
pub fn interval_for_fps(fps: f32) -> Duration {
    let fps = if fps.is_finite() { fps } else { 1.0 };
    let micros = (1e6 / f64::from(fps.max(0.1))).round().max(1000.0);
    Duration::from_micros(micros as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_stay_sane() {
        assert_eq!(interval_for_fps(10.0), Duration::from_millis(100));
        assert_eq!(interval_for_fps(0.0), Duration::from_secs(10));
        assert_eq!(interval_for_fps(f32::NAN), Duration::from_secs(1));
    }
}
