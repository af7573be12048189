//! Cameras through nokhwa: listing them, and a [`FrameSource`] that opens a camera
//! lazily, decodes each frame to RGB once, and reopens it after a failure.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::source::{CameraSelector, FrameSource, SourceError};
use image::RgbImage;
use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The smallest frame worth asking for (the network sees 300x300; the screen, more).
pub const WANTED_WIDTH: u32 = 640;
pub const WANTED_HEIGHT: u32 = 480;
/// The frame rate wanted, and the least accepted while a faster format exists.
pub const WANTED_FPS: u32 = 30;
pub const MIN_FPS: u32 = 15;

/// Which of the camera's formats to open: the smallest we decode that is at least
/// [`WANTED_WIDTH`] x [`WANTED_HEIGHT`] at [`MIN_FPS`] or more, at the rate nearest
/// [`WANTED_FPS`], the cheapest to decode first (raw RGB, YUYV, then MJPEG; grey
/// last). A camera with no such format gives its largest one at [`MIN_FPS`] or more,
/// else its largest. NV12 is never chosen (nokhwa cannot decode padded NV12 buffers).
/// Choosing ourselves, and then asking for exactly that, avoids nokhwa's `Closest`,
/// which fails unless the camera has the wanted size in the wanted encoding.
pub fn choose_format(formats: &[CameraFormat]) -> Option<CameraFormat> {
    let decode_cost = |format: FrameFormat| match format {
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => 0,
        FrameFormat::YUYV => 1,
        FrameFormat::MJPEG => 2,
        FrameFormat::GRAY => 3,
        FrameFormat::NV12 => u32::MAX,
    };
    let usable: Vec<&CameraFormat> = formats
        .iter()
        .filter(|f| decode_cost(f.format()) != u32::MAX && f.width() > 0 && f.height() > 0)
        .collect();
    let pixels = |f: &CameraFormat| u64::from(f.width()) * u64::from(f.height());
    let big_enough = |f: &CameraFormat| f.width() >= WANTED_WIDTH && f.height() >= WANTED_HEIGHT;
    let fast_enough = |f: &CameraFormat| f.frame_rate() >= MIN_FPS;
    let wanted = usable
        .iter()
        .filter(|f| big_enough(f) && fast_enough(f))
        .min_by_key(|f| {
            (
                pixels(f),
                f.frame_rate().abs_diff(WANTED_FPS),
                decode_cost(f.format()),
            )
        });
    let largest = |pool: &mut dyn Iterator<Item = &&CameraFormat>| {
        pool.max_by_key(|f| {
            (
                pixels(f),
                f.frame_rate(),
                std::cmp::Reverse(decode_cost(f.format())),
            )
        })
        .map(|f| **f)
    };
    wanted
        .map(|f| **f)
        .or_else(|| largest(&mut usable.iter().filter(|f| fast_enough(f))))
        .or_else(|| largest(&mut usable.iter()))
}

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

