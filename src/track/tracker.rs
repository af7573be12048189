//! Tracks from per-frame detections, so a box keeps its identity and does not blink.
//!
//! ByteTrack's association (Zhang et al. 2022), per class: confident detections (at or
//! above their class's threshold) are matched first to every live track by the overlap
//! with its predicted box; then weak ones (below the threshold, above a floor) may keep the
//! tracks still unmatched alive, at a stricter overlap. Matching is greedy, best pair
//! first, a pair ranked by its overlap times the detection's score (ByteTrack's
//! `fuse_score`, [`TrackerConfig::fuse_score`]): with a handful of boxes per class it
//! almost always agrees with the optimal assignment, and it needs no allocation. An
//! unmatched detection starts a tentative track only if it clears its class's threshold
//! by a margin ([`TrackerConfig::new_track_bar`], ByteTrack's `det_thresh` as a ratio of
//! odds), confirmed after a few matched frames in a row; a confirmed track that matches
//! nothing coasts on its motion ([`BoxFilter`]) and ends after a number of missed frames.
//!
//! A track's score is a moving average of its matched scores, and its class's threshold
//! acts on that score with hysteresis ([`passes_threshold`], the rule of every other
//! view): a track is shown from the frame its score passes the threshold until it falls a
//! margin below it (or the track is lost), so a score that hovers at the threshold no
//! longer makes the box blink. The tracks after a frame are a [`TrackSnapshot`], which
//! carries that rule: whoever shows them (the app's window, a frame behind its worker)
//! decides again at its own thresholds by the same rule.

use super::motion::BoxFilter;
use crate::detect::{DetectConfig, Detection, passes_threshold};
use crate::model::box_coder::Corners;
use std::borrow::Borrow;
use std::sync::Arc;

/// The tracker's knobs; [`TrackerConfig::default`] holds the values measured on the
/// sequence benchmark (README, "Tracking").
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// A confident detection continues a track whose predicted box it overlaps by at least this IoU.
    pub match_iou: f32,
    /// A weak detection continues an unmatched track only at this IoU or more (ByteTrack's second pass).
    pub weak_match_iou: f32,
    /// Rank a track's candidate detections by IoU times score, not by IoU alone
    /// (ByteTrack's `fuse_score`, which it uses in its first pass on MOT17; here in both
    /// passes): of two boxes on one object the confident one continues the track, where a
    /// weaker box that happens to overlap the prediction a little more would hand the
    /// track its score. Either way a pair needs [`Self::match_iou`] (or
    /// [`Self::weak_match_iou`]) of overlap.
    pub fuse_score: bool,
    /// Detections below this score are ignored altogether.
    pub min_score: f32,
    /// A detection begins a track only if its odds (score / (1 - score)) are this many
    /// times those of its class's threshold ([`TrackerConfig::new_track_bar`]); one between
    /// the threshold and that bar may only continue a track. 1.5 is ByteTrack's margin
    /// (`det_thresh` 0.6 over its track threshold 0.5).
    pub new_track_odds: f32,
    /// A new track is confirmed, and may be shown, after this many matched frames in a row.
    pub confirm_hits: u32,
    /// A confirmed track that matches nothing coasts this many frames before it ends.
    pub max_missed: u32,
    /// A coasting track stays on screen this many frames, so a missed frame does not blink.
    pub show_missed: u32,
    /// The weight of the newest matched score in the track's score (exponential moving average).
    pub score_smoothing: f32,
    /// A shown track is hidden when its score falls this far below its class's threshold.
    pub hysteresis: f32,
}

impl TrackerConfig {
    /// [`Self::min_score`]'s default: the floor every tracking caller detects down to.
    pub const DEFAULT_MIN_SCORE: f32 = 0.1;

    /// The per-class thresholds to detect with when tracking at `thresholds`: every box
    /// down to [`Self::min_score`] (weak ones keep tracks alive), or down to a class's own
    /// threshold where that is lower.
    pub fn detection_floors(&self, thresholds: &[f32]) -> Vec<f32> {
        thresholds.iter().map(|&t| t.min(self.min_score)).collect()
    }

