//! Where each class's candidate scores fell over the last few seconds, for the score
//! strip beside its slider: the worker already reports every box down to
//! [`super::DETECT_FLOOR`], so the UI keeps their scores (bounded, reusing its memory)
//! and the worker does nothing more.

use crate::detect::Detection;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back a strip looks.
pub const SCORE_WINDOW: Duration = Duration::from_secs(3);
/// Bins over scores 0..1 (0.05 wide).
pub const SCORE_BINS: usize = 20;
/// Most scores kept per class (30 fps x 3 s x 45 boxes of one class).
const MAX_KEPT: usize = 4096;

/// Recent candidate scores per class id.
#[derive(Debug, Clone, Default)]
pub struct ScoreHistory {
    per_class: Vec<VecDeque<(Instant, f32)>>,
}

impl ScoreHistory {
    pub fn new(classes: usize) -> ScoreHistory {
        ScoreHistory {
            per_class: vec![VecDeque::new(); classes],
        }
    }

    /// Takes one frame's candidates, seen at `now`.
    pub fn record(&mut self, now: Instant, detections: &[Detection]) {
        for scores in &mut self.per_class {
            while scores
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > SCORE_WINDOW)
            {
                scores.pop_front();
            }
        }
        for detection in detections {
            if let Some(scores) = self.per_class.get_mut(detection.class_id) {
                if scores.len() == MAX_KEPT {
                    scores.pop_front();
                }
                scores.push_back((now, detection.score));
            }
        }
    }

    /// How many of `class`'s candidates of the last [`SCORE_WINDOW`] before `now` fall
    /// in each bin.
    pub fn histogram(&self, class: usize, now: Instant) -> [u32; SCORE_BINS] {
        let mut bins = [0; SCORE_BINS];
        for (at, score) in self.per_class.get(class).into_iter().flatten() {
            if now.saturating_duration_since(*at) <= SCORE_WINDOW
                && let Some(bin) = bins.get_mut(bin_of(*score))
            {
                *bin += 1;
            }
        }
        bins
    }
}

/// The bin a score falls in (1.0 in the last).
pub fn bin_of(score: f32) -> usize {
    ((score.clamp(0.0, 1.0) * SCORE_BINS as f32) as usize).min(SCORE_BINS - 1)
}

/// The lowest score of bin `bin`.
pub fn bin_start(bin: usize) -> f32 {
    bin as f32 / SCORE_BINS as f32
}
