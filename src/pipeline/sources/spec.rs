//! Where frames come from: the [`FrameSource`] trait, the `--source` syntax
//! ([`SourceSpec`]) and the controls the window drives a source with
//! ([`SourceControl`]). Images live in [`super::images`], videos in [`super::video`],
//! cameras in [`super::camera`], the built-in demo in [`super::demo`].
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::images::{ImageCursor, ImageListSource};
use super::video::Playback;
use crate::detect::ImageReadError;
use image::RgbImage;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Frames per second for image sources when `--fps` is not given.
pub const DEFAULT_IMAGE_FPS: f32 = 2.0;

/// What can go wrong while opening or reading a source. None of these end the app
/// once it runs: the capture thread reports them and tries again.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "'{0}' is not a source: use camera:0, camera:NAME, images:DIR, image:FILE, video:FILE, demo, \
         or the path of an image, a folder of images or a video"
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

/// Which camera: by index or by (part of) its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSelector {
    Index(u32),
    Name(String),
}

impl fmt::Display for CameraSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraSelector::Index(index) => write!(f, "{index}"),
            CameraSelector::Name(name) => f.write_str(name),
        }
    }
}

/// The `--source` argument: `camera:0`, `camera:NAME`, `images:DIR` (or
/// `images:a.png,b.jpg`), `image:FILE`, `video:FILE` or `demo`; or a bare path that
/// exists, taken by what it is: a folder plays its images, a PNG or JPEG file is an image,
/// any other file a video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Camera(CameraSelector),
    Images(Vec<PathBuf>),
    Image(PathBuf),
    Video(PathBuf),
    Demo,
}

impl FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<SourceSpec, SourceError> {
        let bad = || SourceError::BadSpec(text.to_string());
        if text == "demo" {
            return Ok(SourceSpec::Demo);
        }
        if text == "camera" {
            return Ok(SourceSpec::Camera(CameraSelector::Index(0)));
        }
        let Some((kind, rest)) = text
            .split_once(':')
            .filter(|(kind, _)| ["camera", "images", "image", "video"].contains(kind))
        else {
            return SourceSpec::from_path(Path::new(text)).ok_or_else(bad);
        };
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "camera" => Ok(SourceSpec::Camera(match rest.parse::<u32>() {
                Ok(index) => CameraSelector::Index(index),
                Err(_) => CameraSelector::Name(rest.to_string()),
            })),
            "images" => Ok(SourceSpec::Images(
                rest.split(',')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect(),
            )),
            "image" => Ok(SourceSpec::Image(PathBuf::from(rest))),
            "video" => Ok(SourceSpec::Video(PathBuf::from(rest))),
            _ => Err(bad()),
        }
    }
}

impl SourceSpec {
    /// The source files dropped on the window (or typed in) stand for: several PNG or
    /// JPEG files play as a list, anything else by what the first one is
    /// ([`SourceSpec::from_path`]); `None` if it does not exist.
    pub fn from_paths(paths: &[PathBuf]) -> Option<SourceSpec> {
        let all_images = paths.len() > 1
            && paths
                .iter()
                .all(|path| path.is_file() && crate::detect::has_image_extension(path));
        if all_images {
            return Some(SourceSpec::Images(paths.to_vec()));
        }
        SourceSpec::from_path(paths.first()?)
    }

    /// The source a path on disk stands for, by what it is; `None` if it does not exist.
    pub fn from_path(path: &Path) -> Option<SourceSpec> {
        let path = path.to_path_buf();
        if path.is_dir() {
            Some(SourceSpec::Images(vec![path]))
        } else if crate::video::is_video_file(&path) {
            Some(SourceSpec::Video(path))
        } else if path.exists() {
            Some(SourceSpec::Image(path))
        } else {
            None
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Camera(camera) => write!(f, "camera:{camera}"),
            SourceSpec::Images(paths) => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "images:{}", list.join(","))
            }
            SourceSpec::Image(path) => write!(f, "image:{}", path.display()),
            SourceSpec::Video(path) => write!(f, "video:{}", path.display()),
            SourceSpec::Demo => f.write_str("demo"),
        }
    }
}