    /// The score a detection of a class at `threshold` must pass to begin a track: the one
    /// whose odds are [`Self::new_track_odds`] times the threshold's. A ratio of odds (a
    /// step in the logit) is as large a step for a class at 0.19 as for one at 0.62, where
    /// a fixed step in score is half the threshold of the one and a sixth of the other's;
    /// and it stays under 1, so a threshold near 1 still lets the best boxes begin tracks.
    pub fn new_track_bar(&self, threshold: f32) -> f32 {
        let scaled = threshold * self.new_track_odds;
        scaled / (1.0 - threshold + scaled)
    }

    /// What to detect with when tracking at `shown`'s settings: its thresholds lowered to
    /// [`Self::detection_floors`], and no cross-class suppression (that acts on the
    /// tracks shown: a box under its class's threshold must not suppress a shown one).
    pub fn detection_config(&self, shown: &DetectConfig) -> DetectConfig {
        DetectConfig {
            thresholds: self.detection_floors(&shown.thresholds),
            cross_class_iou: None,
            ..shown.clone()
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> TrackerConfig {
        TrackerConfig {
            match_iou: 0.3,
            weak_match_iou: 0.5,
            fuse_score: true,
            min_score: Self::DEFAULT_MIN_SCORE,
            new_track_odds: 1.5,
            confirm_hits: 1,
            max_missed: 30,
            show_missed: 0,
            score_smoothing: 0.2,
            hysteresis: 0.03,
        }
    }
}

/// One object followed over frames.
#[derive(Debug, Clone)]
pub struct Track {
    /// Unique within a tracker's life (a reset keeps counting), from 1.
    pub id: u64,
    pub class_id: usize,
    pub label: Arc<str>,
    /// The moving average of the scores of the detections it matched.
    pub score: f32,
    /// The filtered box, in the detections' pixels (while coasting: where it is expected).
    pub bbox: Corners,
    /// Frames since the track began.
    pub age: u32,
    /// Frames since it last matched a detection.
    pub missed: u32,
    /// Matched frames in a row.
    hits: u32,
    confirmed: bool,
    shown: bool,
    filter: BoxFilter,
    matched: bool,
}

impl Track {
    /// Whether the track is on screen: confirmed, recently matched and above its threshold
    /// (with hysteresis).
    pub fn is_shown(&self) -> bool {
        self.shown
    }

    /// The track as a box of this frame: its filtered box and track score.
    pub fn tracked_box(&self) -> TrackedBox {
        TrackedBox {
            id: self.id,
            detection: Detection {
                class_id: self.class_id,
                label: self.label.clone(),
                score: self.score,
                bbox: self.bbox,
            },
        }
    }
}

/// A track's box in one frame, as a [`Detection`] (its filtered box, its track score),
/// so that what draws, suppresses or prints detections takes it too; with the track's ID.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedBox {
    pub id: u64,
    pub detection: Detection,
}

impl Borrow<Detection> for TrackedBox {
    fn borrow(&self) -> &Detection {
        &self.detection
    }
}

/// The tracks after a frame, shown or not (tentative and coasting ones too), and the
/// rule that decides which are shown: what the app's worker hands its window with each
/// frame. [`TrackSnapshot::apply_thresholds`] decides again at other thresholds, by the
/// rule [`Tracker::update`] ends with.
#[derive(Debug)]
pub struct TrackSnapshot {
    tracks: Vec<Track>,
    /// [`TrackerConfig::show_missed`] of the tracker it comes from.
    show_missed: u32,
    /// [`TrackerConfig::hysteresis`] of the tracker it comes from.
    hysteresis: f32,
}

impl TrackSnapshot {
    fn new(config: &TrackerConfig) -> TrackSnapshot {
        TrackSnapshot {
            tracks: Vec::new(),
            show_missed: config.show_missed,
            hysteresis: config.hysteresis,
        }
    }

    /// Every track, shown or not.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The tracks on screen.
    pub fn shown(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.shown)
    }

    /// Objects of a class on screen now.
    pub fn in_view(&self, class_id: usize) -> usize {
        self.shown().filter(|t| t.class_id == class_id).count()
    }

    /// Decides again which tracks are shown, at `thresholds` (per class id, as the sliders
    /// hold them), with the hysteresis: a shown track stays until its score falls the
    /// margin below its class's threshold; a hidden one needs the threshold itself, and
    /// this frame's match. The one rule of every view of tracks.
    pub fn apply_thresholds(&mut self, thresholds: &[f32]) {
        for track in &mut self.tracks {
            let passes =
                |margin: f32| passes_threshold(thresholds, track.class_id, track.score + margin);
            track.shown = track.confirmed
                && track.missed <= self.show_missed
                && if track.shown {
                    passes(self.hysteresis)
                } else {
                    track.missed == 0 && passes(0.0)
                };
        }
    }

