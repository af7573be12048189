//! Video files, decoded by the `ffmpeg` program: a child process writes raw RGB frames
//! to a pipe and the source reads one frame at a time, at the file's frame rate, in a
//! loop. ffmpeg reads every common container and codec (MP4/H.264, MKV, WebM, AVI) and
//! costs nothing at build time; Rust decoders either handle one codec without a
//! demuxer (openh264) or need libav's headers to build (ffmpeg-next). When ffmpeg is
//! missing, the error names the package to install.
//!
//! ffmpeg is kept on a leash: it reads the named file only (the `file` protocol, a
//! whitelist of video containers, so no playlist or concat list leads it to other files,
//! pipes or the network), probing and every frame have a time limit (a stalled decoder
//! is killed and reported, as a stalled camera is), and on Linux it dies with the thread
//! that started it, so no exit path leaves one behind.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::source::{FrameSource, SourceError, interval_for_fps};
use image::RgbImage;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames with a longer side than this are scaled down by ffmpeg while decoding: the
/// network sees 300x300, and a 4K frame would cost 25 MB a frame on the pipe.
pub const MAX_VIDEO_SIDE: u32 = 1280;
/// How much of ffmpeg's error output is kept for the message.
const STDERR_KEPT: usize = 2048;
const INSTALL_HINT: &str =
    "install ffmpeg (Debian/Ubuntu: apt install ffmpeg; macOS: brew install ffmpeg)";
/// How long ffprobe may take to describe a file, and ffmpeg to deliver a frame (the
/// first one included, after a seek in a long file): far above a real file's needs.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
const FRAME_LIMIT: Duration = Duration::from_secs(10);
/// The containers ffmpeg may open (its demuxer names): video files, and nothing that
/// refers to other files (concat lists, HLS/DASH playlists, image sequences).
const CONTAINERS: &str =
    "mov,matroska,webm,avi,h264,hevc,mpegts,mpeg,mpegvideo,flv,ogg,asf,m4v,ivf,obu";

/// What the file's first video stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as the file says (its average rate, else its base rate).
    pub fps: Option<f32>,
    /// The frame as shown: turned by the file's rotation (a phone held upright) and
    /// stretched by its pixel aspect ratio (anamorphic video), as ffmpeg decodes it.
    pub display: (u32, u32),
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

/// The options that make ffmpeg and ffprobe read `path` as a local video file only.
fn input_args(path: &Path) -> [OsString; 5] {
    let mut url = OsString::from("file:");
    url.push(path);
    [
        "-protocol_whitelist".into(),
        "file".into(),
        "-format_whitelist".into(),
        CONTAINERS.into(),
        url,
    ]
}

/// A command for one of ffmpeg's programs. On Linux the child is killed when the
/// thread that starts it ends (the capture thread, or the process at start-up), so a
/// crash or a hurried exit leaves no ffmpeg behind.
fn ffmpeg_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec, where only
        // async-signal-safe calls are allowed: it makes one `prctl` system call with
        // integer arguments, allocates nothing and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command
}

/// Reads the first video stream's size, rate and orientation with `ffprobe`, within
/// [`PROBE_LIMIT`].
pub fn probe(path: &Path) -> Result<VideoInfo, SourceError> {
    let fail = |message: String| SourceError::Video {
        path: path.to_path_buf(),
        message,
    };
    crate::files::check_regular_file(path).map_err(|error| fail(error.to_string()))?;
    let mut command = ffmpeg_command("ffprobe");
    command
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg(
            "stream=width,height,avg_frame_rate,r_frame_rate,sample_aspect_ratio\
             :stream_side_data=rotation:stream_tags=rotate:format=duration",
        )
        .args(["-of", "json"])
        .args(input_args(path));
    let (status, stdout, stderr) = output_within(command, PROBE_LIMIT).map_err(fail)?;
    if !status.success() {
        let reason = first_line(&stderr);
        let hint = if reason.contains("not on whitelist") {
            ": tinyssd plays video files (MP4, MKV, WebM, AVI, ...), not playlists or lists of files"
        } else {
            ""
        };
        return Err(fail(format!(
            "not a video ffmpeg can read ({reason}){hint}"
        )));
    }
    parse_probe(&stdout).map_err(fail)
}

