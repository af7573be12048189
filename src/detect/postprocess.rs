//! Raw network outputs to detections: softmax, per-class threshold, box decoding,
//! per-class NMS, boxes mapped to the image's pixels, the optional class-agnostic
//! suppression, and a cap on the total.

use super::nms::{suppress_across_classes, suppress_within_class};
use crate::model::architecture::BOX_COORDS;
use crate::model::box_coder::{Corners, decode};
use crate::model::{CenterBox, ModelMetadata, default_boxes};
use std::sync::Arc;

/// The knobs of post-processing. Class 0 (background) is never reported.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// Minimum confidence per class, indexed by class id.
    pub thresholds: Vec<f32>,
    /// Boxes of one class overlapping a better one by more than this are dropped.
    pub nms_iou: f32,
    /// At most this many detections per image, best first.
    pub top_k: usize,
    /// At most this many candidates per class enter NMS, which is quadratic.
    pub candidates_per_class: usize,
    /// One object, one class: with `Some(iou)`, a box overlapping a better box of
    /// another class by an IoU above `iou` is dropped (horse 0.61 and cow 0.42 on one
    /// animal keep the horse). `None` keeps every class's boxes, as the VOC protocol
    /// scores them.
    pub cross_class_iou: Option<f32>,
}

impl DetectConfig {
    pub const DEFAULT_NMS_IOU: f32 = 0.45;
    pub const DEFAULT_TOP_K: usize = 200;
    pub const DEFAULT_CANDIDATES_PER_CLASS: usize = 400;
    /// The class-agnostic suppression's IoU when it is turned on. It is off by default:
    /// on the validation split it costs recall and mAP (the README has the numbers).
    pub const DEFAULT_CROSS_CLASS_IOU: f32 = 0.85;
    /// Threshold when the model suggests none.
    pub const DEFAULT_THRESHOLD: f32 = 0.5;

    pub fn uniform(num_classes: usize, threshold: f32) -> DetectConfig {
        DetectConfig {
            thresholds: vec![threshold; num_classes],
            nms_iou: Self::DEFAULT_NMS_IOU,
            top_k: Self::DEFAULT_TOP_K,
            candidates_per_class: Self::DEFAULT_CANDIDATES_PER_CLASS,
            cross_class_iou: None,
        }
    }

    /// The model's suggested thresholds: its own for a class where it has one, else
    /// the one it suggests for all.
    pub fn for_model(metadata: &ModelMetadata) -> DetectConfig {
        let mut config = DetectConfig::uniform(
            metadata.class_names.len(),
            metadata.score_threshold.unwrap_or(Self::DEFAULT_THRESHOLD),
        );
        for (slot, name) in config.thresholds.iter_mut().zip(&metadata.class_names) {
            if let Some(&threshold) = metadata.class_score_thresholds.get(name) {
                *slot = threshold;
            }
        }
        config
    }
}

/// The one rule for which boxes a threshold keeps, shared by `detect`, `eval`, `tune`
/// and the app's sliders: a score strictly above its class's threshold (`tune` places
/// thresholds between the last score kept and the first dropped). A class without a
/// threshold keeps nothing.
pub fn passes_threshold(thresholds: &[f32], class_id: usize, score: f32) -> bool {
    thresholds.get(class_id).is_some_and(|&t| score > t)
}

/// One detected object, its box in the original image's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class_id: usize,
    /// The class name, shared with the model's list (cloning it allocates nothing).
    pub label: Arc<str>,
    pub score: f32,
    pub bbox: Corners,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    prior: usize,
    score: f32,
}

/// Holds the default boxes and per-frame scratch space.
pub struct Postprocessor {
    priors: Vec<CenterBox>,
    variances: [f32; 4],
    class_names: Vec<Arc<str>>,
    // Scratch, kept between frames so a frame allocates nothing.
    probabilities: Vec<f32>,
    candidates_by_class: Vec<Vec<Candidate>>,
    kept: Vec<Kept>,
}

/// A box that survived NMS.
#[derive(Debug, Clone, Copy)]
struct Kept {
    class: usize,
    candidate: Candidate,
    bbox: Corners,
}

impl Postprocessor {
    pub fn new(metadata: &ModelMetadata) -> Postprocessor {
        Postprocessor::with_priors(
            default_boxes(&metadata.default_boxes, metadata.input_size),
            metadata.default_boxes.variances,
            metadata.class_names.clone(),
        )
    }

