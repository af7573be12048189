//! Video files, decoded by the `ffmpeg` program: a child process writes raw RGB frames
//! to a pipe and the source reads one frame at a time, at the file's frame rate, in a
//! loop. ffmpeg reads every common container and codec (MP4/H.264, MKV, WebM, AVI) and
//! costs nothing at build time; Rust decoders either handle one codec without a
//! demuxer (openh264) or need libav's headers to build (ffmpeg-next). When ffmpeg is
//! missing, the error names the package to install.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::source::{FrameSource, SourceError, interval_for_fps};
use image::RgbImage;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames with a longer side than this are scaled down by ffmpeg while decoding: the
/// network sees 300x300, and a 4K frame would cost 25 MB a frame on the pipe.
pub const MAX_VIDEO_SIDE: u32 = 1280;
/// How much of ffmpeg's error output is kept for the message.
const STDERR_KEPT: usize = 2048;
const INSTALL_HINT: &str =
    "install ffmpeg (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg)";

/// What the file's first video stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as the file says (its average rate, else its base rate).
    pub fps: Option<f32>,
    /// How long the file plays, when it says.
    pub duration: Option<Duration>,
}

/// Where a playing video is, and where the user wants it: shared between the source
/// (on the capture thread) and the seek bar (on the UI thread).
#[derive(Debug)]
pub struct Playback {
    position_ms: AtomicU64,
    duration_ms: AtomicU64,
    seek_ms: AtomicU64,
}

const NO_SEEK: u64 = u64::MAX;

impl Default for Playback {
    fn default() -> Playback {
        Playback {
            position_ms: AtomicU64::new(0),
            duration_ms: AtomicU64::new(0),
            seek_ms: AtomicU64::new(NO_SEEK),
        }
    }
}

impl Playback {
    /// The time in the file of the frame last read.
    pub fn position(&self) -> Duration {
        Duration::from_millis(self.position_ms.load(Ordering::Relaxed))
    }

