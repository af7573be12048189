//! Running the detector over labelled images, several at a time, and scoring the result.

use super::EvalError;
use super::ap::{GroundTruthBox, PrCurve, ScoredBox, match_detections};
use super::data::{ProblemKind, Problems, Sample};
use crate::detect::{DetectConfig, Detection, Detector, DetectorError, PixelBudget, PixelPermit};
use crate::engine::{PackedModel, Precision};
use crate::model::Model;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The detector's output on each image that could be read.
#[derive(Debug, Clone)]
pub struct DetectionRun {
    /// The images that ran, in data-set order.
    pub samples: Vec<Sample>,
    /// `detections[i]` are those of `samples[i]`.
    pub detections: Vec<Vec<Detection>>,
    /// Wall time of the whole run, decoding included.
    pub elapsed: Duration,
    /// Images that could not be read (left out of `samples`).
    pub problems: Problems,
}

impl DetectionRun {
    pub fn images_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.samples.len() as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Runs `model` on every sample: `threads` images at a time (0 = one per core), on a
/// rayon pool of that many threads. Each rayon job (a run of images; a few per thread)
/// makes one single-threaded [`Detector`] and keeps it from image to image, so the two
/// levels of threads do not oversubscribe the cores. The images share one
/// [`PixelBudget`], so more threads do not take more memory for large images.
/// `on_image` is called after each image, from the pool (for a progress bar).
pub fn detect_samples(
    model: &Model,
    precision: Precision,
    samples: Vec<Sample>,
    config: &DetectConfig,
    threads: usize,
    on_image: &(dyn Fn() + Sync),
) -> Result<DetectionRun, EvalError> {
    let start = Instant::now();
    let threads = crate::engine::resolve_threads(threads)?.clamp(1, samples.len().max(1));
    let budget = PixelBudget::default();
    // Packed once: every thread runs the same weights with buffers of its own.
    let packed = Arc::new(PackedModel::with_precision(model.clone(), precision)?);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tinyssd-eval-{i}"))
        .build()
        .map_err(|e| EvalError::Threads(std::io::Error::other(e)))?;
    let detect_one = |detector: &mut Result<Detector, DetectorError>, sample: &Sample| {
        let detector = detector
            .as_mut()
            .map_err(|e| EvalError::DetectorStart(e.to_string()))?;
        // The permit keeps the pixels counted until the detections are out.
        let outcome = read_image(&budget, sample).and_then(|(image, _permit)| {
            detector
                .detect(&image, config)
                .map(|(found, _)| found)
                .map_err(|e| format!("{}: {e}", sample.image_path.display()))
        });
        on_image();
        Ok(outcome)
    };
    let outcomes: Vec<ImageOutcome> = pool.install(|| {
        samples
            .par_iter()
            .map_init(|| Detector::from_packed(packed.clone(), 1), detect_one)
            .collect::<Result<_, EvalError>>()
    })?;

    let mut run = DetectionRun {
        samples: Vec::with_capacity(samples.len()),
        detections: Vec::with_capacity(samples.len()),
        elapsed: Duration::ZERO,
        problems: Problems::default(),
    };
    for (sample, outcome) in samples.into_iter().zip(outcomes) {
        match outcome {
            Ok(detections) => {
                run.samples.push(sample);
                run.detections.push(detections);
            }
            Err(message) => run.problems.push(ProblemKind::UnreadableImage, message),
        }
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

/// One image's detections, or why it could not be read.
type ImageOutcome = Result<Vec<Detection>, String>;

fn read_image<'a>(
    budget: &'a PixelBudget,
    sample: &Sample,
) -> Result<(image::RgbImage, PixelPermit<'a>), String> {
    let path = &sample.image_path;
    let (image, permit) = budget
        .read_image(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if image.dimensions() != (sample.width, sample.height) {
        return Err(format!(
            "{}: the image is {} x {} pixels but its annotation says {} x {}",
            path.display(),
            image.width(),
            image.height(),
            sample.width,
            sample.height
        ));
    }
    Ok((image, permit))
}

/// One class's score on the split.
#[derive(Debug, Clone, Serialize)]
pub struct ClassEvaluation {
    pub class_id: usize,
    pub name: String,
    /// VOC2007 11-point interpolated AP, 0..1.
    pub ap11: f64,
    /// All-point AP (VOC2010+), 0..1.
    pub ap_all: f64,
    /// Non-difficult ground truths.
    pub num_gt: usize,
    /// Detections of the class over the split (those matched to difficult objects included).
    pub num_detections: usize,
    #[serde(skip)]
    pub curve: PrCurve,
}

/// Per-class AP and their means over the object classes (background excluded). A class
/// without ground truth in the split scores 0 and still counts in the mean, as in
/// `training/evaluate.py`.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub map11: f64,
    pub map_all: f64,
    pub classes: Vec<ClassEvaluation>,
}

/// Scores `detections[i]` against `samples[i]`'s objects, class by class.
pub fn evaluate(
    class_names: &[String],
    samples: &[Sample],
    detections: &[Vec<Detection>],
    iou_threshold: f32,
) -> Evaluation {
    let classes: Vec<ClassEvaluation> = (1..class_names.len())
        .map(|class_id| {
            let ground_truth: Vec<Vec<GroundTruthBox>> = samples
                .iter()
                .map(|s| {
                    s.objects
                        .iter()
                        .filter(|o| o.class_id == class_id)
                        .map(|o| GroundTruthBox {
                            bbox: o.bbox,
                            difficult: o.difficult,
                        })
                        .collect()
                })
                .collect();
            let scored: Vec<ScoredBox> = detections
                .iter()
                .enumerate()
                .flat_map(|(image, found)| {
                    found
                        .iter()
                        .filter(|d| d.class_id == class_id)
                        .map(move |d| ScoredBox {
                            image,
                            score: d.score,
                            bbox: d.bbox,
                        })
                })
                .collect();
            let curve = match_detections(&scored, &ground_truth, iou_threshold);
            ClassEvaluation {
                class_id,
                name: class_names[class_id].clone(),
                ap11: curve.ap_11_point(),
                ap_all: curve.ap_all_point(),
                num_gt: curve.num_positives,
                num_detections: scored.len(),
                curve,
            }
        })
        .collect();
    let mean = |f: fn(&ClassEvaluation) -> f64| {
        if classes.is_empty() {
            0.0
        } else {
            classes.iter().map(f).sum::<f64>() / classes.len() as f64
        }
    };
    Evaluation {
        map11: mean(|c| c.ap11),
        map_all: mean(|c| c.ap_all),
        classes,
    }
}