    /// No tracks (a new scene).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }
}

impl Default for TrackSnapshot {
    /// No tracks, with the rule of the default tracker.
    fn default() -> TrackSnapshot {
        TrackSnapshot::new(&TrackerConfig::default())
    }
}

impl Clone for TrackSnapshot {
    fn clone(&self) -> TrackSnapshot {
        TrackSnapshot {
            tracks: self.tracks.clone(),
            ..*self
        }
    }

    /// Reuses this snapshot's memory: a warm worker copies the tracker's tracks out
    /// without allocating.
    fn clone_from(&mut self, source: &TrackSnapshot) {
        self.tracks.clone_from(&source.tracks);
        self.show_missed = source.show_missed;
        self.hysteresis = source.hysteresis;
    }
}

/// One possible match of a frame's association.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// The overlap, or with [`TrackerConfig::fuse_score`] the overlap times the score.
    rank: f32,
    track: usize,
    detection: usize,
}

/// Detections in, tracks out, one frame at a time; no allocation once its buffers have
/// grown to the scene's number of boxes.
pub struct Tracker {
    config: TrackerConfig,
    live: TrackSnapshot,
    next_id: u64,
    /// Per detection of the last frame, in their order: the ID of the track it continued
    /// or began (none: no track took it).
    detection_tracks: Vec<Option<u64>>,
    // Scratch, kept between frames.
    pairs: Vec<Pair>,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            live: TrackSnapshot::new(&config),
            config,
            next_id: 1,
            detection_tracks: Vec::new(),
            pairs: Vec::new(),
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Advances every track by one frame with this frame's detections (all of them, down
    /// to [`TrackerConfig::min_score`]); `thresholds` are per class id, as the sliders hold them.
    pub fn update(&mut self, detections: &[Detection], thresholds: &[f32]) {
        for track in &mut self.live.tracks {
            track.filter.predict();
            track.bbox = track.filter.corners();
            track.age += 1;
            track.matched = false;
        }
        self.detection_tracks.clear();
        self.detection_tracks.resize(detections.len(), None);
        let confident = |d: &Detection| passes_threshold(thresholds, d.class_id, d.score);
        let min_score = self.config.min_score;
        self.associate(detections, self.config.match_iou, confident);
        self.associate(detections, self.config.weak_match_iou, |d: &Detection| {
            d.score >= min_score && !confident(d)
        });

        let config = &self.config;
        for track in &mut self.live.tracks {
            if track.matched {
                track.missed = 0;
                track.hits += 1;
                track.confirmed |= track.hits >= config.confirm_hits;
            } else {
                track.missed += 1;
                track.hits = 0;
            }
        }
        // Tentative tracks end at their first miss (ByteTrack), confirmed ones after coasting.
        self.live.tracks.retain(|t| {
            if t.confirmed {
                t.missed <= config.max_missed
            } else {
                t.missed == 0
            }
        });
        for (detection, track_id) in detections.iter().zip(&mut self.detection_tracks) {
            let begins = thresholds
                .get(detection.class_id)
                .is_some_and(|&t| detection.score > config.new_track_bar(t));
            if track_id.is_none() && begins {
                *track_id = Some(self.next_id);
                self.live.tracks.push(Track {
                    id: self.next_id,
                    class_id: detection.class_id,
                    label: detection.label.clone(),
                    score: detection.score,
                    bbox: detection.bbox,
                    age: 0,
                    missed: 0,
                    hits: 1,
                    confirmed: config.confirm_hits <= 1,
                    shown: false,
                    filter: BoxFilter::new(&detection.bbox),
                    matched: true,
                });
                self.next_id += 1;
            }
        }
        self.apply_thresholds(thresholds);
    }

    /// Decides again which tracks are shown, at `thresholds` (per class id), without
    /// advancing a frame ([`TrackSnapshot::apply_thresholds`]; [`Tracker::update`] ends
    /// with it).
    pub fn apply_thresholds(&mut self, thresholds: &[f32]) {
        self.live.apply_thresholds(thresholds);
    }