/// Whether camera `index` captures video, as opposed to a UVC metadata node (which
/// shares the camera's name and cannot be opened for frames). Where this cannot be
/// told, the camera is kept, so that opening it says what is wrong.
#[cfg(target_os = "linux")]
fn captures_video(index: u32) -> bool {
    let caps = catch_unwind(|| v4l::Device::new(index as usize).and_then(|d| d.query_caps()));
    match caps {
        Ok(Ok(caps)) => caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_CAPTURE),
        _ => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn captures_video(_index: u32) -> bool {
    true
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

    fn open(&mut self) -> Result<Camera, SourceError> {
        let index = self.resolve_index()?;
        let panicked = |message: &str| SourceError::Camera {
            camera: self.selector.to_string(),
            message: message.to_string(),
        };
        let opened = catch_unwind(|| {
            // Opened on its first decodable format, then set to the one we choose from
            // the formats it lists (when it can list them).
            let first = RequestedFormat::new::<RgbFormat>(RequestedFormatType::None);
            let mut camera = Camera::new(CameraIndex::Index(index), first)?;
            if let Some(chosen) = camera
                .compatible_camera_formats()
                .ok()
                .and_then(|formats| choose_format(&formats))
            {
                let exact = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Exact(chosen));
                if let Err(error) = camera.set_camera_requset(exact) {
                    log::warn!(
                        "camera {index} refused {chosen}: {error}; keeping its first format"
                    );
                }
            }
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
        loop {
            match self.read_frame() {
                Err(FrameError::Undecodable(error)) if self.bad_frames < QUIET_BAD_FRAMES => {
                    self.bad_frames += 1;
                    log::debug!("{error} (skipped)");
                }
                Err(FrameError::Undecodable(error) | FrameError::Camera(error)) => {
                    return Err(error);
                }
                Ok(image) => {
                    self.bad_frames = 0;
                    return Ok(image);
                }
            }
        }
    }
}

/// Why a read gave no frame: the camera failed (it is closed, and reopened by the next
/// read), or one frame could not be decoded (the camera stays open).
enum FrameError {
    Camera(SourceError),
    Undecodable(SourceError),
}

impl CameraSource {
    fn read_frame(&mut self) -> Result<RgbImage, FrameError> {
        let mut camera = match self.camera.take() {
            Some(camera) => camera,
            None => self.open().map_err(FrameError::Camera)?,
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
                return Err(FrameError::Camera(camera_error(&self.selector, &e)));
            }
            Err(_) => {
                close(camera);
                return Err(FrameError::Camera(error(
                    "the camera library panicked while reading a frame".into(),
                )));
            }
        };
        self.camera = Some(camera);
        // A bad frame (a torn MJPEG, say) costs that frame; the camera stays open.
        let undecodable = |message: String| FrameError::Undecodable(error(message));
        match catch_unwind(AssertUnwindSafe(|| buffer.decode_image::<RgbFormat>())) {
            Ok(Ok(image)) if image.width() > 0 && image.height() > 0 => Ok(image),
            Ok(Ok(_)) => Err(undecodable("it sent an empty frame".into())),
            Ok(Err(e)) => Err(undecodable(format!("a frame could not be decoded: {e}"))),
            Err(_) => Err(undecodable("decoding a frame panicked".into())),
        }
    }
}

/// Closes a camera, containing any panic of its driver's clean-up.
fn close(camera: Camera) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(camera)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(width: u32, height: u32, encoding: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(width, height, encoding, fps)
    }

    #[test]
    fn the_smallest_decodable_format_near_30_fps_is_chosen() {
        use FrameFormat::{GRAY, MJPEG, NV12, YUYV};
        let laptop = [
            format(1280, 720, MJPEG, 30),
            format(1920, 1080, MJPEG, 30),
            format(640, 480, YUYV, 30),
            format(1280, 720, YUYV, 10),
            format(640, 480, NV12, 30),
        ];
        assert_eq!(choose_format(&laptop), Some(format(640, 480, YUYV, 30)));
        let hd_only = [
            format(1920, 1080, MJPEG, 30),
            format(1280, 720, MJPEG, 30),
            format(320, 240, MJPEG, 30),
        ];
        assert_eq!(choose_format(&hd_only), Some(format(1280, 720, MJPEG, 30)));
        // Nearest 30 wins over faster; the cheaper decoding wins a tie.
        let rates = [format(640, 480, YUYV, 60), format(640, 480, YUYV, 24)];
        assert_eq!(choose_format(&rates), Some(format(640, 480, YUYV, 24)));
        let tie = [
            format(640, 480, MJPEG, 30),
            format(640, 480, GRAY, 30),
            format(640, 480, YUYV, 30),
        ];
        assert_eq!(choose_format(&tie), Some(format(640, 480, YUYV, 30)));
    }

    #[test]
    fn a_camera_without_a_good_format_gives_its_best_and_nv12_is_never_chosen() {
        use FrameFormat::{MJPEG, NV12, YUYV};
        // Nothing 640x480 at 15 fps: the largest that is fast enough.
        let small = [
            format(640, 480, YUYV, 5),
            format(1280, 720, YUYV, 10),
            format(320, 240, MJPEG, 30),
        ];
        assert_eq!(choose_format(&small), Some(format(320, 240, MJPEG, 30)));
        // Nothing fast enough: the largest.
        let slow = [format(640, 480, YUYV, 5), format(1280, 720, YUYV, 10)];
        assert_eq!(choose_format(&slow), Some(format(1280, 720, YUYV, 10)));
        assert_eq!(choose_format(&[format(1280, 720, NV12, 30)]), None);
        assert_eq!(choose_format(&[]), None);
    }
}
