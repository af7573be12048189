//! Why a camera gave no frame, in words a user can act on: the camera library's and the
//! OS's failures with advice in front where the cause is known ([`camera_failure`]), and
//! what a backend's read reports ([`ReadError`]).

use super::access::WHERE_TO_ALLOW;
use super::selector::CameraSelector;
use crate::pipeline::sources::frame_source::SourceError;

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
        Some(format!("this user may not open it: {WHERE_TO_ALLOW}"))
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
