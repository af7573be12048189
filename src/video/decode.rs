//! Frames out of a video file: ffmpeg, as a child process, writes raw RGB frames to a
//! pipe, read one frame at a time with a time limit (a stalled decoder is killed and
//! reported, as a stalled camera is).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::VideoError;
use super::ffmpeg::{
    ErrorTail, exit_within, ffmpeg_command, first_line, input_args, spawn_failure,
};
use super::probe::{FrameRate, VideoInfo, decoded_size, probe};
use image::RgbImage;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// How long ffmpeg may take to deliver a frame (the first one included, after a seek in
/// a long file): far above a real file's needs.
const FRAME_LIMIT: Duration = Duration::from_secs(10);

/// What the frame reader sends: a frame, the end of the output, or a read error.
type FrameMessage = std::io::Result<Option<Vec<u8>>>;

/// One run of ffmpeg over the file. A thread of its own reads the frames from ffmpeg's
/// pipe, so that waiting for one has a time limit.
pub(crate) struct Decoder {
    child: Child,
    frames: Receiver<FrameMessage>,
    errors: ErrorTail,
}

impl Decoder {
    /// Decodes from `start` on. The seek is passed only when there is one: `-ss` before
    /// `-i` makes ffmpeg seek in the container (then decode up to the exact frame), which
    /// raw streams and some AVI files cannot do even to 0. With a `rate`, ffmpeg repeats
    /// or drops frames to deliver exactly that many a second (a phone's variable-rate
    /// file included).
    pub(crate) fn start(
        path: &Path,
        (width, height): (u32, u32),
        start: Duration,
        rate: Option<FrameRate>,
    ) -> Result<Decoder, String> {
        let mut command = ffmpeg_command("ffmpeg");
        command.args(["-v", "error", "-nostdin"]);
        if start > Duration::ZERO {
            command
                .arg("-ss")
                .arg(format!("{:.3}", start.as_secs_f64()));
        }
        let [protocols, allowed, formats, containers, url] = input_args(path);
        command
            .args([protocols, allowed, formats, containers])
            .arg("-i")
            .arg(url)
            .args(["-an", "-sn", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"));
        if let Some(rate) = rate {
            command.arg("-r").arg(rate.to_string());
        }
        command
            .arg("-")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|error| spawn_failure("ffmpeg", &error))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot read from ffmpeg".to_owned());
        };
        let frame_bytes = width as usize * height as usize * 3;
        // One frame waits while the next is read: decoding runs a frame ahead, no more.
        let (sender, frames) = std::sync::mpsc::sync_channel(1);
        let reader = std::thread::Builder::new()
            .name("tinyssd-ffmpeg".into())
            .spawn(move || read_frames(stdout, frame_bytes, &sender));
        let (Ok(_), Ok(errors)) = (reader, ErrorTail::start(stderr)) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot start a thread to read ffmpeg's output".to_owned());
        };
        Ok(Decoder {
            child,
            frames,
            errors,
        })
    }

    /// The next frame; None at the end of the file (a partial last frame, from a
    /// truncated file, is dropped). An ffmpeg that sends nothing for [`FRAME_LIMIT`] is
    /// stopped and reported.
    pub(crate) fn read_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.frames.recv_timeout(FRAME_LIMIT) {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(error)) => Err(format!("cannot read ffmpeg's frames: {error}")),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(format!(
                    "ffmpeg sent no frame for {} s: stopped it",
                    FRAME_LIMIT.as_secs_f32()
                ))
            }
        }
    }

    /// Ends the run after the last frame; the reason ffmpeg gave if it failed.
    pub(crate) fn finish(mut self) -> Option<String> {
        // Its output ended, so ffmpeg is exiting; one that lingers is ended.
        let status = exit_within(&mut self.child, Duration::from_secs(1))
            .ok()
            .flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let errors = self.errors.finish();
        let failed = !status.is_some_and(|status| status.success());
        (failed || !errors.trim().is_empty()).then(|| first_line(&errors).to_owned())
    }
}

/// The reader thread: whole frames from ffmpeg's output until it ends or the decoder is
/// dropped.
fn read_frames(mut stdout: impl Read, frame_bytes: usize, frames: &SyncSender<FrameMessage>) {
    loop {
        let mut frame = vec![0_u8; frame_bytes];
        let message = match stdout.read_exact(&mut frame) {
            Ok(()) => Ok(Some(frame)),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(error) => Err(error),
        };
        let last = !matches!(message, Ok(Some(_)));
        if frames.send(message).is_err() || last {
            return;
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What went wrong in a run of ffmpeg that ended after `frames` frames, ffmpeg having
/// said `reason` (None: it said nothing and exited cleanly); None when nothing did.
pub(crate) fn decoding_failure(frames: u64, reason: Option<&str>) -> Option<String> {
    match reason {
        _ if frames == 0 => Some(format!(
            "no frame could be decoded ({})",
            reason.unwrap_or("the file holds none")
        )),
        Some(reason) => Some(format!("the video breaks after {frames} frames ({reason})")),
        None => None,
    }
}

/// A video file read once from its first frame to its last, for work on every frame
/// (`tinyssd detect`): the decoder the app's video source uses, at the file's rate held
/// constant, so frame `n` is at [`FrameRate::time_of`]`(n)`.
pub struct VideoFrames {
    path: PathBuf,
    info: VideoInfo,
    size: (u32, u32),
    /// None once the file has ended (or failed).
    decoder: Option<Decoder>,
    frames_read: u64,
}

impl VideoFrames {
    /// Probes the file and starts decoding it.
    pub fn open(path: &Path) -> Result<VideoFrames, VideoError> {
        let info = probe(path)?;
        let size = decoded_size(info.display.0, info.display.1);
        let decoder = Decoder::start(path, size, Duration::ZERO, Some(info.frame_rate())).map_err(
            |message| VideoError {
                path: path.to_path_buf(),
                message,
            },
        )?;
        Ok(VideoFrames {
            path: path.to_path_buf(),
            info,
            size,
            decoder: Some(decoder),
            frames_read: 0,
        })
    }

    /// What ffprobe said of the file.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The size of the frames: the file's as shown, narrowed as [`decoded_size`] says.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The next frame; None after the last. A file that ends in a fault (a truncated
    /// or damaged file, a stalled ffmpeg) is an error, whatever it gave before.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>, VideoError> {
        let fail = |message: String| VideoError {
            path: self.path.clone(),
            message,
        };
        let Some(decoder) = &mut self.decoder else {
            return Ok(None);
        };
        match decoder.read_frame() {
            Ok(Some(pixels)) => {
                self.frames_read += 1;
                RgbImage::from_raw(self.size.0, self.size.1, pixels)
                    .map(Some)
                    .ok_or_else(|| fail("a frame of the wrong size".to_owned()))
            }
            Ok(None) => {
                let reason = self.decoder.take().and_then(Decoder::finish);
                match decoding_failure(self.frames_read, reason.as_deref()) {
                    Some(failure) => Err(fail(failure)),
                    None => Ok(None),
                }
            }
            Err(message) => {
                self.decoder = None;
                Err(fail(message))
            }
        }
    }
}
