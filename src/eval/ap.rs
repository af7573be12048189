//! Matching detections to ground truth and average precision, the VOC2007 way.
//!
//! One class at a time: detections of the whole split are sorted by score (best first;
//! equal scores keep their input order); each one is compared with the ground truths of
//! its image and takes the one it overlaps most. At IoU >= the protocol's `match_iou`
//! ([`super::Protocol`]) with a non-difficult, not-yet-matched ground truth it is a
//! true positive; a second detection of the same object is a false positive; a
//! detection whose best overlap is a difficult object is dropped (neither true nor
//! false positive). This is the VOC devkit's rule and the one of
//! `training/evaluate.py`.

use crate::model::Corners;

/// One ground-truth object of one class, in continuous pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruthBox {
    pub bbox: Corners,
    pub difficult: bool,
}

/// One detection of one class: which image (an index into the ground truth), its
/// score and its box in that image's continuous pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBox {
    pub image: usize,
    pub score: f32,
    pub bbox: Corners,
}

/// The outcome of matching one class: the detections that counted, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrCurve {
    /// Scores of the detections that counted (difficult matches left out), descending.
    pub scores: Vec<f32>,
    /// Whether each of them is a true positive.
    pub true_positive: Vec<bool>,
    /// Non-difficult ground truths of the class.
    pub num_positives: usize,
}

/// Matches one class's detections over the split; `ground_truth[i]` holds image i's
/// objects of that class.
pub fn match_detections(
    detections: &[ScoredBox],
    ground_truth: &[Vec<GroundTruthBox>],
    iou_threshold: f32,
) -> PrCurve {
    let num_positives = ground_truth
        .iter()
        .flatten()
        .filter(|g| !g.difficult)
        .count();
    let mut order: Vec<usize> = (0..detections.len()).collect();
    // Stable: equal scores keep their input order, as Python's sorted() does.
    order.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
    let mut matched: Vec<Vec<bool>> = ground_truth.iter().map(|g| vec![false; g.len()]).collect();
    let mut curve = PrCurve {
        num_positives,
        ..PrCurve::default()
    };
    for index in order {
        let detection = &detections[index];
        let gts = ground_truth
            .get(detection.image)
            .map_or(&[][..], Vec::as_slice);
        // The best overlap; the first one wins a tie, as numpy's argmax.
        let mut best: Option<(usize, f32)> = None;
        for (g, gt) in gts.iter().enumerate() {
            let iou = detection.bbox.iou(&gt.bbox);
            if best.is_none_or(|(_, b)| iou > b) {
                best = Some((g, iou));
            }
        }
        let true_positive = match best {
            Some((g, iou)) if iou >= iou_threshold => {
                if gts[g].difficult {
                    continue; // ignored: neither true nor false positive
                }
                let taken = &mut matched[detection.image][g];
                let first = !*taken;
                *taken = true;
                first
            }
            _ => false,
        };
        curve.scores.push(detection.score);
        curve.true_positive.push(true_positive);
    }
    curve
}

impl PrCurve {
    /// Cumulative (true positives, false positives) after each counted detection.
    pub fn cumulative(&self) -> Vec<(usize, usize)> {
        let (mut tp, mut fp) = (0, 0);
        self.true_positive
            .iter()
            .map(|&t| {
                if t {
                    tp += 1;
                } else {
                    fp += 1;
                }
                (tp, fp)
            })
            .collect()
    }

    /// Recall after each counted detection (0 everywhere when the class has no positives).
    pub fn recall(&self) -> Vec<f64> {
        let positives = self.num_positives.max(1) as f64;
        self.cumulative()
            .into_iter()
            .map(|(tp, _)| tp as f64 / positives)
            .collect()
    }

    /// Precision after each counted detection.
    pub fn precision(&self) -> Vec<f64> {
        self.cumulative()
            .into_iter()
            .map(|(tp, fp)| tp as f64 / (tp + fp) as f64)
            .collect()
    }

    /// VOC2007's 11-point interpolated AP.
    pub fn ap_11_point(&self) -> f64 {
        ap_11_point(&self.recall(), &self.precision())
    }

    /// VOC2010+'s all-point AP: the area under the precision envelope.
    pub fn ap_all_point(&self) -> f64 {
        ap_all_point(&self.recall(), &self.precision())
    }
}

/// Mean over t = 0, 0.1, ..., 1 of the best precision at recall >= t (0 where none).
///
/// The recall levels are `i * 0.1` in floating point (so 0.30000000000000004, not 0.3),
/// exactly as numpy's `linspace(0, 1, 11)` and `arange(0, 1.1, 0.1)` in the Python
/// evaluators: a recall of exactly 3/10 does not reach the fourth level there either.
pub fn ap_11_point(recall: &[f64], precision: &[f64]) -> f64 {
    let sum: f64 = (0..=10)
        .map(|i| {
            let level = f64::from(i) * 0.1;
            recall
                .iter()
                .zip(precision)
                .filter(|&(&r, _)| r >= level)
                .map(|(_, &p)| p)
                .fold(0.0, f64::max)
        })
        .sum();
    sum / 11.0
}

/// Area under the precision envelope (precision made non-increasing in recall), summed
/// over the recall steps, with sentinels (0, 0) and (1, 0) as in the VOC2010 devkit.
pub fn ap_all_point(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(recall.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 2);
    mpre.push(0.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    (0..mrec.len() - 1)
        .filter(|&i| mrec[i + 1] != mrec[i])
        .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_detections_score_one() {
        let gt = vec![vec![GroundTruthBox {
            bbox: Corners::new(0.0, 0.0, 10.0, 10.0),
            difficult: false,
        }]];
        let dets = [ScoredBox {
            image: 0,
            score: 0.9,
            bbox: Corners::new(0.0, 0.0, 10.0, 10.0),
        }];
        let curve = match_detections(&dets, &gt, crate::eval::Protocol::voc2007().match_iou);
        assert_eq!(curve.ap_11_point(), 1.0);
        assert_eq!(curve.ap_all_point(), 1.0);
    }

    #[test]
    fn no_detections_score_zero() {
        assert_eq!(ap_11_point(&[], &[]), 0.0);
        assert_eq!(ap_all_point(&[], &[]), 0.0);
    }
}
