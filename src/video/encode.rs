//! Frames into a video file: ffmpeg, as a child process, reads raw RGB frames from a
//! pipe and encodes them into an MP4 file, H.264 where this ffmpeg has libx264 (else
//! MPEG-4 Part 2, which every ffmpeg has). It writes an [`AtomicOutput`]'s temporary
//! file, so that the video appears under its name only once complete: an encoder that
//! dies, or a run that stops, leaves nothing there.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::VideoError;
use super::ffmpeg::{
    ErrorTail, exit_within, ffmpeg_command, file_url, first_line, output_within, spawn_failure,
};
use super::probe::FrameRate;
use crate::files::AtomicOutput;
use image::RgbImage;
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long `ffmpeg -encoders` may take to answer.
const ENCODERS_LIMIT: Duration = Duration::from_secs(10);
/// How long ffmpeg may take to encode what it still holds once the last frame is in (its
/// look-ahead) and move the index to the front: far above what a real video needs.
const FINISH_LIMIT: Duration = Duration::from_secs(120);

/// The video codec of the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    /// MPEG-4 Part 2: plays nearly everywhere, larger files than H.264 at one quality.
    Mpeg4,
}

impl VideoCodec {
    /// H.264 where this ffmpeg has libx264 (asked once a run), else MPEG-4 Part 2.
    fn of_this_ffmpeg() -> Result<VideoCodec, String> {
        static CODEC: OnceLock<Result<VideoCodec, String>> = OnceLock::new();
        CODEC
            .get_or_init(|| {
                let mut command = ffmpeg_command("ffmpeg");
                command.args(["-hide_banner", "-encoders"]);
                let (status, encoders, errors) = output_within(command, ENCODERS_LIMIT)?;
                if !status.success() {
                    return Err(format!(
                        "ffmpeg cannot list its encoders ({})",
                        first_line(&errors)
                    ));
                }
                // Lines are " V....D libx264   libx264 H.264 / AVC ...": flags, name, text.
                let has_libx264 = encoders
                    .lines()
                    .any(|line| line.split_whitespace().nth(1) == Some("libx264"));
                Ok(if has_libx264 {
                    VideoCodec::H264
                } else {
                    VideoCodec::Mpeg4
                })
            })
            .clone()
    }

    /// ffmpeg's output options for the codec.
    fn encoder_args(self) -> &'static [&'static str] {
        match self {
            VideoCodec::H264 => &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
            // A fixed quality (2 best, 31 worst): the default bit rate smears boxes and labels.
            VideoCodec::Mpeg4 => &["-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p"],
        }
    }
}

/// A video being written: frames in, one at a time, then [`VideoEncoder::finish`].
/// Dropped unfinished, ffmpeg is stopped and the temporary file removed.
pub struct VideoEncoder {
    /// First, as fields drop in order: ffmpeg is stopped before its file is removed.
    ffmpeg: StoppedOnDrop,
    /// Closed by [`VideoEncoder::finish`]: the end of the frames.
    frames: Option<ChildStdin>,
    errors: ErrorTail,
    size: (u32, u32),
    codec: VideoCodec,
    output: AtomicOutput,
}

/// ffmpeg, killed and waited for when dropped (an error, a panic), so it never writes on
/// after the run gave up its file.
struct StoppedOnDrop(Child);

impl Drop for StoppedOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl VideoEncoder {
    /// Starts ffmpeg on `output`'s temporary file, for frames of `width` x `height` at
    /// `rate`.
    pub fn start(
        output: AtomicOutput,
        (width, height): (u32, u32),
        rate: FrameRate,
    ) -> Result<VideoEncoder, VideoError> {
        let fail = |message: String| VideoError {
            path: output.target().to_path_buf(),
            message,
        };
        let codec = VideoCodec::of_this_ffmpeg().map_err(fail)?;
        let mut command: Command = ffmpeg_command("ffmpeg");
        command
            // -y: the temporary file exists already (empty), made by `output`.
            .args(["-v", "error", "-nostdin", "-y"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"))
            .arg("-framerate")
            .arg(rate.to_string())
            .args(["-i", "pipe:0", "-an"])
            // 4:2:0 colour needs even sides: an odd one gets a row or column of black.
            .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
            .args(codec.encoder_args())
            // The index at the front: the file plays while it downloads.
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(file_url(output.partial_path()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut ffmpeg = StoppedOnDrop(
            command
                .spawn()
                .map_err(|error| fail(spawn_failure("ffmpeg", &error)))?,
        );
        let (Some(frames), Some(stderr)) = (ffmpeg.0.stdin.take(), ffmpeg.0.stderr.take()) else {
            return Err(fail("cannot write to ffmpeg".to_owned()));
        };
        let errors = ErrorTail::start(stderr)
            .map_err(|_| fail("cannot start a thread to read ffmpeg's errors".to_owned()))?;
        Ok(VideoEncoder {
            ffmpeg,
            frames: Some(frames),
            errors,
            size: (width, height),
            codec,
            output,
        })
    }

    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// Hands ffmpeg the next frame (waiting while it encodes the ones before).
    pub fn write_frame(&mut self, frame: &RgbImage) -> Result<(), VideoError> {
        if frame.dimensions() != self.size {
            return Err(self.fail(format!(
                "a frame of {} x {} in a video of {} x {}",
                frame.width(),
                frame.height(),
                self.size.0,
                self.size.1
            )));
        }
        let written = match &mut self.frames {
            Some(frames) => frames.write_all(frame.as_raw()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        written.map_err(|_| {
            // A closed pipe: ffmpeg has stopped, and its errors say why.
            let reason = self.stop();
            self.fail(format!("the encoder stopped ({reason})"))
        })
    }

    /// Ends the video: ffmpeg encodes what it holds and closes the file. Returns the
    /// output, complete, for the caller to [`AtomicOutput::commit`].
    pub fn finish(mut self) -> Result<AtomicOutput, VideoError> {
        self.frames = None;
        let status = exit_within(&mut self.ffmpeg.0, FINISH_LIMIT);
        let reason = self.stop();
        match status {
            Ok(Some(status)) if status.success() => Ok(self.output),
            Ok(Some(_)) => Err(self.fail(format!("the encoder failed ({reason})"))),
            Ok(None) => Err(self.fail(format!(
                "the encoder did not finish in {} s: stopped it",
                FINISH_LIMIT.as_secs()
            ))),
            Err(error) => Err(self.fail(format!("cannot wait for ffmpeg: {error}"))),
        }
    }

    /// Stops ffmpeg (if it has not stopped) and returns the first line it wrote to its
    /// error output.
    fn stop(&mut self) -> String {
        self.frames = None;
        let _ = self.ffmpeg.0.kill();
        let _ = self.ffmpeg.0.wait();
        first_line(&self.errors.finish()).to_owned()
    }

    fn fail(&self, message: String) -> VideoError {
        VideoError {
            path: self.output.target().to_path_buf(),
            message,
        }
    }
}
