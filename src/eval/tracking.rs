//! How steady the boxes are over a sequence with known truth: per-frame precision and
//! recall, flicker (how often a true object's box appears or disappears), jitter (how far
//! a found object's box moves against the object from one frame to the next), identity
//! switches and MOTA (Bernardin and Stiefelhagen 2008), for raw detections and for tracks
//! alike. Each frame's boxes are matched to the truth greedily, best overlap first, within
//! a class, at [`MATCH_IOU`]. For tracks also IDF1 (Ristani et al. 2016), which matches
//! whole true trajectories to whole tracks once for the sequence. The tests check all of
//! them against py-motmetrics on one scripted sequence.

use crate::model::box_coder::Corners;
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Serialize;
use std::collections::HashMap;

/// A box counts as finding a true object at this overlap (the VOC and MOT convention).
pub const MATCH_IOU: f32 = 0.5;

/// A true object in one frame; `object` names it across frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruthBox {
    pub object: u32,
    pub class_id: usize,
    pub bbox: Corners,
}

/// A box shown in one frame (a hypothesis, in MOT's words); `id` is its track's (None for
/// raw detections).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypothesis {
    pub id: Option<u64>,
    pub class_id: usize,
    pub bbox: Corners,
}

/// The totals over a sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TrackingScore {
    pub frames: u32,
    /// True objects summed over frames.
    pub object_frames: u32,
    pub true_positives: u32,
    pub false_positives: u32,
    pub misses: u32,
    /// Frames where a true object's found-or-not state differs from the frame before.
    pub flicker: u32,
    /// Frames where a true object was found in this frame and the one before: the pairs
    /// [`Self::jitter_total`] sums over.
    pub steady_pairs: u32,
    /// Over those pairs, the sum of how far the box's edges moved against the object's
    /// own (each edge as a share of the object's width or height, the four averaged).
    pub jitter_total: f64,
    /// A true object found by another track than the one that last found it.
    pub id_switches: u32,
    /// The identity scores, where the boxes carry track IDs.
    pub identity: Option<IdentityScore>,
}

/// True trajectories matched one to one to tracks for the whole sequence, so as to
/// cover the most frames (Ristani et al. 2016): a box counts for its track only where the
/// track's matched object is in that box, however well it matched frame by frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IdentityScore {
    /// Frames where a track shows the object it was matched to (IDTP).
    pub true_positives: u32,
    /// Boxes of tracks that are not on their matched object (IDFP).
    pub false_positives: u32,
    /// True objects in frames where their matched track does not show them (IDFN).
    pub misses: u32,
}

impl IdentityScore {
    /// The share of true and shown boxes that are correctly identified (IDF1).
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.misses,
        )
    }
}

impl TrackingScore {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.object_frames)
    }

    /// Appearances plus disappearances of true objects' boxes per object per 100 frames.
    pub fn flicker_per_100(&self) -> f64 {
        100.0 * ratio(self.flicker, self.object_frames)
    }

    /// How far a found object's box edges move against the object from one frame to the
    /// next, on average, in percent of its size: 0 for a box that keeps its place on the
    /// object however it is framed, whatever its offset.
    pub fn jitter_percent(&self) -> f64 {
        if self.steady_pairs == 0 {
            0.0
        } else {
            100.0 * self.jitter_total / f64::from(self.steady_pairs)
        }
    }

    /// 1 - (misses + false positives + identity switches) / true objects.
    pub fn mota(&self) -> f64 {
        1.0 - ratio(
            self.misses + self.false_positives + self.id_switches,
            self.object_frames,
        )
    }
}

