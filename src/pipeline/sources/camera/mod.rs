//! Cameras: listing them (through nokhwa), and a [`FrameSource`] that opens a camera
//! lazily, decodes each frame to RGB once, and reopens it after a failure. Frames
//! are read through V4L2 directly on Linux (`v4l.rs`), through nokhwa elsewhere
//! (`nokhwa.rs`); both choose their format and decode with [`format`]. What the
//! platform wants first is in [`access`], the errors and their advice in [`error`],
//! which camera the user means in [`selector`].
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod access;
mod error;
mod format;
#[cfg(not(target_os = "linux"))]
mod nokhwa;
mod selector;
#[cfg(target_os = "linux")]
mod v4l;

pub use error::{camera_error, explain_camera_failure};
pub use selector::CameraSelector;

#[cfg(not(target_os = "linux"))]
use self::nokhwa::NokhwaCamera as OpenCamera;
#[cfg(target_os = "linux")]
use self::v4l::V4lCamera as OpenCamera;
use super::frame_source::{FrameSource, SourceError};
use error::{ReadError, camera_failure};
use image::RgbImage;
// `::nokhwa`, the crate: off Linux `nokhwa` here is also the backend module above.
use ::nokhwa::utils::{ApiBackend, CameraIndex};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One camera the system knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraEntry {
    pub index: u32,
    pub name: String,
}

/// The cameras present now, or why they could not be listed. An empty list is
/// normal on a machine without a camera.
pub fn list_cameras() -> Result<Vec<CameraEntry>, SourceError> {
    let listed = catch_unwind(|| ::nokhwa::query(ApiBackend::Auto)).map_err(|_| {
        SourceError::Other("listing the cameras failed (the camera library panicked)".into())
    })?;
    let infos = listed.map_err(|e| SourceError::Other(format!("cannot list the cameras: {e}")))?;
    let mut cameras: Vec<CameraEntry> = infos
        .iter()
        .enumerate()
        .map(|(position, info)| CameraEntry {
            index: match info.index() {
                CameraIndex::Index(i) => *i,
                CameraIndex::String(s) => s.parse().unwrap_or(position as u32),
            },
            name: info.human_name(),
        })
        .filter(|camera| captures_video(camera.index))
        .collect();
    // nokhwa lists /dev in directory order, where a webcam's metadata node can come
    // first; the first camera is the lowest index.
    cameras.sort_by_key(|camera| camera.index);
    Ok(cameras)
}

/// Whether camera `index` gives video we can show, as opposed to a UVC metadata node
/// (which shares the camera's name and cannot be opened for frames) or a raw sensor
/// node (Intel IPU6 laptops have dozens). Where this cannot be told, the camera is
/// kept, so that opening it says what is wrong.
#[cfg(target_os = "linux")]
fn captures_video(index: u32) -> bool {
    catch_unwind(|| self::v4l::gives_decodable_video(index)).unwrap_or(true)
}

#[cfg(not(target_os = "linux"))]
fn captures_video(_index: u32) -> bool {
    true
}

/// A camera as a frame source. `next_frame` waits for the camera's next frame (on
/// Linux at most a fraction of a second: then [`SourceError::NoFrameYet`]).
pub struct CameraSource {
    selector: CameraSelector,
    camera: Option<OpenCamera>,
    label: String,
    /// Frames in a row that could not be decoded (a webcam's first frames often).
    bad_frames: u32,
}

/// Undecodable frames in a row skipped without a word; one more is reported.
const QUIET_BAD_FRAMES: u32 = 3;

impl CameraSource {
    pub fn new(selector: CameraSelector) -> CameraSource {
        let label = format!("camera {selector}");
        CameraSource {
            selector,
            camera: None,
            label,
            bad_frames: 0,
        }
    }

    fn resolve_index(&self) -> Result<u32, SourceError> {
        match &self.selector {
            CameraSelector::Index(index) => Ok(*index),
            CameraSelector::Name(name) => {
                let cameras = list_cameras()?;
                let wanted = name.to_lowercase();
                cameras
                    .iter()
                    .find(|c| c.name.to_lowercase().contains(&wanted))
                    .map(|c| c.index)
                    .ok_or_else(|| {
                        if cameras.is_empty() {
                            SourceError::NoCamera
                        } else {
                            SourceError::CameraNotFound {
                                name: name.clone(),
                                available: cameras
                                    .iter()
                                    .map(|c| format!("{}: {}", c.index, c.name))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            }
                        }
                    })
            }
        }
    }

    fn open(&mut self) -> Result<OpenCamera, SourceError> {
        access::prepare_thread().map_err(|message| camera_failure(&self.selector, &message))?;
        let index = self.resolve_index()?;
        let camera = catch_unwind(|| OpenCamera::open(index))
            .unwrap_or_else(|_| Err("the camera library panicked while opening it".into()))
            .map_err(|message| camera_failure(&self.selector, &message))?;
        let format = camera.format();
        let rate = if OpenCamera::KNOWS_ITS_FRAME_RATE {
            format!(" {} fps", format.frame_rate())
        } else {
            String::new()
        };
        self.label = format!(
            "camera {index}: {} ({}x{}{rate})",
            camera.name(),
            format.width(),
            format.height(),
        );
        log::info!("opened {}", self.label);
        Ok(camera)
    }

    fn read_frame(&mut self) -> Result<RgbImage, FrameError> {
        let camera = match &mut self.camera {
            Some(camera) => camera,
            None => {
                let opened = self.open().map_err(FrameError::Camera)?;
                self.camera.insert(opened)
            }
        };
        let read = catch_unwind(AssertUnwindSafe(|| camera.read())).unwrap_or_else(|_| {
            Err(ReadError::Failed(
                "the camera library panicked while reading a frame".into(),
            ))
        });
        match read {
            Ok(image) => Ok(image),
            Err(ReadError::NotYet) => Err(FrameError::NotYet),
            Err(ReadError::Undecodable(message)) => Err(FrameError::Undecodable(message)),
            Err(ReadError::Failed(message)) => {
                // The next read opens it again.
                close(self.camera.take());
                Err(FrameError::Camera(camera_failure(&self.selector, &message)))
            }
        }
    }
}

/// Why [`CameraSource::read_frame`] gave no frame.
enum FrameError {
    NotYet,
    /// Opening or reading failed; the camera is closed.
    Camera(SourceError),
    Undecodable(String),
}

impl FrameSource for CameraSource {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        loop {
            match self.read_frame() {
                Ok(image) => {
                    self.bad_frames = 0;
                    return Ok(image);
                }
                Err(FrameError::NotYet) => return Err(SourceError::NoFrameYet),
                Err(FrameError::Undecodable(message)) if self.bad_frames < QUIET_BAD_FRAMES => {
                    self.bad_frames += 1;
                    log::debug!("camera {}: {message} (skipped)", self.selector);
                }
                Err(FrameError::Undecodable(message)) => {
                    return Err(SourceError::Camera {
                        camera: self.selector.to_string(),
                        message,
                    });
                }
                Err(FrameError::Camera(error)) => return Err(error),
            }
        }
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        close(self.camera.take());
    }
}

/// Closes a camera, containing any panic of its driver's clean-up (the `v4l`
/// crate panics when stopping a stream fails other than by the device being gone).
fn close(camera: Option<OpenCamera>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(camera)));
}