    /// None when the file does not say.
    pub fn duration(&self) -> Option<Duration> {
        match self.duration_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Asks the source to go on from `to` (the latest request wins).
    pub fn seek(&self, to: Duration) {
        self.seek_ms.store(
            to.as_millis().min(u128::from(NO_SEEK - 1)) as u64,
            Ordering::Relaxed,
        );
    }

    fn take_seek(&self) -> Option<Duration> {
        match self.seek_ms.swap(NO_SEEK, Ordering::Relaxed) {
            NO_SEEK => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn set_position(&self, at: Duration) {
        self.position_ms
            .store(at.as_millis() as u64, Ordering::Relaxed);
    }
}

/// Reads the first video stream's size and rate with `ffprobe`.
pub fn probe(path: &Path) -> Result<VideoInfo, SourceError> {
    let fail = |message: String| SourceError::Video {
        path: path.to_path_buf(),
        message,
    };
    crate::files::check_regular_file(path).map_err(|error| fail(error.to_string()))?;
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate:format=duration")
        .args(["-of", "json", "--"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| fail(spawn_failure("ffprobe", &error)))?;
    if !output.status.success() {
        return Err(fail(format!(
            "not a video ffmpeg can read ({})",
            first_line(&String::from_utf8_lossy(&output.stderr))
        )));
    }
    parse_probe(&String::from_utf8_lossy(&output.stdout)).map_err(fail)
}

/// The `ffprobe -of json` answer as [`VideoInfo`].
pub fn parse_probe(json: &str) -> Result<VideoInfo, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("ffprobe answered oddly: {error}"))?;
    let stream = value
        .get("streams")
        .and_then(|s| s.get(0))
        .ok_or("the file has no video stream")?;
    let side = |key: &str| {
        stream
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0)
    };
    let (Some(width), Some(height)) = (side("width"), side("height")) else {
        return Err("the video stream has no frame size".to_owned());
    };
    let rate = |key: &str| {
        stream
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(parse_rate)
    };
    let duration = value
        .get("format")
        .and_then(|f| f.get("duration"))
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(Duration::from_secs_f64);
    Ok(VideoInfo {
        width,
        height,
        fps: rate("avg_frame_rate").or_else(|| rate("r_frame_rate")),
        duration,
    })
}

/// "30000/1001" or "25" as frames per second; None for "0/0" and nonsense.
fn parse_rate(text: &str) -> Option<f32> {
    let (numerator, denominator) = text.split_once('/').unwrap_or((text, "1"));
    let fps = numerator.parse::<f64>().ok()? / denominator.parse::<f64>().ok()?;
    (fps.is_finite() && fps > 0.0).then_some(fps as f32)
}

/// The size frames are decoded at: the file's, or shrunk to a longer side of
/// [`MAX_VIDEO_SIDE`] with the aspect kept (sides even, as ffmpeg's scaler likes).
pub fn decoded_size(width: u32, height: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= MAX_VIDEO_SIDE {
        return (width, height);
    }
    let side = |length: u32| {
        let scaled = (u64::from(length) * u64::from(MAX_VIDEO_SIDE) / u64::from(longest)).max(2);
        (scaled as u32 + 1) & !1
    };
    (side(width), side(height))
}

fn spawn_failure(program: &str, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!("{program} is not installed: {INSTALL_HINT}")
    } else {
        format!("cannot run {program}: {error}")
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no reason given")
}

/// One run of ffmpeg over the file, from the start.
struct Decoder {
    child: Child,
    frames: ChildStdout,
    /// The end of ffmpeg's error output, drained by a thread so that ffmpeg never
    /// blocks on a full pipe.
    errors: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Decoder {
    /// Decodes from `start` on (`-ss` before `-i`: ffmpeg seeks in the container,
    /// then decodes up to the exact frame).
    fn start(path: &Path, (width, height): (u32, u32), start: Duration) -> Result<Decoder, String> {
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-ss"])
            .arg(format!("{:.3}", start.as_secs_f64()))
            .arg("-i")
            .arg(path)
            .args(["-an", "-sn", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{width}x{height}"))
            .arg("-")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| spawn_failure("ffmpeg", &error))?;
        let (Some(frames), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot read from ffmpeg".to_owned());
        };
        let errors = Arc::new(Mutex::new(String::new()));
        let kept = errors.clone();
        let drain = std::thread::spawn(move || {
            let mut chunk = [0_u8; 512];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                if let (Ok(mut text), Some(bytes)) = (kept.lock(), chunk.get(..n)) {
                    text.push_str(&String::from_utf8_lossy(bytes));
                    if text.len() > STDERR_KEPT {
                        let cut = text.len() - STDERR_KEPT;
                        let cut = (cut..text.len())
                            .find(|&i| text.is_char_boundary(i))
                            .unwrap_or(text.len());
                        text.drain(..cut);
                    }
                }
            }
        });
        Ok(Decoder {
            child,
            frames,
            errors,
            drain: Some(drain),
        })
    }

    /// Fills `buffer` with the next frame; false at the end of the file (a partial
    /// last frame, from a truncated file, is dropped).
    fn read_frame(&mut self, buffer: &mut [u8]) -> std::io::Result<bool> {
        match self.frames.read_exact(buffer) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Ends the run after the last frame; the reason ffmpeg gave if it failed.
    fn finish(mut self) -> Option<String> {
        // Its output ended, so ffmpeg is exiting; one that lingers is ended.
        let deadline = Instant::now() + Duration::from_secs(1);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break None,
            }
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        let errors = self.errors.lock().map(|t| t.clone()).unwrap_or_default();
        let failed = !status.is_some_and(|status| status.success());
        (failed || !errors.trim().is_empty()).then(|| first_line(&errors).to_owned())
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A video file played in a loop at its own frame rate (or the one asked for), from
/// where its [`Playback`] is sought to.
pub struct VideoSource {
    path: PathBuf,
    size: (u32, u32),
    interval: Duration,
    /// The file's own rate: how far each frame moves the position.
    file_fps: f32,
    playback: Arc<Playback>,
    decoder: Option<Decoder>,
    /// Where the current run of ffmpeg started in the file.
    started_at: Duration,
    /// Frames read since then.
    frames_this_pass: u64,
    /// A file that breaks is said once; later loops stop at the break silently.
    break_reported: bool,
}

impl VideoSource {
    /// Probes the file; `fps` overrides its frame rate. `playback` is where the
    /// position is told and seeks are asked for.
    pub fn open(
        path: &Path,
        fps: Option<f32>,
        playback: Arc<Playback>,
    ) -> Result<VideoSource, SourceError> {
        let info = probe(path)?;
        let file_fps = info.fps.unwrap_or(25.0);
        playback.duration_ms.store(
            info.duration.map_or(0, |d| d.as_millis() as u64),
            Ordering::Relaxed,
        );
        Ok(VideoSource {
            path: path.to_path_buf(),
            size: decoded_size(info.width, info.height),
            interval: interval_for_fps(fps.unwrap_or(file_fps)),
            file_fps,
            playback,
            decoder: None,
            started_at: Duration::ZERO,
            frames_this_pass: 0,
            break_reported: false,
        })
    }

    fn fail(&self, message: String) -> SourceError {
        SourceError::Video {
            path: self.path.clone(),
            message,
        }
    }

    /// Reads one frame into `buffer`, starting ffmpeg if needed; false at the end of
    /// the file.
    fn read_one(&mut self, buffer: &mut [u8]) -> Result<bool, SourceError> {
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => {
                let decoder = Decoder::start(&self.path, self.size, self.started_at)
                    .map_err(|m| self.fail(m))?;
                self.frames_this_pass = 0;
                self.decoder.insert(decoder)
            }
        };
        match decoder.read_frame(buffer) {
            Ok(true) => {
                let offset = Duration::from_secs_f64(
                    self.frames_this_pass as f64 / f64::from(self.file_fps),
                );
                self.playback.set_position(self.started_at + offset);
                self.frames_this_pass += 1;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(error) => Err(self.fail(format!("cannot read ffmpeg's frames: {error}"))),
        }
    }
}

impl FrameSource for VideoSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn description(&self) -> String {
        format!(
            "{} ({} x {} at {:.1} fps, in a loop)",
            self.name(),
            self.size.0,
            self.size.1,
            1.0 / self.interval.as_secs_f32()
        )
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        if let Some(to) = self.playback.take_seek() {
            self.decoder = None;
            self.started_at = self
                .playback
                .duration()
                .map_or(to, |duration| to.min(duration));
        }
        let (width, height) = self.size;
        let mut buffer = vec![0_u8; width as usize * height as usize * 3];
        if !self.read_one(&mut buffer)? {
            let frames = self.frames_this_pass;
            let sought = self.started_at > Duration::ZERO;
            self.started_at = Duration::ZERO;
            let reason = self.decoder.take().and_then(Decoder::finish);
            match reason {
                // Sought to the very end: that is the end, not a broken file.
                _ if frames == 0 && sought => {}
                _ if frames == 0 => {
                    return Err(self.fail(format!(
                        "no frame could be decoded ({})",
                        reason.as_deref().unwrap_or("the file holds none")
                    )));
                }
                Some(reason) if !self.break_reported => {
                    self.break_reported = true;
                    return Err(self.fail(format!(
                        "the video breaks after {frames} frames ({reason}); playing it from the start"
                    )));
                }
                _ => {}
            }
            // The end: from the start again.
            if !self.read_one(&mut buffer)? {
                self.decoder = None;
                return Err(self.fail("no frame could be decoded".to_owned()));
            }
        }
        RgbImage::from_raw(width, height, buffer)
            .ok_or_else(|| self.fail("a frame of the wrong size".to_owned()))
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_are_read_and_odd_ones_refused() {
        let info = parse_probe(
            r#"{"streams":[{"width":1920,"height":1080,"r_frame_rate":"30/1","avg_frame_rate":"30000/1001"}],"format":{"duration":"12.500000"}}"#,
        )
        .expect("a video");
        assert_eq!((info.width, info.height), (1920, 1080));
        assert!((info.fps.expect("a rate") - 29.97).abs() < 0.01);
        assert_eq!(info.duration, Some(Duration::from_millis(12_500)));
        let no_rate = parse_probe(
            r#"{"streams":[{"width":8,"height":8,"r_frame_rate":"0/0","avg_frame_rate":"0/0"}]}"#,
        )
        .expect("a video");
        assert_eq!((no_rate.fps, no_rate.duration), (None, None));
        for bad in [
            "",
            r#"{"streams":[]}"#,
            r#"{"streams":[{"width":0,"height":8}]}"#,
        ] {
            assert!(parse_probe(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn large_frames_are_narrowed_with_their_aspect() {
        assert_eq!(decoded_size(640, 480), (640, 480));
        assert_eq!(decoded_size(1920, 1080), (1280, 720));
        assert_eq!(decoded_size(3840, 2160), (1280, 720));
        assert_eq!(decoded_size(1080, 1920), (720, 1280));
        assert_eq!(decoded_size(4000, 3), (1280, 2));
        assert_eq!(decoded_size(1281, 1001), (1280, 1000));
    }
}
