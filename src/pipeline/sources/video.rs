//! A video file as the app's source: played in a loop at the file's frame rate (or the
//! one asked for), from wherever the seek bar puts it. The decoding is
//! [`crate::video`]'s: ffmpeg, on its leash, restarted at each loop and each seek.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::frame_source::{FrameSource, SourceError, interval_for_fps};
use crate::video::{Decoder, FrameRate, decoded_size, decoding_failure, probe};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// A video file played in a loop at its own frame rate (or the one asked for), from
/// where its [`Playback`] is sought to.
pub struct VideoSource {
    path: PathBuf,
    size: (u32, u32),
    interval: Duration,
    /// The file's own rate: how far each frame moves the position.
    file_rate: FrameRate,
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
        let file_rate = info.frame_rate();
        playback.duration_ms.store(
            info.duration.map_or(0, |d| d.as_millis() as u64),
            Ordering::Relaxed,
        );
        Ok(VideoSource {
            path: path.to_path_buf(),
            size: decoded_size(info.display.0, info.display.1),
            interval: interval_for_fps(fps.unwrap_or(file_rate.fps() as f32)),
            file_rate,
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
                let decoder = Decoder::start(&self.path, self.size, self.started_at, None)
                    .map_err(|m| self.fail(m))?;
                self.frames_this_pass = 0;
                self.decoder.insert(decoder)
            }
        };
        match decoder.read_frame() {
            Ok(Some(frame)) => {
                let offset = self.file_rate.time_of(self.frames_this_pass);
                self.playback.set_position(self.started_at + offset);
                self.frames_this_pass += 1;
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(message) => {
                self.decoder = None;
                Err(self.fail(format!("{message}; it is started again")))
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
        // Sought to the very end: that is the end, not a broken file.
        let failure = (!(frames == 0 && sought))
            .then(|| decoding_failure(frames, reason.as_deref()))
            .flatten();
        match failure {
            Some(failure) if frames == 0 => return Err(self.fail(failure)),
            Some(failure) if !self.break_reported => {
                self.break_reported = true;
                return Err(self.fail(format!("{failure}; playing it from the start")));
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
