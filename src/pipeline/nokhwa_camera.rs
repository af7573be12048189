//! A camera read through nokhwa (macOS, Windows). Its read waits for a frame without
//! a time limit; on Linux [`super::v4l_camera`] is used instead.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::camera::ReadError;
use super::camera_format::{choose_format, decode_frame};
use image::RgbImage;
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraFormat, CameraIndex, RequestedFormat, RequestedFormatType};

/// An open, streaming camera.
pub struct NokhwaCamera {
    camera: Camera,
}

impl NokhwaCamera {
    /// Opens camera `index` on its first decodable format, then sets the one
    /// [`choose_format`] picks from those it lists (when it can list them).
    pub fn open(index: u32) -> Result<NokhwaCamera, String> {
        let first = RequestedFormat::new::<RgbFormat>(RequestedFormatType::None);
        let mut camera =
            Camera::new(CameraIndex::Index(index), first).map_err(|e| e.to_string())?;
        if let Some(chosen) = camera
            .compatible_camera_formats()
            .ok()
            .and_then(|formats| choose_format(&formats))
        {
            let exact = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(chosen));
            if let Err(error) = camera.set_camera_requset(exact) {
                log::warn!("camera {index} refused {chosen}: {error}; keeping its first format");
            }
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