    /// Matches the still-free tracks to the still-free detections that `eligible` accepts,
    /// best pair first ([`Pair::rank`]), at `min_iou` or more, within a class.
    fn associate(
        &mut self,
        detections: &[Detection],
        min_iou: f32,
        eligible: impl Fn(&Detection) -> bool,
    ) {
        self.pairs.clear();
        let fuse_score = self.config.fuse_score;
        for (t, track) in self.live.tracks.iter().enumerate() {
            if track.matched {
                continue;
            }
            for (d, detection) in detections.iter().enumerate() {
                let taken = self.detection_tracks.get(d).is_none_or(Option::is_some);
                if detection.class_id != track.class_id || taken || !eligible(detection) {
                    continue;
                }
                let iou = track.bbox.iou(&detection.bbox);
                if iou >= min_iou {
                    let rank = if fuse_score {
                        iou * detection.score
                    } else {
                        iou
                    };
                    self.pairs.push(Pair {
                        rank,
                        track: t,
                        detection: d,
                    });
                }
            }
        }
        self.pairs
            .sort_unstable_by(|a, b| b.rank.total_cmp(&a.rank));
        let smoothing = self.config.score_smoothing;
        for pair in &self.pairs {
            let (Some(track), Some(track_id), Some(detection)) = (
                self.live.tracks.get_mut(pair.track),
                self.detection_tracks.get_mut(pair.detection),
                detections.get(pair.detection),
            ) else {
                continue;
            };
            if track.matched || track_id.is_some() {
                continue;
            }
            track.matched = true;
            *track_id = Some(track.id);
            track.filter.update(&detection.bbox);
            track.bbox = track.filter.corners();
            track.score += smoothing * (detection.score - track.score);
        }
    }

    /// Every live track, shown or not (tentative and coasting ones too).
    pub fn tracks(&self) -> &[Track] {
        self.live.tracks()
    }

    /// The tracks on screen.
    pub fn shown(&self) -> impl Iterator<Item = &Track> {
        self.live.shown()
    }

    /// Objects of a class on screen now.
    pub fn in_view(&self, class_id: usize) -> usize {
        self.live.in_view(class_id)
    }

    /// The tracks after the last frame, to hand on (copy it with `clone_from` to reuse
    /// a snapshot's memory).
    pub fn snapshot(&self) -> &TrackSnapshot {
        &self.live
    }

    /// Per detection of the last [`Tracker::update`], in its order: the ID of the track
    /// that detection continued or began; none for a detection no track took (under the
    /// floor, or one that matched no track and was under the bar to begin one).
    pub fn detection_tracks(&self) -> &[Option<u64>] {
        &self.detection_tracks
    }

