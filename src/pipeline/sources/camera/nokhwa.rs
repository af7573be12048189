//! A camera read through nokhwa (macOS, Windows). Its read waits for a frame without
//! a time limit; on Linux `v4l.rs` beside it is used instead.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::error::ReadError;
use super::format::{choose_format, decode_frame};
use image::RgbImage;
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraFormat, CameraIndex, RequestedFormat, RequestedFormatType};

/// An open, streaming camera.
pub struct NokhwaCamera {
    camera: Camera,
}

impl NokhwaCamera {
    /// Whether [`Self::format`]'s frame rate is the one the camera delivers. On macOS
    /// nokhwa 0.10 reports the rate it asked AVFoundation for, which does not always take
    /// it (l1npengtul/nokhwa#94, #202); the window shows the measured rate anyway.
    pub const KNOWS_ITS_FRAME_RATE: bool = !cfg!(target_os = "macos");

    /// Opens camera `index` on its first decodable format, then sets the one
    /// [`choose_format`] picks from those it lists (when it can list them), except on
    /// macOS: there nokhwa 0.10 can pair one format with another's frame-rate range, which
    /// AVFoundation answers with an exception that aborts the process (nokhwa#247), so
    /// the camera keeps the format it opened with.
    pub fn open(index: u32) -> Result<NokhwaCamera, String> {
        let first = RequestedFormat::new::<RgbFormat>(RequestedFormatType::None);
        let mut camera =
            Camera::new(CameraIndex::Index(index), first).map_err(|e| e.to_string())?;
        if !cfg!(target_os = "macos") {
            set_chosen_format(&mut camera, index);
        }
        camera.open_stream().map_err(|e| e.to_string())?;
        Ok(NokhwaCamera { camera })
    }

    pub fn name(&self) -> String {
        self.camera.info().human_name()
    }

    pub fn format(&self) -> CameraFormat {
        self.camera.camera_format()
    }

    /// The next frame; waits for it.
    pub fn read(&mut self) -> Result<RgbImage, ReadError> {
        let format = self.format();
        let buffer = self
            .camera
            .frame()
            .map_err(|e| ReadError::Failed(e.to_string()))?;
        decode_frame(format, buffer.buffer()).map_err(ReadError::Undecodable)
    }
}

/// Sets the format [`choose_format`] picks, when the camera lists its formats; a refusal
/// keeps the one it has.
fn set_chosen_format(camera: &mut Camera, index: u32) {
    let Some(chosen) = camera
        .compatible_camera_formats()
        .ok()
        .and_then(|formats| choose_format(&formats))
    else {
        return;
    };
    let exact = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(chosen));
    if let Err(error) = camera.set_camera_requset(exact) {
        log::warn!("camera {index} refused {chosen}: {error}; keeping its first format");
    }
}
