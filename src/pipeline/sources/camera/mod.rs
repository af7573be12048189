//! Cameras: listing them (through nokhwa), and a [`FrameSource`] that opens a camera
//! lazily, decodes each frame to RGB once, and reopens it after a failure. Frames
//! are read through V4L2 directly on Linux ([`super::v4l_camera`]), through nokhwa
//! elsewhere ([`super::nokhwa_camera`]).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

#[cfg(not(target_os = "linux"))]
use super::nokhwa_camera::NokhwaCamera as OpenCamera;
use super::source::{CameraSelector, FrameSource, SourceError};
#[cfg(target_os = "linux")]
use super::v4l_camera::V4lCamera as OpenCamera;
use image::RgbImage;
use nokhwa::utils::{ApiBackend, CameraIndex};
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
    let listed = catch_unwind(|| nokhwa::query(ApiBackend::Auto)).map_err(|_| {
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
    catch_unwind(|| super::v4l_camera::gives_decodable_video(index)).unwrap_or(true)
}

#[cfg(not(target_os = "linux"))]
fn captures_video(_index: u32) -> bool {
    true
}

/// The camera library's error as ours (see [`camera_failure`]).
pub fn camera_error(camera: &CameraSelector, error: &nokhwa::NokhwaError) -> SourceError {
    camera_failure(camera, &error.to_string())
}

/// A camera's failure as ours, saying what to do where the cause is known: a camera
/// busy in another program, one we may not open, one that is gone.
pub fn camera_failure(camera: &CameraSelector, message: &str) -> SourceError {
    SourceError::Camera {
        camera: camera.to_string(),
        message: explain_camera_failure(message),
    }
}

/// `message` (from the camera library or the OS) with advice in front when its cause
/// is recognised; otherwise unchanged.
pub fn explain_camera_failure(message: &str) -> String {
    let lower = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let advice = if has(&["busy", "os error 16", "in use", "already open"]) {
        Some(
            "it is in use by another program (a video call, another tinyssd?): \
             close that program and the camera is picked up again"
                .to_string(),
        )
    } else if has(&[
        "permission denied",
        "os error 13",
        "not permitted",
        "access denied",
    ]) {
        Some(format!(
            "this user may not open it: {}",
            super::camera_access::WHERE_TO_ALLOW
        ))
    } else if has(&[
        "no such file",
        "os error 2)",
        "no such device",
        "os error 19",
    ]) {
        Some("it is not there (unplugged?): plug it in, or pick another camera or the demo".into())
    } else {
        None
    };
    match advice {
        Some(advice) => format!("{advice} [{message}]"),
        None => message.to_string(),
    }
}

/// Why a camera backend's read gave no frame.
pub(super) enum ReadError {
    /// Nothing yet; read again (the backend waited a little). Only the V4L2 backend
    /// waits with a limit.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    NotYet,
    /// The camera failed, stalled or went away: close it.
    Failed(String),
    /// This frame could not be decoded; the camera is fine.
    Undecodable(String),
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
        super::camera_access::prepare_thread()
            .map_err(|message| camera_failure(&self.selector, &message))?;
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
