//! The `--source` syntax ([`SourceSpec`]): parsing it, checking it at startup and
//! opening the source it names, with the controls the window drives a source with
//! ([`SourceControl`]). Each source lives in its own file beside this one: images in
//! [`super::images`], videos in [`super::video`], cameras in [`super::camera`], the
//! built-in demo in [`super::demo`].
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::camera::{CameraSelector, CameraSource};
use super::demo::{self, DemoSource};
use super::frame_source::{FrameSource, SourceError, SourceOpener};
use super::images::{ImageCursor, ImageListSource};
use super::video::{Playback, VideoSource};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// Frames per second for image sources when `--fps` is not given.
pub const DEFAULT_IMAGE_FPS: f32 = 2.0;

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
            SourceSpec::Camera(selector) => Box::new(CameraSource::new(selector.clone())),
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
                Box::new(VideoSource::open(path, fps, playback)?)
            }
            SourceSpec::Demo => Box::new(DemoSource::new(fps.unwrap_or(demo::DEFAULT_FPS))?),
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
}