impl SourceSpec {
    /// The camera's index when the source is one chosen by index.
    pub fn camera_index(&self) -> Option<u32> {
        match self {
            SourceSpec::Camera(CameraSelector::Index(index)) => Some(*index),
            _ => None,
        }
    }

    /// The files (or folders) this source reads.
    pub fn files(&self) -> &[PathBuf] {
        match self {
            SourceSpec::Images(paths) => paths,
            SourceSpec::Image(path) | SourceSpec::Video(path) => std::slice::from_ref(path),
            SourceSpec::Camera(_) | SourceSpec::Demo => &[],
        }
    }

    /// Cheap checks worth failing on at startup: the files exist, a folder has images,
    /// a video is one ffmpeg can read. Cameras are not checked (a missing camera is a
    /// runtime fault, retried).
    pub fn check(&self) -> Result<(), SourceError> {
        match self {
            SourceSpec::Camera(_) | SourceSpec::Demo => Ok(()),
            SourceSpec::Images(paths) => {
                ImageListSource::new(paths, DEFAULT_IMAGE_FPS, Arc::default()).map(|_| ())
            }
            SourceSpec::Image(path) => ImageListSource::new(
                std::slice::from_ref(path),
                DEFAULT_IMAGE_FPS,
                Arc::default(),
            )
            .map(|_| ()),
            SourceSpec::Video(path) => crate::video::probe(path).map(|_| ()).map_err(Into::into),
        }
    }

    /// Opens the source on the capture thread (see [`SourceSpec::open`]).
    pub fn opener(&self, fps: Option<f32>) -> SourceOpener {
        self.opener_with_control(fps).0
    }

    /// [`SourceSpec::opener`], and the control the window drives it with, for the
    /// sources that have one.
    pub fn opener_with_control(&self, fps: Option<f32>) -> (SourceOpener, Option<SourceControl>) {
        let spec = self.clone();
        let control = match self {
            SourceSpec::Video(_) => Some(SourceControl::Video(Arc::default())),
            SourceSpec::Images(_) => Some(SourceControl::Images(Arc::default())),
            SourceSpec::Camera(_) | SourceSpec::Image(_) | SourceSpec::Demo => None,
        };
        let shared = control.clone();
        (Box::new(move || spec.open(fps, shared.as_ref())), control)
    }

    /// Opens the source. `fps` paces image, video and demo sources (`None`: their
    /// default, for a video its own rate); a camera runs at its own rate. A video or an
    /// image list reports to and takes seeks or steps from its `control` (a fresh one
    /// when there is none of its kind). A camera is opened lazily by its first frame,
    /// so a missing camera shows up as a frame error, not here.
    pub fn open(
        &self,
        fps: Option<f32>,
        control: Option<&SourceControl>,
    ) -> Result<Box<dyn FrameSource>, SourceError> {
        let image_fps = fps.unwrap_or(DEFAULT_IMAGE_FPS);
        Ok(match self {
            SourceSpec::Camera(selector) => Box::new(super::CameraSource::new(selector.clone())),
            SourceSpec::Images(paths) => {
                let cursor = match control {
                    Some(SourceControl::Images(cursor)) => cursor.clone(),
                    _ => Arc::default(),
                };
                Box::new(ImageListSource::new(paths, image_fps, cursor)?)
            }
            SourceSpec::Image(path) => Box::new(ImageListSource::new(
                std::slice::from_ref(path),
                image_fps,
                Arc::default(),
            )?),
            SourceSpec::Video(path) => {
                let playback = match control {
                    Some(SourceControl::Video(playback)) => playback.clone(),
                    _ => Arc::default(),
                };
                Box::new(super::VideoSource::open(path, fps, playback)?)
            }
            SourceSpec::Demo => Box::new(super::DemoSource::new(
                fps.unwrap_or(super::demo::DEFAULT_FPS),
            )?),
        })
    }
}

