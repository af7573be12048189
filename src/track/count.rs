//! Distinct objects seen per class: each track counted once, the first time it is shown,
//! whoever decides what is shown (the app's window counts what it shows).

use super::TrackSnapshot;

/// Per class, the tracks shown since the last [`DistinctCounts::reset`].
#[derive(Debug, Default)]
pub struct DistinctCounts {
    per_class: Vec<u32>,
    /// The IDs of the live tracks counted already; a track that ends is forgotten (IDs
    /// are never given twice).
    counted: Vec<u64>,
}

impl DistinctCounts {
    /// Counts the tracks `tracks` shows that were not counted before.
    pub fn count(&mut self, tracks: &TrackSnapshot) {
        let live = tracks.tracks();
        self.counted.retain(|id| live.iter().any(|t| t.id == *id));
        for track in tracks.shown() {
            if self.counted.contains(&track.id) {
                continue;
            }
            self.counted.push(track.id);
            if self.per_class.len() <= track.class_id {
                self.per_class.resize(track.class_id + 1, 0);
            }
            if let Some(count) = self.per_class.get_mut(track.class_id) {
                *count += 1;
            }
        }
    }

    /// Distinct objects of a class shown since the last reset.
    pub fn seen(&self, class_id: usize) -> u32 {
        self.per_class.get(class_id).copied().unwrap_or(0)
    }

    /// Starts the counts again; the tracks shown now are not counted again.
    pub fn reset(&mut self) {
        self.per_class.fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;
    use crate::model::Corners;
    use crate::track::{Tracker, TrackerConfig};

    const THRESHOLDS: [f32; 2] = [1.0, 0.5];

    fn cat(score: f32, x: f32) -> Detection {
        Detection {
            class_id: 1,
            label: "cat".into(),
            score,
            bbox: Corners {
                x_min: x,
                y_min: 0.0,
                x_max: x + 60.0,
                y_max: 40.0,
            },
        }
    }

    #[test]
    fn counts_distinct_objects_until_reset() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut counts = DistinctCounts::default();
        for round in 0..3 {
            // a cat comes for 5 frames, then leaves for good
            let x = 100.0 * round as f32;
            for _ in 0..5 {
                tracker.update(&[cat(0.9, x)], &THRESHOLDS);
                counts.count(tracker.snapshot());
            }
            for _ in 0..40 {
                tracker.update(&[], &THRESHOLDS);
                counts.count(tracker.snapshot());
            }
        }
        assert_eq!((counts.seen(1), tracker.in_view(1)), (3, 0));
        assert!(counts.counted.is_empty(), "ended tracks are forgotten");
        counts.reset();
        assert_eq!(counts.seen(1), 0);
        assert_eq!(counts.seen(99), 0, "an unknown class has seen nothing");
    }

    #[test]
    fn a_track_shown_hidden_and_shown_again_counts_once_and_a_reset_does_not_recount_it() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut counts = DistinctCounts::default();
        tracker.update(&[cat(0.65, 0.0)], &THRESHOLDS);
        counts.count(tracker.snapshot());
        let mut snapshot = tracker.snapshot().clone();
        for threshold in [0.7, 0.5, 0.7, 0.5] {
            snapshot.apply_thresholds(&[1.0, threshold]);
            counts.count(&snapshot);
        }
        assert_eq!(counts.seen(1), 1);
        counts.reset();
        tracker.update(&[cat(0.65, 1.0), cat(0.9, 200.0)], &THRESHOLDS);
        counts.count(tracker.snapshot());
        assert_eq!(counts.seen(1), 1, "only the new cat");
    }
}
