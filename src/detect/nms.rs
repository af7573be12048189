//! Non-maximum suppression: the greedy rule both suppressions share, the per-class NMS
//! of [`super::Postprocessor`] and the optional class-agnostic pass that drops a box of
//! one class lying on a better box of another (one object, two classes).

use super::postprocess::Detection;
use crate::model::Corners;
use std::borrow::Borrow;
use std::cmp::Ordering;

/// Greedy suppression over `items`, taken as best first: each item is kept unless
/// `suppresses(kept, item)` holds for an item kept before it. The kept items are moved
/// to the front, in their order, and their count returned; at most `limit` are kept
/// (the rest are not looked at, which bounds the quadratic work).
pub fn keep_greedily<T>(
    items: &mut [T],
    limit: usize,
    suppresses: impl Fn(&T, &T) -> bool,
) -> usize {
    let mut kept = 0;
    for next in 0..items.len() {
        if kept == limit {
            break;
        }
        let (before, rest) = items.split_at(next);
        let Some(item) = rest.first() else { break };
        if !before[..kept].iter().any(|k| suppresses(k, item)) {
            items.swap(kept, next);
            kept += 1;
        }
    }
    kept
}

/// Per-class NMS: of the boxes of one class, taken as best first, each is dropped when it
/// overlaps a box kept before it by an IoU above `iou`. The kept boxes are moved to the
/// front, in their order, and their count returned.
pub fn suppress_within_class<T>(boxes: &mut [T], iou: f32, bbox: impl Fn(&T) -> &Corners) -> usize {
    keep_greedily(boxes, usize::MAX, |kept, candidate| {
        bbox(kept).iou(bbox(candidate)) > iou
    })
}

/// Class-agnostic suppression: drops every detection whose box overlaps a better
/// detection of another class by an IoU above `iou` (boxes of one class are left to
/// the per-class NMS). "Better" is the higher score; equal scores go to the lower
/// class id (the order [`super::Postprocessor`] emits, which is kept as it is). Keeps
/// at most `limit` detections, best first.
///
/// Generic over owned and borrowed detections, so the app can run it on the boxes that
/// pass its sliders; in place, so a frame allocates nothing.
pub fn suppress_across_classes<D: Borrow<Detection>>(
    detections: &mut Vec<D>,
    iou: f32,
    limit: usize,
) {
    let better_first = |a: &D, b: &D| {
        let (a, b) = (a.borrow(), b.borrow());
        b.score
            .total_cmp(&a.score)
            .then(a.class_id.cmp(&b.class_id))
    };
    if !detections.is_sorted_by(|a, b| better_first(a, b) != Ordering::Greater) {
        // Detections of one class and one score never suppress each other, so the
        // survivors do not depend on how this unstable sort orders them.
        detections.sort_unstable_by(better_first);
    }
    let kept = keep_greedily(detections, limit, |kept, candidate| {
        let (kept, candidate) = (kept.borrow(), candidate.borrow());
        kept.class_id != candidate.class_id && kept.bbox.iou(&candidate.bbox) > iou
    });
    detections.truncate(kept);
}