    /// Forgets every track (a new source, a jump in the picture); IDs keep counting.
    pub fn clear(&mut self) {
        self.live.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: [f32; 3] = [1.0, 0.5, 0.5];

    fn detection(class_id: usize, score: f32, x: f32, y: f32) -> Detection {
        Detection {
            class_id,
            label: Arc::from(["background", "cat", "dog"][class_id]),
            score,
            bbox: Corners {
                x_min: x,
                y_min: y,
                x_max: x + 60.0,
                y_max: y + 40.0,
            },
        }
    }

    fn shown_ids(tracker: &Tracker) -> Vec<u64> {
        let mut ids: Vec<u64> = tracker.shown().map(|t| t.id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn two_moving_objects_keep_their_ids() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for frame in 0..60 {
            let f = frame as f32;
            let frame_detections = [
                detection(1, 0.9, 10.0 + 2.0 * f, 20.0),
                detection(1, 0.8, 200.0 - 1.5 * f, 120.0 + f),
            ];
            tracker.update(&frame_detections, &THRESHOLDS);
            if frame >= 1 {
                assert_eq!(shown_ids(&tracker), vec![1, 2], "frame {frame}");
            }
        }
        let first = tracker.shown().find(|t| t.id == 1).map(|t| t.bbox);
        let expected = detection(1, 0.9, 128.0, 20.0).bbox;
        assert!(first.is_some_and(|b| b.iou(&expected) > 0.95), "{first:?}");
    }

    #[test]
    fn crossing_objects_keep_their_ids_through_the_crossing() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut ids_left_to_right = None;
        for frame in 0..80 {
            let f = frame as f32;
            // two dogs on one line, crossing at frame 40; the one from the left a little higher
            let frame_detections = [
                detection(2, 0.9, 4.0 * f, 100.0),
                detection(2, 0.9, 320.0 - 4.0 * f, 104.0),
            ];
            tracker.update(&frame_detections, &THRESHOLDS);
            let mut tracks: Vec<&Track> = tracker.shown().collect();
            tracks.sort_by(|a, b| a.bbox.x_min.total_cmp(&b.bbox.x_min));
            if frame == 10 {
                ids_left_to_right = Some((tracks[0].id, tracks[1].id));
            }
            if frame == 70 {
                // after the crossing the order is swapped, the identities are not
                assert_eq!(
                    Some((tracks[1].id, tracks[0].id)),
                    ids_left_to_right,
                    "IDs switched at the crossing"
                );
            }
        }
    }

    #[test]
    fn with_confirmation_a_one_frame_false_positive_is_never_shown() {
        let mut tracker = Tracker::new(TrackerConfig {
            confirm_hits: 2,
            ..TrackerConfig::default()
        });
        tracker.update(&[detection(1, 0.95, 50.0, 50.0)], &THRESHOLDS);
        assert_eq!(shown_ids(&tracker), Vec::<u64>::new(), "not confirmed yet");
        tracker.update(&[], &THRESHOLDS);
        assert!(
            tracker.tracks().is_empty(),
            "a tentative track ends at its first miss"
        );
    }

    #[test]
    fn a_lost_object_coasts_then_ends() {
        let config = TrackerConfig::default();
        let mut tracker = Tracker::new(config.clone());
        for frame in 0..10 {
            tracker.update(
                &[detection(1, 0.9, 10.0 + 3.0 * frame as f32, 10.0)],
                &THRESHOLDS,
            );
        }
        for missed in 1..=config.max_missed + 1 {
            tracker.update(&[], &THRESHOLDS);
            let shown = missed <= config.show_missed;
            assert_eq!(
                tracker.shown().count(),
                usize::from(shown),
                "missed {missed}"
            );
            let alive = missed <= config.max_missed;
            assert_eq!(
                tracker.tracks().len(),
                usize::from(alive),
                "missed {missed}"
            );
        }
        // coasting moved the box on at its speed
        tracker.update(&[detection(1, 0.9, 200.0, 10.0)], &THRESHOLDS);
        tracker.update(&[detection(1, 0.9, 203.0, 10.0)], &THRESHOLDS);
        assert_eq!(
            shown_ids(&tracker),
            vec![2],
            "a new object after the old track ended"
        );
    }

    #[test]
    fn with_coasting_on_screen_an_object_missed_for_two_frames_does_not_blink() {
        let mut tracker = Tracker::new(TrackerConfig {
            show_missed: 2,
            ..TrackerConfig::default()
        });
        for frame in 0..40 {
            let f = frame as f32;
            let seen = frame % 7 != 3 && frame % 7 != 4; // two frames in seven missed
            let frame_detections: Vec<Detection> = seen
                .then(|| detection(1, 0.8, 10.0 + 2.0 * f, 10.0))
                .into_iter()
                .collect();
            tracker.update(&frame_detections, &THRESHOLDS);
            if frame >= 1 {
                assert_eq!(shown_ids(&tracker), vec![1], "frame {frame}");
            }
        }
    }

    #[test]
    fn a_score_hovering_at_the_threshold_does_not_blink() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut raw_changes = 0;
        let mut track_changes = 0;
        let (mut raw_was, mut track_was) = (false, false);
        for frame in 0..100 {
            // seen clearly at first (a track begins), then hovering at the threshold
            let score = match frame {
                0..3 => 0.8,
                _ if frame % 2 == 0 => 0.53,
                _ => 0.47,
            };
            tracker.update(&[detection(1, score, 100.0, 100.0)], &THRESHOLDS);
            let raw = score >= THRESHOLDS[1];
            let track = tracker.shown().count() == 1;
            raw_changes += usize::from(raw != raw_was);
            track_changes += usize::from(track != track_was);
            (raw_was, track_was) = (raw, track);
        }
        assert_eq!(
            raw_changes, 98,
            "the raw box blinks every frame from the fourth"
        );
        assert_eq!(track_changes, 1, "the track appears once and stays");
        assert_eq!(tracker.tracks().len(), 1);
    }

