//! `tinyssd detect` on a video: every frame detected and fed to the tracker, as the app
//! does; the tracks shown (those passing their class's threshold, with the tracker's
//! hysteresis) drawn into a new video and written as JSON lines, one per frame
//! ([`FrameTracks`]), or, without `--out-dir`, printed.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::detect::Drawing;
use super::{progress_bar, terminal_safe, write_error};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tinyssd::detect::{
    DetectConfig, Detection, Detector, draw_detections, keep_one_class_per_object,
};
use tinyssd::files::AtomicOutput;
use tinyssd::track::{FrameTracks, Track, TrackedBox, Tracker, TrackerConfig};
use tinyssd::video::{FrameRate, VideoCodec, VideoEncoder, VideoFrames};

/// The annotated video's suffix: MP4 whatever the input's container.
pub const VIDEO_SUFFIX: &str = ".mp4";

/// The JSON-lines file of tracks that goes with the annotated video `video`:
/// `clip.mp4` → `clip.tracks.jsonl`, so the two are numbered apart together.
pub fn tracks_path(video: &Path) -> PathBuf {
    video.with_extension("tracks.jsonl")
}

/// One video's result. `frame_tracks` (the lines the tracks file would hold) only
/// without `--out-dir`, in `--json` output.
#[derive(Serialize)]
pub struct VideoReport {
    video: String,
    /// The frames' size as decoded (and as drawn).
    width: u32,
    height: u32,
    fps: f64,
    frames: u64,
    /// Distinct tracks shown over the whole video.
    tracks: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    drawn_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracks_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame_tracks: Option<Vec<serde_json::Value>>,
}

/// Where each frame's tracks go.
enum FrameSink<'a> {
    /// The tracks file and the annotated video (`--out-dir`). Boxed: on Windows it is
    /// several times the size of the other variants.
    Files(Box<VideoOutputs>),
    /// Text lines on stdout, as images print their detections, each starting with the
    /// video's name (made safe for the terminal).
    Text {
        out: &'a mut dyn Write,
        name: String,
    },
    /// The JSON report's `frame_tracks`.
    Json(Vec<serde_json::Value>),
}

/// Runs the detector and the tracker over every frame of the video at `path`; with a
/// `drawing`, writes the annotated video there and the tracks beside it, else prints
/// each frame's tracks (as text to `stdout`, or into the report for `json`). A progress
/// bar on stderr counts the frames. Nothing is written under an output's name unless
/// the whole video went through.
pub fn detect_video(
    detector: &mut Detector,
    config: &DetectConfig,
    path: &Path,
    drawing: Option<Drawing<'_>>,
    stdout: &mut dyn Write,
    json: bool,
) -> anyhow::Result<VideoReport> {
    let mut frames = VideoFrames::open(path)?;
    let rate = frames.info().frame_rate();
    let (width, height) = frames.size();
    let name = terminal_safe(&path.to_string_lossy()).into_owned();
    let sink = match drawing {
        // Both outputs are claimed before any work, so that a refusal costs nothing.
        Some(drawing) => FrameSink::Files(Box::new(VideoOutputs::create(
            &drawing,
            (width, height),
            rate,
        )?)),
        None if json => FrameSink::Json(Vec::new()),
        None => FrameSink::Text {
            out: stdout,
            name: name.clone(),
        },
    };
    let estimate = frames.info().frame_count_estimate().unwrap_or(0);
    let bar = progress_bar(estimate, &name, "frames")?;
    let mut run = VideoRun::new(config);
    let result = run.all_frames(detector, &mut frames, path, rate, sink, &bar);
    bar.finish_and_clear();
    let (drawn_to, tracks_to, frame_tracks) = match result? {
        FrameSink::Files(outputs) => {
            let codec = outputs.encoder.codec();
            let (video, tracks) = (*outputs).finish()?;
            if codec == VideoCodec::Mpeg4 {
                eprintln!(
                    "tinyssd: {}: MPEG-4 Part 2, as this ffmpeg has no H.264 encoder (libx264)",
                    terminal_safe(&video.to_string_lossy())
                );
            }
            let lossy = |path: PathBuf| Some(path.to_string_lossy().into_owned());
            (lossy(video), lossy(tracks), None)
        }
        FrameSink::Json(lines) => (None, None, Some(lines)),
        FrameSink::Text { .. } => (None, None, None),
    };
    Ok(VideoReport {
        video: path.to_string_lossy().into_owned(),
        width,
        height,
        fps: rate.fps(),
        frames: run.frames_done,
        tracks: run.ids_shown.len(),
        drawn_to,
        tracks_to,
        frame_tracks,
    })
}

/// The detector's settings and the tracker, over one video.
struct VideoRun<'a> {
    /// What the user asked for: the thresholds the tracks are shown at, and the
    /// cross-class suppression of the tracks shown.
    shown: &'a DetectConfig,
    /// What the detector runs with: every box down to the tracker's floor.
    detect: DetectConfig,
    tracker: Tracker,
    frames_done: u64,
    ids_shown: HashSet<u64>,
}

