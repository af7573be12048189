//! The tracking benchmark: labelled photos filmed by a virtual camera
//! ([`crate::detect::camera_path`]), one after another (each change of photo a cut), with
//! the true boxes moved exactly with the picture; every frame run through the detector,
//! and its boxes scored raw (the model's thresholds on each frame's scores) and tracked
//! ([`crate::track::Tracker`] at the same thresholds).

use super::data::Sample;
use super::tracking::{Hypothesis, TrackingScore, TrackingTally, TruthBox};
use crate::detect::camera_path::{pan_zoom_window, render, to_frame};
use crate::detect::{DetectConfig, Detector, DetectorError, passes_threshold, read_image};
use crate::model::box_coder::Corners;
use crate::track::{Tracker, TrackerConfig};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The frames' size: the demo source's.
pub const FRAME_WIDTH: u32 = 640;
pub const FRAME_HEIGHT: u32 = 480;
/// A true object counts as in view while at least this share of its box is in the frame.
pub const MIN_VISIBLE: f32 = 0.5;
/// Sensor noise: every byte of a frame moves by up to this many levels, uniformly
/// (a standard deviation of 5.8, a webcam's indoors). Without it a still photo filmed
/// smoothly gives the detector nearly the same picture twice, and no flicker to measure.
pub const SENSOR_NOISE: u8 = 10;

/// What a sequence run measured.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceReport {
    pub photos: usize,
    pub frames: u32,
    /// Photos that could not be read (skipped).
    pub unreadable: Vec<String>,
    pub raw: TrackingScore,
    pub tracked: TrackingScore,
    /// The tracker's own time per frame, in microseconds.
    pub tracker_us_per_frame: f64,
}

/// Films each sample for `frames_per_photo` frames and scores raw and tracked boxes;
/// `thresholds` are per class id, as the sliders hold them. `on_frame` runs after each frame.
pub fn run_sequences(
    detector: &mut Detector,
    samples: &[Sample],
    thresholds: &[f32],
    tracker_config: &TrackerConfig,
    frames_per_photo: u32,
    on_frame: &dyn Fn(),
) -> Result<SequenceReport, DetectorError> {
    let shown = DetectConfig {
        thresholds: thresholds.to_vec(),
        ..DetectConfig::uniform(thresholds.len(), 0.0)
    };
    let detect_config = tracker_config.detection_config(&shown);
    let mut tracker = Tracker::new(tracker_config.clone());
    let (mut raw, mut tracked) = (TrackingTally::default(), TrackingTally::default());
    let (mut detections, mut truth, mut shown) = (Vec::new(), Vec::new(), Vec::new());
    let mut tracker_time = Duration::ZERO;
    let mut report = SequenceReport {
        photos: 0,
        frames: 0,
        unreadable: Vec::new(),
        raw: TrackingScore::default(),
        tracked: TrackingScore::default(),
        tracker_us_per_frame: 0.0,
    };
    // A true object's name across frames: its photo and its place in the photo's list.
    let mut next_object = 0u32;
    for (index, sample) in samples.iter().enumerate() {
        let first_object = next_object;
        next_object += sample.objects.len() as u32;
        let photo = match read_image(&sample.image_path) {
            Ok(photo) => photo,
            Err(_) => {
                report.unreadable.push(sample.id.clone());
                continue;
            }
        };
        report.photos += 1;
        for frame in 0..frames_per_photo {
            let progress = frame as f32 / frames_per_photo as f32;
            let window = pan_zoom_window(photo.dimensions(), FRAME_WIDTH, FRAME_HEIGHT, progress);
            let mut image = render(&photo, window, FRAME_WIDTH, FRAME_HEIGHT);
            add_noise(&mut image, (index as u64) << 32 | u64::from(frame));
            truth.clear();
            for (number, object) in sample.objects.iter().enumerate() {
                let bbox = to_frame(&object.bbox, &window, FRAME_WIDTH);
                if !object.difficult && visible_share(&bbox) >= MIN_VISIBLE {
                    truth.push(TruthBox {
                        object: first_object + number as u32,
                        class_id: object.class_id,
                        bbox,
                    });
                }
            }
            detector.detect_into(&image, &detect_config, &mut detections)?;
            shown.clear();
            let passing = detections
                .iter()
                .filter(|d| passes_threshold(thresholds, d.class_id, d.score));
            shown.extend(passing.map(|d| Hypothesis {
                id: None,
                class_id: d.class_id,
                bbox: d.bbox,
            }));
            raw.add_frame(&truth, &shown);
            let start = Instant::now();
            tracker.update(&detections, thresholds);
            tracker_time += start.elapsed();
            shown.clear();
            shown.extend(tracker.shown().map(|t| Hypothesis {
                id: Some(t.id),
                class_id: t.class_id,
                bbox: t.bbox,
            }));
            tracked.add_frame(&truth, &shown);
            report.frames += 1;
            on_frame();
        }
    }
    report.raw = raw.score();
    report.tracked = tracked.score();
    report.tracker_us_per_frame =
        tracker_time.as_secs_f64() * 1e6 / f64::from(report.frames.max(1));
    Ok(report)
}

/// [`SENSOR_NOISE`], the same for the same `seed`.
fn add_noise(image: &mut image::RgbImage, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let noise = i16::from(SENSOR_NOISE);
    for byte in image.iter_mut() {
        *byte = (i16::from(*byte) + rng.i16(-noise..=noise)).clamp(0, 255) as u8;
    }
}

/// The share of a box inside the frame.
fn visible_share(b: &Corners) -> f32 {
    let clipped = Corners {
        x_min: b.x_min.max(0.0),
        y_min: b.y_min.max(0.0),
        x_max: b.x_max.min(FRAME_WIDTH as f32),
        y_max: b.y_max.min(FRAME_HEIGHT as f32),
    };
    let area = b.area();
    if area > 0.0 {
        clipped.area() / area
    } else {
        0.0
    }
}
