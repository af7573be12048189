//! Cameras through nokhwa: listing them, and a [`FrameSource`] that opens a camera
//! lazily, decodes each frame to RGB once, and reopens it after a failure.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::source::{CameraSelector, FrameSource, SourceError};
use image::RgbImage;
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The format asked for; the camera's closest one is used when it has not this one.
pub const WANTED_WIDTH: u32 = 640;
pub const WANTED_HEIGHT: u32 = 480;
pub const WANTED_FPS: u32 = 30;

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
    Ok(infos
        .iter()
        .enumerate()
        .map(|(position, info)| CameraEntry {
            index: match info.index() {
                CameraIndex::Index(i) => *i,
                CameraIndex::String(s) => s.parse().unwrap_or(position as u32),
            },
            name: info.human_name(),
        })
        .collect())
}

/// The camera library's error as ours, saying what to do where the cause is known:
/// a camera busy in another program, one we may not open, one that is gone.
pub fn camera_error(camera: &CameraSelector, error: &nokhwa::NokhwaError) -> SourceError {
    SourceError::Camera {
        camera: camera.to_string(),
        message: explain_camera_failure(&error.to_string()),
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
             close that program and the camera is picked up again",
        )
    } else if has(&[
        "permission denied",
        "os error 13",
        "not permitted",
        "access denied",
    ]) {
        Some(
            "this user may not open it: on Linux join the `video` group \
             (sudo usermod -aG video $USER, then log in again)",
        )
    } else if has(&[
        "no such file",
        "os error 2)",
        "no such device",
        "os error 19",
    ]) {
        Some("it is not there (unplugged?): plug it in, or pick another camera or the demo")
    } else {
        None
    };
    match advice {
        Some(advice) => format!("{advice} [{message}]"),
        None => message.to_string(),
    }
}

/// A camera as a frame source. `next_frame` blocks until the camera delivers.
pub struct CameraSource {
    selector: CameraSelector,
    camera: Option<Camera>,
    label: String,
}

impl CameraSource {
    pub fn new(selector: CameraSelector) -> CameraSource {
        let label = format!("camera {selector}");
        CameraSource {
            selector,
            camera: None,
            label,
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

    fn open(&mut self) -> Result<Camera, SourceError> {
        let index = self.resolve_index()?;
        let panicked = |message: &str| SourceError::Camera {
            camera: self.selector.to_string(),
            message: message.to_string(),
        };
        let wanted = CameraFormat::new(
            Resolution::new(WANTED_WIDTH, WANTED_HEIGHT),
            FrameFormat::MJPEG,
            WANTED_FPS,
        );
        let opened = catch_unwind(|| {
            let request = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
            let mut camera = match Camera::new(CameraIndex::Index(index), request) {
                Ok(camera) => camera,
                // Some drivers list no format "close" to ours; take what they offer.
                Err(_) => Camera::new(
                    CameraIndex::Index(index),
                    RequestedFormat::new::<RgbFormat>(
                        RequestedFormatType::AbsoluteHighestFrameRate,
                    ),
                )?,
            };
            camera.open_stream()?;
            Ok::<Camera, nokhwa::NokhwaError>(camera)
        })
        .map_err(|_| panicked("the camera library panicked while opening it"))?;
        let camera = opened.map_err(|e| camera_error(&self.selector, &e))?;
        let format = camera.camera_format();
        self.label = format!(
            "camera {index}: {} ({}x{} {} fps)",
            camera.info().human_name(),
            format.width(),
            format.height(),
            format.frame_rate()
        );
        log::info!("opened {}", self.label);
        Ok(camera)
    }
}

impl FrameSource for CameraSource {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        let mut camera = match self.camera.take() {
            Some(camera) => camera,
            None => self.open()?,
        };
        let error = |message: String| SourceError::Camera {
            camera: self.selector.to_string(),
            message,
        };
        let captured = catch_unwind(AssertUnwindSafe(|| camera.frame()));
        let buffer = match captured {
            Ok(Ok(buffer)) => buffer,
            // The camera failed or went away: close it; the next call reopens it.
            Ok(Err(e)) => {
                close(camera);
                return Err(camera_error(&self.selector, &e));
            }
            Err(_) => {
                close(camera);
                return Err(error(
                    "the camera library panicked while reading a frame".into(),
                ));
            }
        };
        self.camera = Some(camera);
        // One bad frame (a torn MJPEG, say) is reported; the camera stays open.
        match catch_unwind(AssertUnwindSafe(|| buffer.decode_image::<RgbFormat>())) {
            Ok(Ok(image)) if image.width() > 0 && image.height() > 0 => Ok(image),
            Ok(Ok(_)) => Err(error("it sent an empty frame".into())),
            Ok(Err(e)) => Err(error(format!("a frame could not be decoded: {e}"))),
            Err(_) => Err(error("decoding a frame panicked".into())),
        }
    }
}

/// Closes a camera, containing any panic of its driver's clean-up.
fn close(camera: Camera) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(camera)));
}