/// [`suppress_across_classes`] over boxes already shown (no limit), when `iou` is
/// given (the one-class-per-object view is on): what the app, annotated videos and the
/// tracking benchmark show.
pub fn keep_one_class_per_object<D: Borrow<Detection>>(shown: &mut Vec<D>, iou: Option<f32>) {
    if let Some(iou) = iou {
        suppress_across_classes(shown, iou, usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::box_coder::Corners;

    /// A 10 x 10 box at `x`; two such boxes `dx` apart overlap by (10 - dx) / (10 + dx).
    fn detection(class_id: usize, score: f32, x: f32) -> Detection {
        Detection {
            class_id,
            label: format!("class{class_id}").into(),
            score,
            bbox: Corners::new(x, 0.0, x + 10.0, 10.0),
        }
    }

    fn survivors(mut detections: Vec<Detection>, iou: f32, limit: usize) -> Vec<(usize, f32)> {
        suppress_across_classes(&mut detections, iou, limit);
        detections.iter().map(|d| (d.class_id, d.score)).collect()
    }

    #[test]
    fn per_class_nms_keeps_the_best_of_overlapping_boxes_and_the_ones_apart() {
        let square = |x: f32| Corners {
            x_min: x,
            y_min: 0.0,
            x_max: x + 10.0,
            y_max: 10.0,
        };
        // Best first: 0 and 1 overlap by IoU 9/11 (dropped at 0.45), 0 and 2 by 1/3
        // (kept), 3 lies apart.
        let mut boxes = vec![
            (0.9, square(0.0)),
            (0.8, square(1.0)),
            (0.7, square(5.0)),
            (0.6, square(40.0)),
        ];
        let kept = suppress_within_class(&mut boxes, 0.45, |(_, b)| b);
        let scores: Vec<f32> = boxes[..kept].iter().map(|(score, _)| *score).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.6]);
        // At an IoU of 1/3 exactly the limit, both are kept; below it, the lesser goes.
        let mut pair = vec![(0.9, square(0.0)), (0.7, square(5.0))];
        assert_eq!(suppress_within_class(&mut pair, 1.0 / 3.0, |(_, b)| b), 2);
        assert_eq!(suppress_within_class(&mut pair, 0.3, |(_, b)| b), 1);
    }

    #[test]
    fn a_box_of_another_class_overlapping_more_than_the_iou_is_dropped() {
        // dx = 1: IoU 9 / 11 = 0.818; dx = 2: 8 / 12 = 0.667.
        let horse = detection(13, 0.61, 0.0);
        let cow = detection(10, 0.42, 1.0);
        assert_eq!(
            survivors(vec![horse.clone(), cow.clone()], 0.7, 10),
            vec![(13, 0.61)]
        );
        assert_eq!(
            survivors(vec![horse.clone(), cow.clone()], 0.85, 10),
            vec![(13, 0.61), (10, 0.42)],
            "0.818 is not above 0.85"
        );
        let apart = detection(10, 0.42, 2.0);
        assert_eq!(
            survivors(vec![horse, apart], 0.7, 10),
            vec![(13, 0.61), (10, 0.42)],
            "0.667 is not above 0.7"
        );
    }

    #[test]
    fn boxes_of_one_class_are_left_to_the_per_class_nms() {
        let found = survivors(
            vec![detection(2, 0.9, 0.0), detection(2, 0.5, 0.0)],
            0.5,
            10,
        );
        assert_eq!(found, vec![(2, 0.9), (2, 0.5)]);
    }

    #[test]
    fn an_iou_exactly_at_the_limit_keeps_both() {
        // dx = 2: IoU 8 / 12, the same f32 the limit is computed as.
        let limit = detection(1, 0.9, 0.0)
            .bbox
            .iou(&detection(2, 0.8, 2.0).bbox);
        let found = survivors(
            vec![detection(1, 0.9, 0.0), detection(2, 0.8, 2.0)],
            limit,
            10,
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn the_better_box_wins_whatever_the_input_order() {
        // bicycle 0.90 over motorbike 0.26 on one bike, given worst first.
        let found = survivors(
            vec![detection(14, 0.26, 0.0), detection(2, 0.90, 0.0)],
            0.7,
            10,
        );
        assert_eq!(found, vec![(2, 0.90)]);
    }

    #[test]
    fn equal_scores_go_to_the_lower_class_id() {
        let found = survivors(
            vec![detection(9, 0.5, 0.0), detection(3, 0.5, 0.0)],
            0.7,
            10,
        );
        assert_eq!(found, vec![(3, 0.5)]);
    }

    #[test]
    fn a_dropped_box_suppresses_nothing() {
        // b (0.8) lies on a (0.9) and is dropped; c (0.7) overlaps b by 0.818 but a by
        // only 0.667, so c survives: only kept boxes suppress.
        let found = survivors(
            vec![
                detection(1, 0.9, 0.0),
                detection(2, 0.8, 1.0),
                detection(3, 0.7, 2.0),
            ],
            0.7,
            10,
        );
        assert_eq!(found, vec![(1, 0.9), (3, 0.7)]);
    }

    #[test]
    fn at_most_limit_survive_best_first() {
        let far_apart: Vec<_> = [0.5, 0.6, 0.7, 0.8, 0.9]
            .into_iter()
            .enumerate()
            .map(|(i, score)| detection(1 + i, score, 20.0 * i as f32))
            .collect();
        let found = survivors(far_apart, 0.7, 2);
        assert_eq!(found, vec![(5, 0.9), (4, 0.8)]);
    }

    #[test]
    fn borrowed_detections_are_filtered_alike() {
        let owned = [detection(13, 0.61, 0.0), detection(10, 0.42, 0.5)];
        let mut borrowed: Vec<&Detection> = owned.iter().collect();
        suppress_across_classes(&mut borrowed, 0.7, usize::MAX);
        assert_eq!(borrowed, vec![&owned[0]]);
    }

    #[test]
    fn keep_greedily_moves_the_kept_to_the_front_in_order() {
        let mut values = [10, 11, 20, 12, 30];
        // A value is suppressed by a kept one of the same tens.
        let kept = keep_greedily(&mut values, usize::MAX, |k, v| k / 10 == v / 10);
        assert_eq!(&values[..kept], &[10, 20, 30]);
    }
}