/// What the window drives a playing source with: a video's seek bar, an image list's
/// next and previous image.
#[derive(Debug, Clone)]
pub enum SourceControl {
    Video(Arc<Playback>),
    Images(Arc<ImageCursor>),
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
    fn dropped_files_play_by_what_they_are() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").expect("a file");
            path
        };
        let (a, b, clip) = (file("a.png"), file("b.JPG"), file("clip.mp4"));
        let both = vec![a.clone(), b.clone()];
        assert_eq!(
            SourceSpec::from_paths(&both),
            Some(SourceSpec::Images(both))
        );
        assert_eq!(
            SourceSpec::from_paths(std::slice::from_ref(&a)),
            Some(SourceSpec::Image(a.clone()))
        );
        let mixed = [clip.clone(), a];
        assert_eq!(
            SourceSpec::from_paths(&mixed),
            Some(SourceSpec::Video(clip))
        );
        let folder = dir.path().to_path_buf();
        assert_eq!(
            SourceSpec::from_paths(std::slice::from_ref(&folder)),
            Some(SourceSpec::Images(vec![folder]))
        );
        assert_eq!(SourceSpec::from_paths(&[dir.path().join("gone.png")]), None);
        assert_eq!(SourceSpec::from_paths(&[]), None);
    }

    #[test]
    fn parses_every_kind_of_source() {
        assert_eq!("demo".parse::<SourceSpec>().ok(), Some(SourceSpec::Demo));
        assert_eq!(
            "camera:1".parse::<SourceSpec>().ok(),
            Some(SourceSpec::Camera(CameraSelector::Index(1)))
        );
        assert_eq!(
            "camera:HD Webcam".parse::<SourceSpec>().ok(),
            Some(SourceSpec::Camera(CameraSelector::Name("HD Webcam".into())))
        );
        assert_eq!(
            "images:a.png,b.jpg".parse::<SourceSpec>().ok(),
            Some(SourceSpec::Images(vec!["a.png".into(), "b.jpg".into()]))
        );
        assert_eq!(
            "image:x.png".parse::<SourceSpec>().ok(),
            Some(SourceSpec::Image("x.png".into()))
        );
        assert_eq!(
            "video:clip.mp4".parse::<SourceSpec>().ok(),
            Some(SourceSpec::Video("clip.mp4".into()))
        );
        for bad in [
            "",
            "movie:1",
            "camera:",
            "images",
            "video:",
            "no/such/photo.jpg",
        ] {
            assert!(bad.parse::<SourceSpec>().is_err(), "{bad}");
        }
        let spec = SourceSpec::Camera(CameraSelector::Index(0));
        assert_eq!(spec.to_string().parse::<SourceSpec>().ok(), Some(spec));
    }

    #[test]
    fn a_bare_path_is_taken_by_what_it_is() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let photo = dir.path().join("Photo.JPG");
        let clip = dir.path().join("clip.mkv");
        let colon = dir.path().join("take:2.png");
        for file in [&photo, &clip, &colon] {
            std::fs::write(file, b"x").expect("a file");
        }
        let parse = |path: &Path| path.display().to_string().parse::<SourceSpec>().ok();
        assert_eq!(
            parse(dir.path()),
            Some(SourceSpec::Images(vec![dir.path().into()]))
        );
        assert_eq!(parse(&photo), Some(SourceSpec::Image(photo.clone())));
        assert_eq!(parse(&clip), Some(SourceSpec::Video(clip.clone())));
        assert_eq!(
            parse(&colon),
            Some(SourceSpec::Image(colon.clone())),
            "a colon in a name"
        );
        assert!(matches!(
            "missing.mp4".parse::<SourceSpec>(),
            Err(SourceError::BadSpec(_))
        ));
    }

    #[test]
    fn intervals_stay_sane() {
        assert_eq!(interval_for_fps(10.0), Duration::from_millis(100));
        assert_eq!(interval_for_fps(0.0), Duration::from_secs(10));
        assert_eq!(interval_for_fps(f32::NAN), Duration::from_secs(1));
    }
}