    #[test]
    fn a_fading_object_is_kept_by_weak_detections_and_hidden_below_the_margin() {
        let config = TrackerConfig::default();
        let mut tracker = Tracker::new(config.clone());
        for _ in 0..5 {
            tracker.update(&[detection(1, 0.8, 100.0, 100.0)], &THRESHOLDS);
        }
        let mut hidden_at = None;
        for frame in 0..20 {
            tracker.update(&[detection(1, 0.3, 100.0, 100.0)], &THRESHOLDS);
            let track = &tracker.tracks()[0];
            assert_eq!(track.id, 1, "weak detections continue the track");
            if hidden_at.is_none() && !track.is_shown() {
                hidden_at = Some(frame);
                assert!(track.score <= THRESHOLDS[1] - config.hysteresis);
            }
            if hidden_at.is_none() {
                assert!(track.score >= THRESHOLDS[1] - config.hysteresis);
            }
        }
        assert!(hidden_at.is_some_and(|f| f > 0), "{hidden_at:?}");
        // weak detections never start a track
        let mut fresh = Tracker::new(config);
        for _ in 0..5 {
            fresh.update(&[detection(1, 0.3, 100.0, 100.0)], &THRESHOLDS);
        }
        assert!(fresh.tracks().is_empty());
    }

    #[test]
    fn a_box_barely_over_its_threshold_continues_a_track_but_begins_none() {
        let config = TrackerConfig::default();
        let bar = config.new_track_bar(THRESHOLDS[1]);
        assert!((bar - 0.6).abs() < 1e-6, "ByteTrack's 0.6 at 0.5: {bar}");
        let mut tracker = Tracker::new(config.clone());
        for _ in 0..5 {
            tracker.update(&[detection(1, bar, 100.0, 100.0)], &THRESHOLDS);
        }
        assert!(tracker.tracks().is_empty(), "at the bar: no track");
        assert_eq!(tracker.detection_tracks(), [None]);
        tracker.update(&[detection(1, bar + 0.01, 100.0, 100.0)], &THRESHOLDS);
        assert_eq!(shown_ids(&tracker), vec![1], "over the bar: a track, shown");
        // between the threshold and the bar a box keeps its track, and keeps it shown
        for frame in 0..10 {
            let x = 100.0 + frame as f32;
            tracker.update(&[detection(1, bar - 0.02, x, 100.0)], &THRESHOLDS);
            assert_eq!(shown_ids(&tracker), vec![1], "frame {frame}");
        }
        // the margin follows the threshold's odds: narrower near 0 and near 1, so a low
        // threshold does not demand half as much again, and a threshold near 1 still lets
        // the best boxes begin tracks
        for (threshold, expected) in [(0.192, 0.263), (0.62, 0.71), (0.9, 0.931), (1.0, 1.0)] {
            let bar = config.new_track_bar(threshold);
            assert!((bar - expected).abs() < 1e-3, "{threshold}: {bar}");
        }
        assert_eq!(config.new_track_bar(0.0), 0.0);
        // a class at 0.192 (VOC's chairs): 0.27 begins a track, as 0.1 over would not have
        let mut low = Tracker::new(config.clone());
        low.update(&[detection(1, 0.25, 0.0, 0.0)], &[1.0, 0.192]);
        assert!(low.tracks().is_empty(), "0.25 is under the bar");
        low.update(&[detection(1, 0.27, 0.0, 0.0)], &[1.0, 0.192]);
        assert_eq!(shown_ids(&low), vec![1]);
        let mut strict = Tracker::new(config);
        strict.update(&[detection(1, 0.94, 0.0, 0.0)], &[1.0, 0.9]);
        assert_eq!(shown_ids(&strict), vec![1]);
    }