    /// `class_names[0]` is the background class.
    pub fn with_priors(
        priors: Vec<CenterBox>,
        variances: [f32; 4],
        class_names: Vec<String>,
    ) -> Postprocessor {
        Postprocessor {
            priors,
            variances,
            class_names: class_names.into_iter().map(Arc::from).collect(),
            probabilities: Vec::new(),
            candidates_by_class: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// `loc` is [boxes][4] offsets and `conf` [boxes][classes] logits, as the engine
    /// emits them; the image is `width` x `height` pixels. Replaces the contents of
    /// `detections`, whose capacity is reused, so a steady stream of frames allocates
    /// nothing.
    pub fn run_into(
        &mut self,
        loc: &[f32],
        conf: &[f32],
        config: &DetectConfig,
        width: u32,
        height: u32,
        detections: &mut Vec<Detection>,
    ) {
        let classes = self.class_names.len();
        // A class's probability is at most 1 / (1 + e^(background - class logit)), so a
        // box whose best class logit does not beat the background logit by
        // ln(t / (1 - t)) for the lowest threshold t cannot pass: most boxes are skipped
        // before any exponential.
        let lowest = config
            .thresholds
            .iter()
            .skip(1)
            .copied()
            .fold(1.0f32, f32::min);
        // (Less a hair, so rounding at the boundary never drops a box that passes.)
        let margin = (lowest / (1.0 - lowest)).ln() - 1e-3;
        self.candidates_by_class.resize_with(classes, Vec::new);
        self.candidates_by_class.iter_mut().for_each(Vec::clear);
        for (prior, logits) in conf.chunks_exact(classes).enumerate() {
            let best = logits[1..]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            if best - logits[0] <= margin {
                continue;
            }
            self.probabilities.clear();
            self.probabilities.extend_from_slice(logits);
            softmax(&mut self.probabilities);
            for (class, &score) in self.probabilities.iter().enumerate().skip(1) {
                if passes_threshold(&config.thresholds, class, score) {
                    self.candidates_by_class[class].push(Candidate { prior, score });
                }
            }
        }

        self.kept.clear();
        for class in 1..classes {
            let candidates = &mut self.candidates_by_class[class];
            // Best first; equal scores keep the lower box index first, so ties are
            // deterministic (an unstable sort on a total order: no allocation).
            candidates
                .sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.prior.cmp(&b.prior)));
            candidates.truncate(config.candidates_per_class);

            let first_of_class = self.kept.len();
            for &candidate in candidates.iter() {
                let first = candidate.prior * BOX_COORDS;
                let offset = &loc[first..first + BOX_COORDS];
                let bbox = decode(&self.priors[candidate.prior], offset, &self.variances);
                self.kept.push(Kept {
                    class,
                    candidate,
                    bbox,
                });
            }
            let survivors =
                suppress_within_class(&mut self.kept[first_of_class..], config.nms_iou, |k| {
                    &k.bbox
                });
            self.kept.truncate(first_of_class + survivors);
        }
        self.kept.sort_unstable_by(|a, b| {
            (b.candidate.score.total_cmp(&a.candidate.score))
                .then(a.class.cmp(&b.class))
                .then(a.candidate.prior.cmp(&b.candidate.prior))
        });
        detections.clear();
        // The class-agnostic pass picks its survivors from every kept box, in the
        // pixels the user sees (where clipping has already trimmed the boxes).
        let taken = match config.cross_class_iou {
            Some(_) => self.kept.len(),
            None => config.top_k,
        };
        detections.extend(self.kept.iter().take(taken).map(|k| Detection {
            class_id: k.class,
            label: Arc::clone(&self.class_names[k.class]),
            score: k.candidate.score,
            bbox: to_pixels(&k.bbox, width, height),
        }));
        if let Some(iou) = config.cross_class_iou {
            suppress_across_classes(detections, iou, config.top_k);
        }
    }
}

fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in logits.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    logits.iter_mut().for_each(|v| *v /= sum);
}

/// Normalised corners to pixels, clipped to the image.
fn to_pixels(b: &Corners, width: u32, height: u32) -> Corners {
    let (w, h) = (width as f32, height as f32);
    Corners {
        x_min: (b.x_min * w).clamp(0.0, w),
        y_min: (b.y_min * h).clamp(0.0, h),
        x_max: (b.x_max * w).clamp(0.0, w),
        y_max: (b.y_max * h).clamp(0.0, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_survives_large_logits() {
        let mut v = [1000.0, 1000.0, -1000.0];
        softmax(&mut v);
        assert!((v[0] - 0.5).abs() < 1e-6 && (v[1] - 0.5).abs() < 1e-6 && v[2] == 0.0);
    }
}
