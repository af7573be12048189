//! Per-class confidence thresholds chosen on a labelled split.
//!
//! A class's matched detections ([`PrCurve`]) are cut after each distinct score; each cut
//! has a precision, a recall and an F1. [`TuneGoal::MaxF1`] takes the cut with the best
//! F1 (the highest threshold on a tie), [`TuneGoal::MinPrecision`] the lowest threshold
//! whose precision reaches the target. The threshold returned lies between the last score
//! kept and the first one dropped, so the detector's `score > threshold` keeps exactly
//! the detections of that cut.

use super::ap::PrCurve;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TuneGoal {
    /// The threshold with the best F1.
    MaxF1,
    /// The lowest threshold whose precision is at least this (0..=1).
    MinPrecision(f64),
}

/// How a class's threshold came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuneOutcome {
    Tuned,
    /// No threshold reaches the target precision: the most precise one was taken.
    PrecisionNotReached,
    /// The split has objects of the class but no detection finds one: the fallback was taken.
    NoTruePositives,
    /// The split has no (non-difficult) object of the class: the fallback was taken.
    NoGroundTruth,
}

impl TuneOutcome {
    /// A short note for tables; empty when tuned.
    pub fn note(self) -> &'static str {
        match self {
            TuneOutcome::Tuned => "",
            TuneOutcome::PrecisionNotReached => "target precision not reached",
            TuneOutcome::NoTruePositives => "no true positive: the model's value kept",
            TuneOutcome::NoGroundTruth => "no object in the split: the model's value kept",
        }
    }
}

/// The chosen threshold of one class and how it does on the split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassThreshold {
    pub class_id: usize,
    pub name: String,
    pub threshold: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Counted detections (difficult matches left out) above the threshold.
    pub detections: usize,
    pub outcome: TuneOutcome,
}

/// Precision, recall and F1 of the detections scoring above `threshold`.
pub fn stats_at(curve: &PrCurve, threshold: f32) -> (f64, f64, f64, usize) {
    let kept = curve.scores.iter().take_while(|&&s| s > threshold).count();
    let tp = curve.true_positive[..kept].iter().filter(|&&t| t).count();
    stats(tp, kept, curve.num_positives)
}

fn stats(tp: usize, kept: usize, positives: usize) -> (f64, f64, f64, usize) {
    let precision = if kept > 0 {
        tp as f64 / kept as f64
    } else {
        0.0
    };
    let recall = if positives > 0 {
        tp as f64 / positives as f64
    } else {
        0.0
    };
    let f1 = if tp > 0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1, kept)
}

/// A place to cut: (index of the last detection kept, precision, F1).
type Cut = (usize, f64, f64);

/// Chooses a threshold for one class. `floor` is the lowest threshold the curve's
/// detections were made with (cuts keeping every detection return it); `fallback` is
/// used where the split cannot tell (no object of the class, or none found).
pub fn choose_threshold(
    curve: &PrCurve,
    goal: TuneGoal,
    floor: f32,
    fallback: f32,
) -> (f32, TuneOutcome) {
    if curve.num_positives == 0 {
        return (fallback, TuneOutcome::NoGroundTruth);
    }
    let scores = &curve.scores;
    // (index of the last detection kept, precision, F1) per cut.
    let mut cuts: Vec<Cut> = Vec::new();
    let mut tp = 0;
    for (k, &is_tp) in curve.true_positive.iter().enumerate() {
        tp += usize::from(is_tp);
        let last_of_score = scores.get(k + 1).is_none_or(|&next| next < scores[k]);
        if last_of_score && tp > 0 {
            let (precision, _, f1, _) = stats(tp, k + 1, curve.num_positives);
            cuts.push((k, precision, f1));
        }
    }
    if cuts.is_empty() {
        return (fallback, TuneOutcome::NoTruePositives);
    }
    let threshold_after = |k: usize| match scores.get(k + 1) {
        None => floor.min(scores[k].next_down()),
        Some(&next) => {
            let mid = next + (scores[k] - next) / 2.0;
            if mid < scores[k] { mid } else { next }
        }
    };
    let pick = |better: &dyn Fn(&Cut, &Cut) -> bool| {
        let mut best = cuts[0];
        for cut in &cuts[1..] {
            if better(cut, &best) {
                best = *cut;
            }
        }
        best.0
    };
    match goal {
        TuneGoal::MaxF1 => (threshold_after(pick(&|a, b| a.2 > b.2)), TuneOutcome::Tuned),
        TuneGoal::MinPrecision(target) => {
            match cuts
                .iter()
                .rev()
                .find(|(_, precision, _)| *precision >= target)
            {
                Some(&(k, _, _)) => (threshold_after(k), TuneOutcome::Tuned),
                None => (
                    threshold_after(pick(&|a, b| a.1 >= b.1)),
                    TuneOutcome::PrecisionNotReached,
                ),
            }
        }
    }
}

/// Thresholds for every class of an evaluation, with their precision, recall and F1. A
/// class the split cannot judge keeps its value in `current` (by class id: the model's
/// own suggestion), or `DetectConfig::DEFAULT_THRESHOLD` where that has none.
pub fn tune(
    classes: &[super::ClassEvaluation],
    goal: TuneGoal,
    floor: f32,
    current: &[f32],
) -> Vec<ClassThreshold> {
    classes
        .iter()
        .map(|class| {
            let fallback = current
                .get(class.class_id)
                .copied()
                .unwrap_or(crate::detect::DetectConfig::DEFAULT_THRESHOLD);
            let (threshold, outcome) = choose_threshold(&class.curve, goal, floor, fallback);
            let (precision, recall, f1, detections) = stats_at(&class.curve, threshold);
            ClassThreshold {
                class_id: class.class_id,
                name: class.name.clone(),
                threshold,
                precision,
                recall,
                f1,
                detections,
                outcome,
            }
        })
        .collect()
}