    #[test]
    fn classes_do_not_continue_each_others_tracks() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for _ in 0..3 {
            tracker.update(&[detection(1, 0.9, 100.0, 100.0)], &THRESHOLDS);
        }
        tracker.update(&[detection(2, 0.9, 100.0, 100.0)], &THRESHOLDS);
        let classes: Vec<(u64, usize)> = tracker
            .tracks()
            .iter()
            .map(|t| (t.id, t.class_id))
            .collect();
        assert_eq!(classes, vec![(1, 1), (2, 2)]);
        assert_eq!(
            (tracker.in_view(1), tracker.in_view(2)),
            (0, 1),
            "the cat coasts unseen, the dog is shown at once"
        );
    }

    #[test]
    fn new_thresholds_act_at_once_with_the_hysteresis() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[detection(1, 0.65, 0.0, 0.0)], &THRESHOLDS);
        assert_eq!(tracker.in_view(1), 1);
        // 0.66 is within the margin of a shown track's 0.65: it stays.
        tracker.apply_thresholds(&[1.0, 0.66, 0.5]);
        assert_eq!(tracker.in_view(1), 1);
        tracker.apply_thresholds(&[1.0, 0.7, 0.5]);
        assert_eq!(tracker.in_view(1), 0);
        // Hidden, it needs the full threshold to come back.
        tracker.apply_thresholds(&[1.0, 0.66, 0.5]);
        assert_eq!(tracker.in_view(1), 0);
        tracker.apply_thresholds(&THRESHOLDS);
        assert_eq!(tracker.in_view(1), 1);
    }

    #[test]
    fn a_snapshot_decides_again_with_the_hysteresis_apart_from_its_tracker() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[detection(1, 0.65, 0.0, 0.0)], &THRESHOLDS);
        let mut snapshot = TrackSnapshot::default();
        snapshot.clone_from(tracker.snapshot());
        let in_view = |snapshot: &mut TrackSnapshot, cat: f32| {
            snapshot.apply_thresholds(&[1.0, cat, 0.5]);
            snapshot.in_view(1)
        };
        assert_eq!(in_view(&mut snapshot, 0.66), 1, "within the margin");
        assert_eq!(in_view(&mut snapshot, 0.7), 0);
        assert_eq!(
            in_view(&mut snapshot, 0.66),
            0,
            "hidden: the full threshold"
        );
        assert_eq!(tracker.in_view(1), 1, "the tracker's decision is its own");
        // The next frame's snapshot comes with the tracker's decision (shown at 0.5).
        tracker.update(&[detection(1, 0.65, 1.0, 0.0)], &THRESHOLDS);
        snapshot.clone_from(tracker.snapshot());
        assert_eq!(in_view(&mut snapshot, 0.66), 1);
        assert_eq!(snapshot.tracks()[0].id, 1);
    }

    #[test]
    fn each_detection_names_the_track_it_continued_or_began() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(
            &[detection(1, 0.9, 0.0, 0.0), detection(2, 0.3, 200.0, 0.0)],
            &THRESHOLDS,
        );
        assert_eq!(
            tracker.detection_tracks(),
            [Some(1), None],
            "a weak box begins no track"
        );
        tracker.update(
            &[
                detection(1, 0.05, 300.0, 0.0),
                detection(2, 0.8, 200.0, 0.0),
                detection(1, 0.3, 2.0, 1.0),
            ],
            &THRESHOLDS,
        );
        assert_eq!(
            tracker.detection_tracks(),
            [None, Some(2), Some(1)],
            "below the floor: none; a weak box continues its track"
        );
        tracker.update(&[], &THRESHOLDS);
        assert!(tracker.detection_tracks().is_empty());
    }

    #[test]
    fn the_confident_of_two_boxes_on_an_object_continues_its_track() {
        // Frame 2 has two boxes on the object: a confident one shifted by 8 pixels (IoU
        // 0.76 with the track's box) and one barely over the threshold shifted by 2 (IoU 0.94).
        let frames = [
            vec![detection(1, 0.9, 100.0, 100.0)],
            vec![
                detection(1, 0.9, 108.0, 100.0),
                detection(1, 0.55, 102.0, 100.0),
            ],
        ];
        let run = |fuse_score: bool| {
            let mut tracker = Tracker::new(TrackerConfig {
                fuse_score,
                ..TrackerConfig::default()
            });
            for frame in &frames {
                tracker.update(frame, &THRESHOLDS);
            }
            tracker.detection_tracks().to_vec()
        };
        assert_eq!(
            run(true),
            [Some(1), None],
            "0.9 x 0.76 outranks 0.55 x 0.94; the weak box begins nothing"
        );
        assert_eq!(
            run(false),
            [Some(2), Some(1)],
            "by overlap alone the weak box takes the track and the confident one begins another"
        );
    }

    #[test]
    fn a_class_without_a_threshold_is_never_tracked() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for _ in 0..3 {
            tracker.update(&[detection(2, 0.99, 0.0, 0.0)], &THRESHOLDS[..2]);
        }
        assert!(tracker.tracks().is_empty());
    }
}