/// Runs `command` to its end and returns its status and output, or kills it once
/// `limit` has passed.
fn output_within(
    mut command: Command,
    limit: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_failure(&program, &error))?;
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} gave no answer in {} s: stopped it (does the file make it wait, like a pipe?)",
                    limit.as_secs_f32()
                ));
            }
            Err(error) => return Err(format!("cannot wait for {program}: {error}")),
        }
    };
    let joined = |reader: std::thread::JoinHandle<String>| reader.join().unwrap_or_default();
    Ok((status, joined(stdout), joined(stderr)))
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
    let pixel_aspect = stream
        .get("sample_aspect_ratio")
        .and_then(|v| v.as_str())
        .and_then(|text| {
            let (n, d) = text.split_once(':')?;
            let ratio = n.parse::<f64>().ok()? / d.parse::<f64>().ok()?;
            (ratio.is_finite() && ratio > 0.0).then_some(ratio)
        })
        .unwrap_or(1.0);
    let rotation = stream
        .get("side_data_list")
        .and_then(|list| list.as_array())
        .and_then(|list| {
            list.iter()
                .find_map(|entry| entry.get("rotation")?.as_f64())
        })
        .or_else(|| stream.get("tags")?.get("rotate")?.as_str()?.parse().ok())
        .unwrap_or(0.0);
    Ok(VideoInfo {
        width,
        height,
        fps: rate("avg_frame_rate").or_else(|| rate("r_frame_rate")),
        display: display_size(width, height, pixel_aspect, rotation),
        duration,
    })
}