impl<'a> VideoRun<'a> {
    fn new(shown: &'a DetectConfig) -> VideoRun<'a> {
        let tracker_config = TrackerConfig::default();
        VideoRun {
            shown,
            detect: tracker_config.detection_config(shown),
            tracker: Tracker::new(tracker_config),
            frames_done: 0,
            ids_shown: HashSet::new(),
        }
    }

    /// Every frame into the tracker and its tracks into `sink`; the sink back at the end.
    fn all_frames<'s>(
        &mut self,
        detector: &mut Detector,
        frames: &mut VideoFrames,
        path: &Path,
        rate: FrameRate,
        mut sink: FrameSink<'s>,
        bar: &indicatif::ProgressBar,
    ) -> anyhow::Result<FrameSink<'s>> {
        while let Some(mut frame) = frames.next_frame()? {
            let index = self.frames_done;
            let (detections, _) = detector
                .detect(&frame, &self.detect)
                .with_context(|| format!("{}: frame {index}: detection failed", path.display()))?;
            let shown = self.track(&detections);
            let record = FrameTracks::new(index, rate.time_of(index), &shown);
            match &mut sink {
                FrameSink::Files(outputs) => {
                    let boxes: Vec<Detection> = shown.iter().map(|b| b.detection.clone()).collect();
                    draw_detections(&mut frame, &boxes);
                    outputs.write_frame(&frame, &record)?;
                }
                FrameSink::Text { out, name } => {
                    bar.suspend(|| print_frame(&mut **out, name, &record))?;
                }
                FrameSink::Json(lines) => lines.push(serde_json::to_value(&record)?),
            }
            self.frames_done += 1;
            if self.frames_done > bar.length().unwrap_or(0) {
                // The container's count was short (or missing): the bar grows.
                bar.set_length(self.frames_done);
            }
            bar.inc(1);
        }
        Ok(sink)
    }

    /// The frame's detections into the tracker; the tracks shown, as the app shows them.
    fn track(&mut self, detections: &[Detection]) -> Vec<TrackedBox> {
        self.tracker.update(detections, &self.shown.thresholds);
        let mut shown: Vec<TrackedBox> = self.tracker.shown().map(Track::tracked_box).collect();
        keep_one_class_per_object(&mut shown, self.shown.cross_class_iou);
        self.ids_shown.extend(shown.iter().map(|b| b.id));
        shown
    }
}

/// The annotated video being encoded and the tracks file being written, both under
/// temporary names until [`VideoOutputs::finish`].
struct VideoOutputs {
    encoder: VideoEncoder,
    tracks: BufWriter<AtomicOutput>,
}

impl VideoOutputs {
    fn create(drawing: &Drawing<'_>, size: (u32, u32), rate: FrameRate) -> anyhow::Result<Self> {
        let claim = |path: &Path| {
            AtomicOutput::create(path, drawing.replace, drawing.inputs)
                .map_err(|error| write_error(path, error))
        };
        let video = claim(drawing.path)?;
        let tracks = BufWriter::new(claim(&tracks_path(drawing.path))?);
        let encoder = VideoEncoder::start(video, size, rate)?;
        Ok(VideoOutputs { encoder, tracks })
    }

    fn write_frame(
        &mut self,
        frame: &image::RgbImage,
        record: &FrameTracks<'_>,
    ) -> anyhow::Result<()> {
        self.encoder.write_frame(frame)?;
        serde_json::to_writer(&mut self.tracks, record)
            .map_err(std::io::Error::from)
            .and_then(|()| self.tracks.write_all(b"\n"))
            .with_context(|| format!("cannot write {}", self.tracks.get_ref().target().display()))
    }

    /// Both files complete and in place: the video, then its tracks. Their paths.
    fn finish(self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let tracks_path = self.tracks.get_ref().target().to_path_buf();
        let tracks = self
            .tracks
            .into_inner()
            .map_err(|error| anyhow::Error::new(error.into_error()))
            .with_context(|| format!("cannot write {}", tracks_path.display()))?;
        let video = self.encoder.finish()?;
        let video_path = video.target().to_path_buf();
        video
            .commit()
            .map_err(|error| write_error(&video_path, error))?;
        tracks
            .commit()
            .map_err(|error| write_error(&tracks_path, error))?;
        Ok((video_path, tracks_path))
    }
}

/// One frame's tracks as text: a line for the frame, then one per track.
fn print_frame(out: &mut dyn Write, name: &str, record: &FrameTracks<'_>) -> std::io::Result<()> {
    let count = record.tracks.len();
    writeln!(
        out,
        "{name} frame {} ({:.3} s): {count} track{}",
        record.frame,
        record.time,
        if count == 1 { "" } else { "s" }
    )?;
    for track in &record.tracks {
        let d = &track.detection;
        let [x_min, y_min, x_max, y_max] = d.bbox;
        // A frame's tracks all have their ID.
        let id = track.track.unwrap_or_default();
        writeln!(
            out,
            "  {:<12} #{id:<4} {:.3}  [{x_min:.0}, {y_min:.0}, {x_max:.0}, {y_max:.0}]",
            terminal_safe(d.class),
            d.score
        )?;
    }
    Ok(())
}

/// The summary line of a video: frames, tracks and where they went.
pub fn print_video(out: &mut impl Write, report: &VideoReport) -> std::io::Result<()> {
    let written = match (&report.drawn_to, &report.tracks_to) {
        (Some(video), Some(tracks)) => format!(" (drawn to {video}, tracks in {tracks})"),
        _ => String::new(),
    };
    writeln!(
        out,
        "{}",
        terminal_safe(&format!(
            "{}: {} frames, {} track{}{written}",
            report.video,
            report.frames,
            report.tracks,
            if report.tracks == 1 { "" } else { "s" }
        ))
    )
}
