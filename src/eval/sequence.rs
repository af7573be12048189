//! The tracking benchmark: labelled photos filmed by a virtual camera
//! ([`crate::detect::camera_path`]), one after another (each change of photo a cut), with
//! the true boxes moved exactly with the picture; every frame run through the detector,
//! and its boxes scored raw (the model's thresholds on each frame's scores) and tracked
//! ([`crate::track::Tracker`] at the same thresholds).

use super::data::Sample;
use super::tracking::{Hypothesis, TrackingScore, TrackingTally, TruthBox};
use crate::detect::camera_path::{pan_zoom_window, render, to_frame};
use crate::detect::{
    DetectConfig, Detector, DetectorError, keep_one_class_per_object, passes_threshold, read_image,
};
use crate::model::box_coder::Corners;
use crate::track::{Track, Tracker, TrackerConfig};
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
    /// The cross-class suppression both views were shown with; None: off.
    pub cross_class_iou: Option<f32>,
    /// Photos that could not be read (skipped).
    pub unreadable: Vec<String>,
    pub raw: TrackingScore,
    pub tracked: TrackingScore,
    /// The tracker's own time per frame, in microseconds.
    pub tracker_us_per_frame: f64,
}

/// Films each sample for `frames_per_photo` frames and scores raw and tracked boxes,
/// both shown as `shown` says: its thresholds (per class id, as the sliders hold them)
/// and its cross-class suppression, which acts on the boxes that pass (as in the app).
/// `on_frame` runs after each frame.
pub fn run_sequences(
    detector: &mut Detector,
    samples: &[Sample],
    shown: &DetectConfig,
    tracker_config: &TrackerConfig,
    frames_per_photo: u32,
    on_frame: &dyn Fn(),
) -> Result<SequenceReport, DetectorError> {
    let thresholds = &shown.thresholds;
    let detect_config = tracker_config.detection_config(shown);
    let mut tracker = Tracker::new(tracker_config.clone());
    let (mut raw, mut tracked) = (TrackingTally::default(), TrackingTally::default());
    let (mut detections, mut truth) = (Vec::new(), Vec::new());
    let (mut passing, mut tracks, mut hypotheses) = (Vec::new(), Vec::new(), Vec::new());
    let mut tracker_time = Duration::ZERO;
    let mut report = SequenceReport {
        photos: 0,
        frames: 0,
        cross_class_iou: shown.cross_class_iou,
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
                let whole = to_frame(&object.bbox, &window, FRAME_WIDTH);
                let visible = in_frame(&whole);
                let in_view = whole.area() > 0.0 && visible.area() >= MIN_VISIBLE * whole.area();
                if !object.difficult && in_view {
                    truth.push(TruthBox {
                        object: first_object + number as u32,
                        class_id: object.class_id,
                        bbox: visible,
                    });
                }
            }
            detector.detect_into(&image, &detect_config, &mut detections)?;
            passing.clear();
            passing.extend(
                detections
                    .iter()
                    .filter(|d| passes_threshold(thresholds, d.class_id, d.score))
                    .cloned(),
            );
            keep_one_class_per_object(&mut passing, shown.cross_class_iou);
            hypotheses.clear();
            hypotheses.extend(passing.iter().map(|d| Hypothesis {
                id: None,
                class_id: d.class_id,
                bbox: d.bbox,
            }));
            raw.add_frame(&truth, &hypotheses);
            let start = Instant::now();
            tracker.update(&detections, thresholds);
            tracker_time += start.elapsed();
            tracks.clear();
            tracks.extend(tracker.shown().map(Track::tracked_box));
            keep_one_class_per_object(&mut tracks, shown.cross_class_iou);
            hypotheses.clear();
            hypotheses.extend(tracks.iter().map(|t| Hypothesis {
                id: Some(t.id),
                class_id: t.detection.class_id,
                bbox: t.detection.bbox,
            }));
            tracked.add_frame(&truth, &hypotheses);
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

/// The part of a box inside the frame: a truncated object's true box in a frame, as VOC
/// annotates truncated objects (the visible extent, not the estimated whole) and as the
/// detector's boxes are clipped. Scored whole, an object half in view could never be
/// found at an IoU of 0.5.
fn in_frame(b: &Corners) -> Corners {
    Corners {
        x_min: b.x_min.max(0.0),
        y_min: b.y_min.max(0.0),
        x_max: b.x_max.min(FRAME_WIDTH as f32),
        y_max: b.y_max.min(FRAME_HEIGHT as f32),
    }
}