/// The size ffmpeg decodes a `width` x `height` stream to: its pixels stretched by their
/// aspect ratio (sides even, at least 2), then turned a quarter if `rotation` says so.
fn display_size(width: u32, height: u32, pixel_aspect: f64, rotation: f64) -> (u32, u32) {
    let even = |length: f64| ((length.round() as u32).max(2) + 1) & !1;
    let (shown_width, shown_height) = if (pixel_aspect - 1.0).abs() < 1e-6 {
        (width, height)
    } else if pixel_aspect > 1.0 {
        (even(f64::from(width) * pixel_aspect), height)
    } else {
        (width, even(f64::from(height) / pixel_aspect))
    };
    let quarter_turns = (rotation / 90.0).round().rem_euclid(4.0);
    if quarter_turns == 1.0 || quarter_turns == 3.0 {
        (shown_height, shown_width)
    } else {
        (shown_width, shown_height)
    }
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

/// What the frame reader sends: a frame, the end of the output, or a read error.
type FrameMessage = std::io::Result<Option<Vec<u8>>>;

/// One run of ffmpeg over the file. A thread of its own reads the frames from ffmpeg's
/// pipe, so that waiting for one has a time limit.
struct Decoder {
    child: Child,
    frames: Receiver<FrameMessage>,
    /// The end of ffmpeg's error output, drained by a thread so that ffmpeg never
    /// blocks on a full pipe.
    errors: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Decoder {
    /// Decodes from `start` on. The seek is passed only when there is one: `-ss` before
    /// `-i` makes ffmpeg seek in the container (then decode up to the exact frame), which
    /// raw streams and some AVI files cannot do even to 0.
    fn start(path: &Path, (width, height): (u32, u32), start: Duration) -> Result<Decoder, String> {
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
            .arg(format!("{width}x{height}"))
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
        let errors = Arc::new(Mutex::new(String::new()));
        let drain = std::thread::Builder::new()
            .name("tinyssd-ffmpeg-errors".into())
            .spawn({
                let kept = errors.clone();
                move || keep_the_end(stderr, &kept)
            });
        let (Ok(_), Ok(drain)) = (reader, drain) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cannot start a thread to read ffmpeg's output".to_owned());
        };
        Ok(Decoder {
            child,
            frames,
            errors,
            drain: Some(drain),
        })
    }

    /// The next frame; None at the end of the file (a partial last frame, from a
    /// truncated file, is dropped). An ffmpeg that sends nothing for [`FRAME_LIMIT`] is
    /// stopped and reported.
    fn read_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.frames.recv_timeout(FRAME_LIMIT) {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(error)) => Err(format!("cannot read ffmpeg's frames: {error}")),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                Err(format!(
                    "ffmpeg sent no frame for {} s: stopped it; it is started again",
                    FRAME_LIMIT.as_secs_f32()
                ))
            }
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

/// The error-drain thread: keeps the last [`STDERR_KEPT`] bytes ffmpeg writes.
fn keep_the_end(mut stderr: ChildStderr, kept: &Mutex<String>) {
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
    /// The picture of a file that holds one frame: shown again at every interval
    /// instead of starting ffmpeg once a frame.
    still: Option<RgbImage>,
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
            size: decoded_size(info.display.0, info.display.1),
            interval: interval_for_fps(fps.unwrap_or(file_fps)),
            file_fps,
            playback,
            decoder: None,
            started_at: Duration::ZERO,
            frames_this_pass: 0,
            break_reported: false,
            still: None,
        })
    }

    fn fail(&self, message: String) -> SourceError {
        SourceError::Video {
            path: self.path.clone(),
            message,
        }
    }

    /// Reads one frame, starting ffmpeg if needed; None at the end of the file. A
    /// stalled ffmpeg is dropped, so the next read starts it again.
    fn read_one(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => {
                let decoder = Decoder::start(&self.path, self.size, self.started_at)
                    .map_err(|m| self.fail(m))?;
                self.frames_this_pass = 0;
                self.decoder.insert(decoder)
            }
        };
        match decoder.read_frame() {
            Ok(Some(frame)) => {
                let offset = Duration::from_secs_f64(
                    self.frames_this_pass as f64 / f64::from(self.file_fps),
                );
                self.playback.set_position(self.started_at + offset);
                self.frames_this_pass += 1;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(message) => {
                self.decoder = None;
                Err(self.fail(message))
            }
        }
    }

    fn image(&self, pixels: Vec<u8>) -> Result<RgbImage, SourceError> {
        RgbImage::from_raw(self.size.0, self.size.1, pixels)
            .ok_or_else(|| self.fail("a frame of the wrong size".to_owned()))
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
            self.still = None;
            self.started_at = self
                .playback
                .duration()
                .map_or(to, |duration| to.min(duration));
        }
        if let Some(still) = &self.still {
            return Ok(still.clone());
        }
        if let Some(frame) = self.read_one()? {
            return self.image(frame);
        }
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
        let Some(frame) = self.read_one()? else {
            self.decoder = None;
            return Err(self.fail("no frame could be decoded".to_owned()));
        };
        let image = self.image(frame)?;
        if frames == 1 && !sought {
            // One frame in the whole file (a still): keep it rather than restart ffmpeg
            // for every frame.
            self.decoder = None;
            self.still = Some(image.clone());
        }
        Ok(image)
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
    fn rotation_and_pixel_aspect_give_the_size_shown() {
        let info = parse_probe(
            r#"{"streams":[{"width":1920,"height":1080,"sample_aspect_ratio":"1:1","side_data_list":[{"rotation":-90}]}]}"#,
        )
        .expect("a video");
        assert_eq!(info.display, (1080, 1920), "a phone video stands upright");
        let tagged =
            parse_probe(r#"{"streams":[{"width":640,"height":480,"tags":{"rotate":"180"}}]}"#)
                .expect("a video");
        assert_eq!(tagged.display, (640, 480), "half a turn keeps the size");
        assert_eq!(
            display_size(720, 576, 16.0 / 11.0, 0.0),
            (1048, 576),
            "PAL 16:9"
        );
        assert_eq!(display_size(720, 480, 0.5, 90.0), (960, 720));
        assert_eq!(display_size(161, 120, 1.0, 0.0), (161, 120));
    }

    #[test]
    fn a_program_that_does_not_answer_is_stopped_at_its_limit() {
        let mut sleeper = Command::new("sleep");
        sleeper.arg("30");
        let started = Instant::now();
        let error = output_within(sleeper, Duration::from_millis(200)).expect_err("stopped");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(error.contains("sleep gave no answer in 0.2 s"), "{error}");
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