/// Where a box's edges are against a true box's, each as a share of the true box's width
/// (left, right) or height (top, bottom).
fn edge_offsets(shown: &Corners, truth: &Corners) -> [f32; 4] {
    let width = (truth.x_max - truth.x_min).max(f32::EPSILON);
    let height = (truth.y_max - truth.y_min).max(f32::EPSILON);
    [
        (shown.x_min - truth.x_min) / width,
        (shown.x_max - truth.x_max) / width,
        (shown.y_min - truth.y_min) / height,
        (shown.y_max - truth.y_max) / height,
    ]
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// Scores frames one at a time, remembering each true object's last state.
#[derive(Debug, Default)]
pub struct TrackingTally {
    score: TrackingScore,
    /// Per true object: where its box was against it in the frame before (if it was in that
    /// frame and found), and the last track that found it.
    objects: HashMap<u32, ObjectState>,
    frame: u32,
    /// Per track ID, the frames it was shown in.
    track_frames: HashMap<u64, u32>,
    /// Per (true object, track ID), the frames where the track's box was on the object.
    overlaps: HashMap<(u32, u64), u32>,
}

#[derive(Debug, Clone, Copy)]
struct ObjectState {
    last_frame: u32,
    /// The box's edges against the object's ([`edge_offsets`]); none: not found.
    offsets: Option<[f32; 4]>,
    last_id: Option<u64>,
}

impl TrackingTally {
    pub fn add_frame(&mut self, truth: &[TruthBox], shown: &[Hypothesis]) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, true_box) in truth.iter().enumerate() {
            for (s, hypothesis) in shown.iter().enumerate() {
                let iou = true_box.bbox.iou(&hypothesis.bbox);
                if hypothesis.class_id == true_box.class_id && iou >= MATCH_IOU {
                    pairs.push((iou, t, s));
                    if let Some(id) = hypothesis.id {
                        *self.overlaps.entry((true_box.object, id)).or_default() += 1;
                    }
                }
            }
        }
        for id in shown.iter().filter_map(|h| h.id) {
            *self.track_frames.entry(id).or_default() += 1;
        }
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut found_by: Vec<Option<usize>> = vec![None; truth.len()];
        let mut used = vec![false; shown.len()];
        for (_, t, s) in pairs {
            if let (Some(slot @ None), Some(taken @ false)) = (found_by.get_mut(t), used.get_mut(s))
            {
                *slot = Some(s);
                *taken = true;
            }
        }
        let score = &mut self.score;
        score.frames += 1;
        score.object_frames += truth.len() as u32;
        score.false_positives += used.iter().filter(|&&u| !u).count() as u32;
        for (true_box, found) in truth.iter().zip(&found_by) {
            let id = found.and_then(|s| shown.get(s)).and_then(|b| b.id);
            match found {
                Some(_) => score.true_positives += 1,
                None => score.misses += 1,
            }
            let offsets = found
                .and_then(|s| shown.get(s))
                .map(|b| edge_offsets(&b.bbox, &true_box.bbox));
            let state = self.objects.entry(true_box.object).or_insert(ObjectState {
                last_frame: self.frame,
                offsets,
                last_id: None,
            });
            let consecutive = state.last_frame + 1 == self.frame;
            if consecutive && state.offsets.is_some() != offsets.is_some() {
                score.flicker += 1;
            }
            if let (true, Some(before), Some(now)) = (consecutive, state.offsets, offsets) {
                score.steady_pairs += 1;
                let moved: f32 = before.iter().zip(&now).map(|(b, n)| (n - b).abs()).sum();
                score.jitter_total += f64::from(moved / 4.0);
            }
            if let (Some(last), Some(now)) = (state.last_id, id)
                && last != now
            {
                score.id_switches += 1;
            }
            state.last_frame = self.frame;
            state.offsets = offsets;
            state.last_id = id.or(state.last_id);
        }
        self.frame += 1;
    }

    pub fn score(&self) -> TrackingScore {
        TrackingScore {
            identity: (!self.track_frames.is_empty()).then(|| self.identity()),
            ..self.score
        }
    }

    /// IDF1's parts: the one-to-one matching of true objects and tracks that covers the
    /// most frames (Kuhn-Munkres), and what it leaves.
    fn identity(&self) -> IdentityScore {
        let mut objects: Vec<u32> = self.overlaps.keys().map(|&(object, _)| object).collect();
        let mut tracks: Vec<u64> = self.overlaps.keys().map(|&(_, id)| id).collect();
        objects.sort_unstable();
        objects.dedup();
        tracks.sort_unstable();
        tracks.dedup();
        let frames = |object: u32, id: u64| {
            i64::from(self.overlaps.get(&(object, id)).copied().unwrap_or(0))
        };
        // Kuhn-Munkres wants no more rows than columns: the smaller side goes down.
        let true_positives = if objects.is_empty() {
            0
        } else if objects.len() <= tracks.len() {
            kuhn_munkres(&Matrix::from_fn(objects.len(), tracks.len(), |(o, t)| {
                frames(objects[o], tracks[t])
            }))
            .0
        } else {
            kuhn_munkres(&Matrix::from_fn(tracks.len(), objects.len(), |(t, o)| {
                frames(objects[o], tracks[t])
            }))
            .0
        };
        let true_positives = u32::try_from(true_positives).unwrap_or(u32::MAX);
        let shown: u32 = self.track_frames.values().sum();
        IdentityScore {
            true_positives,
            // Saturating: one ID twice in a frame could count an object twice.
            false_positives: shown.saturating_sub(true_positives),
            misses: self.score.object_frames.saturating_sub(true_positives),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32) -> Corners {
        Corners {
            x_min: x,
            y_min: 0.0,
            x_max: x + 10.0,
            y_max: 10.0,
        }
    }

    fn truth(object: u32, x: f32) -> TruthBox {
        TruthBox {
            object,
            class_id: 1,
            bbox: at(x),
        }
    }

    fn shown(id: Option<u64>, x: f32) -> Hypothesis {
        Hypothesis {
            id,
            class_id: 1,
            bbox: at(x),
        }
    }

    #[test]
    fn counts_hits_misses_false_positives_and_flicker() {
        let mut tally = TrackingTally::default();
        // object 7 found, missed, found, found; a false positive in frame 2
        tally.add_frame(&[truth(7, 0.0)], &[shown(None, 1.0)]);
        tally.add_frame(&[truth(7, 0.0)], &[]);
        tally.add_frame(&[truth(7, 0.0)], &[shown(None, 0.0), shown(None, 50.0)]);
        tally.add_frame(&[truth(7, 0.0)], &[shown(None, 0.0)]);
        let s = tally.score();
        assert_eq!(
            (
                s.frames,
                s.object_frames,
                s.true_positives,
                s.misses,
                s.false_positives
            ),
            (4, 4, 3, 1, 1)
        );
        assert_eq!(s.flicker, 2, "a disappearance and an appearance");
        assert!((s.flicker_per_100() - 50.0).abs() < 1e-9);
        assert!((s.precision() - 0.75).abs() < 1e-9 && (s.recall() - 0.75).abs() < 1e-9);
        assert!((s.mota() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn jitter_is_the_move_of_a_box_against_its_object() {
        let mut tally = TrackingTally::default();
        // the object moves 3 px a frame and its box 1 px off it keeps up: no jitter
        tally.add_frame(&[truth(1, 0.0)], &[shown(None, 1.0)]);
        tally.add_frame(&[truth(1, 3.0)], &[shown(None, 4.0)]);
        assert_eq!(tally.score().steady_pairs, 1);
        assert_eq!(tally.score().jitter_percent(), 0.0);
        // then it stands still and the box jumps 1 px back and forth: left and right
        // edges each move 10 % of the 10 px width, top and bottom not: 5 % a frame
        tally.add_frame(&[truth(1, 3.0)], &[shown(None, 3.0)]);
        tally.add_frame(&[truth(1, 3.0)], &[shown(None, 4.0)]);
        // a missed frame, then found: neither pair counts
        tally.add_frame(&[truth(1, 3.0)], &[]);
        tally.add_frame(&[truth(1, 3.0)], &[shown(None, 3.0)]);
        let s = tally.score();
        assert_eq!(s.steady_pairs, 3);
        assert!(
            (s.jitter_percent() - 100.0 * 0.1 / 3.0).abs() < 1e-4,
            "{s:?}"
        );
    }

    #[test]
    fn an_object_out_of_view_does_not_flicker() {
        let mut tally = TrackingTally::default();
        tally.add_frame(&[truth(1, 0.0)], &[shown(None, 0.0)]);
        tally.add_frame(&[], &[]); // it left the frame
        tally.add_frame(&[truth(1, 0.0)], &[]); // back, not found: not a change from a frame before
        assert_eq!(tally.score().flicker, 0);
    }

    #[test]
    fn identity_switches_count_a_new_track_on_a_known_object() {
        let mut tally = TrackingTally::default();
        tally.add_frame(
            &[truth(1, 0.0), truth(2, 100.0)],
            &[shown(Some(5), 0.0), shown(Some(6), 100.0)],
        );
        tally.add_frame(&[truth(1, 0.0), truth(2, 100.0)], &[shown(Some(5), 0.0)]);
        // object 2 found again by another track; object 1 still by 5
        tally.add_frame(
            &[truth(1, 0.0), truth(2, 100.0)],
            &[shown(Some(5), 0.0), shown(Some(9), 100.0)],
        );
        let s = tally.score();
        assert_eq!(s.id_switches, 1);
        assert!(
            (s.mota() - (1.0 - 2.0 / 6.0)).abs() < 1e-9,
            "one miss, one switch"
        );
    }

    #[test]
    fn the_best_overlap_wins_and_classes_never_match() {
        let mut tally = TrackingTally::default();
        let dog = Hypothesis {
            id: None,
            class_id: 2,
            bbox: at(0.0),
        };
        tally.add_frame(&[truth(1, 0.0), truth(2, 4.0)], &[shown(None, 3.0), dog]);
        let s = tally.score();
        // the cat box at 3 overlaps object 2 (at 4) best; object 1 is missed; the dog is false
        assert_eq!((s.true_positives, s.misses, s.false_positives), (1, 1, 1));
    }

    /// A scripted sequence scored by py-motmetrics 1.4.0 for reference (`MOTAccumulator`,
    /// `distances.iou_matrix(max_iou=0.5)`, boxes as these): two objects, three tracks, a
    /// new track on object 1, object 2 missed twice and away once, a false positive, and
    /// two tracks crossing in the last frame. motmetrics gives IDTP 8, IDFP 7, IDFN 7,
    /// IDF1 0.5333, 3 switches and MOTA 0.5333.
    #[test]
    fn identity_and_clear_mot_scores_match_py_motmetrics() {
        type Frame = (&'static [(u32, f32)], &'static [(u64, f32)]);
        let frames: [Frame; 8] = [
            (&[(1, 0.0), (2, 100.0)], &[(10, 0.0), (11, 100.0)]),
            (&[(1, 0.0), (2, 100.0)], &[(10, 1.0), (11, 101.0)]),
            (&[(1, 0.0), (2, 100.0)], &[(10, 2.0)]),
            (&[(1, 0.0), (2, 100.0)], &[(12, 0.0), (11, 100.0)]),
            (
                &[(1, 0.0), (2, 100.0)],
                &[(12, 0.0), (11, 100.0), (10, 50.0)],
            ),
            (&[(1, 0.0)], &[(12, 1.0), (11, 100.0)]),
            (&[(1, 0.0), (2, 100.0)], &[(12, 0.0)]),
            (&[(1, 0.0), (2, 100.0)], &[(10, 0.0), (12, 100.0)]),
        ];
        let mut tally = TrackingTally::default();
        for (objects, tracks) in frames {
            let truth: Vec<_> = objects.iter().map(|&(o, x)| truth(o, x)).collect();
            let shown: Vec<_> = tracks.iter().map(|&(id, x)| shown(Some(id), x)).collect();
            tally.add_frame(&truth, &shown);
        }
        let s = tally.score();
        let identity = s.identity.expect("tracks have IDs");
        assert_eq!(
            (
                identity.true_positives,
                identity.false_positives,
                identity.misses
            ),
            (8, 7, 7)
        );
        assert!((identity.f1() - 8.0 / 15.0).abs() < 1e-9);
        assert_eq!(s.id_switches, 3);
        assert!((s.mota() - 8.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn boxes_without_ids_have_no_identity_score() {
        let mut tally = TrackingTally::default();
        tally.add_frame(&[truth(1, 0.0)], &[shown(None, 0.0)]);
        assert_eq!(tally.score().identity, None);
    }
}
