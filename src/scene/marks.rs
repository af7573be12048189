//! One marked frame: the detector's candidates on it, the user's marks, and what the two
//! make together as labelled objects.

use crate::detect::{DetectConfig, Detection};
use crate::eval::{Object, Protocol};
use crate::model::Corners;
use serde::{Deserialize, Serialize};

/// What the user said about a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A box the detector found, on an object of its class.
    Right,
    /// A box the detector found where there is no object of its class.
    Wrong,
    /// An object of the class that the user drew: the detector missed it at the
    /// thresholds shown.
    Missed,
}

/// One judged box, in the frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub verdict: Verdict,
    pub class_id: usize,
    pub bbox: Corners,
    /// The detector's best score for this class and place ([`best_candidate`]); 0 where
    /// it has none, down to the candidates' floor.
    pub score: f32,
}

/// The post-processing the candidates are made with: `tinyssd eval`'s and `tune`'s own
/// (the protocol's floor, well below any threshold one would choose), so that the
/// folder, evaluated by them, gives the detections the marks were made on.
pub fn candidate_config(num_classes: usize) -> DetectConfig {
    Protocol::voc2007().detect_config(num_classes)
}

/// The highest-scoring candidate of `class_id` that overlaps `bbox` by at least the
/// protocol's matching IoU: the box a mark there stands for.
pub fn best_candidate<'a>(
    candidates: &'a [Detection],
    class_id: usize,
    bbox: &Corners,
) -> Option<&'a Detection> {
    let match_iou = Protocol::voc2007().match_iou;
    candidates
        .iter()
        .filter(|c| c.class_id == class_id && c.bbox.iou(bbox) >= match_iou)
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

/// A frame's marks and the candidates they were made on.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMarks {
    /// The frame's name in the data set (`JPEGImages/<id>.jpg`).
    pub id: String,
    pub width: u32,
    pub height: u32,
    /// The detector's boxes on the frame as saved, made with [`candidate_config`].
    pub candidates: Vec<Detection>,
    pub marks: Vec<Mark>,
}

impl FrameMarks {
    /// Marks the candidate standing for `bbox` (a box on screen, of `class_id`) right or
    /// wrong, replacing an earlier mark of the same candidate. A box judged right that
    /// the saved frame gives no candidate for is an object the detector misses there:
    /// it is kept as [`Verdict::Missed`]. Returns the mark, or None where a box judged
    /// wrong has no candidate (there is nothing to count against the detector).
    pub fn judge(&mut self, class_id: usize, bbox: Corners, right: bool) -> Option<Mark> {
        let mark = match (best_candidate(&self.candidates, class_id, &bbox), right) {
            (Some(candidate), _) => Mark {
                verdict: if right {
                    Verdict::Right
                } else {
                    Verdict::Wrong
                },
                class_id,
                bbox: candidate.bbox,
                score: candidate.score,
            },
            (None, true) => return Some(self.draw(class_id, bbox)),
            (None, false) => return None,
        };
        let judged_before = self.marks.iter().position(|m| {
            m.verdict != Verdict::Missed && m.class_id == class_id && m.bbox == mark.bbox
        });
        match judged_before {
            Some(index) => self.marks[index] = mark,
            None => self.marks.push(mark),
        }
        Some(mark)
    }

    /// Adds an object of `class_id` the user drew at `bbox`; its score is that of the
    /// best candidate there, or 0.
    pub fn draw(&mut self, class_id: usize, bbox: Corners) -> Mark {
        let score = best_candidate(&self.candidates, class_id, &bbox).map_or(0.0, |c| c.score);
        let mark = Mark {
            verdict: Verdict::Missed,
            class_id,
            bbox,
            score,
        };
        self.marks.push(mark);
        mark
    }

    /// The frame as labelled objects: the boxes judged right and the ones drawn are the
    /// objects; every candidate no mark stands for becomes a difficult object, which
    /// evaluation leaves out, so it counts neither way. (A box judged wrong is neither:
    /// its candidate is a false positive.)
    pub fn objects(&self) -> Vec<Object> {
        let objects = self
            .marks
            .iter()
            .filter(|m| m.verdict != Verdict::Wrong)
            .map(|m| Object {
                class_id: m.class_id,
                bbox: m.bbox,
                difficult: false,
            });
        let unjudged = self
            .candidates
            .iter()
            .filter(|c| !self.stands_for(c))
            .map(|c| Object {
                class_id: c.class_id,
                bbox: c.bbox,
                difficult: true,
            });
        objects.chain(unjudged).collect()
    }

    /// Whether a mark stands for this candidate: it judged it, or it is the best
    /// candidate of a box drawn.
    fn stands_for(&self, candidate: &Detection) -> bool {
        self.marks.iter().any(|m| {
            m.class_id == candidate.class_id
                && match m.verdict {
                    Verdict::Right | Verdict::Wrong => m.bbox == candidate.bbox,
                    Verdict::Missed => best_candidate(&self.candidates, m.class_id, &m.bbox)
                        .is_some_and(|best| std::ptr::eq(best, candidate)),
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn corners(x: f32) -> Corners {
        Corners {
            x_min: x,
            y_min: 10.0,
            x_max: x + 40.0,
            y_max: 60.0,
        }
    }

    fn candidate(class_id: usize, score: f32, x: f32) -> Detection {
        Detection {
            class_id,
            label: Arc::from("c"),
            score,
            bbox: corners(x),
        }
    }

    fn frame() -> FrameMarks {
        FrameMarks {
            id: "frame-0001".into(),
            width: 320,
            height: 240,
            candidates: vec![
                candidate(15, 0.9, 0.0),
                candidate(15, 0.3, 100.0),
                candidate(9, 0.2, 200.0),
                candidate(9, 0.05, 203.0),
            ],
            marks: Vec::new(),
        }
    }

    #[test]
    fn a_judged_box_takes_its_best_candidates_box_and_score() {
        let mut frame = frame();
        let on_screen = Corners {
            x_min: 4.0,
            ..corners(0.0)
        };
        let mark = frame.judge(15, on_screen, true).expect("a candidate there");
        assert_eq!(mark.verdict, Verdict::Right);
        assert_eq!((mark.bbox, mark.score), (corners(0.0), 0.9));
        // Judged again, the verdict changes and no second mark appears.
        frame.judge(15, on_screen, false);
        assert_eq!(frame.marks.len(), 1);
        assert_eq!(frame.marks[0].verdict, Verdict::Wrong);
    }

    #[test]
    fn a_box_without_candidate_is_missed_when_right_and_refused_when_wrong() {
        let mut frame = frame();
        assert_eq!(frame.judge(15, corners(250.0), false), None);
        let mark = frame.judge(15, corners(250.0), true).expect("kept");
        assert_eq!((mark.verdict, mark.score), (Verdict::Missed, 0.0));
    }

    #[test]
    fn a_drawn_box_scores_as_its_best_candidate_of_the_class() {
        let mut frame = frame();
        assert_eq!(frame.draw(9, corners(201.0)).score, 0.2);
        assert_eq!(frame.draw(15, corners(201.0)).score, 0.0, "another class");
    }

    #[test]
    fn unjudged_candidates_become_difficult_objects_and_wrong_ones_vanish() {
        let mut frame = frame();
        frame.judge(15, corners(0.0), true);
        frame.judge(15, corners(100.0), false);
        frame.draw(9, corners(201.0));
        let objects = frame.objects();
        let plain: Vec<(usize, Corners)> = objects
            .iter()
            .filter(|o| !o.difficult)
            .map(|o| (o.class_id, o.bbox))
            .collect();
        assert_eq!(plain, vec![(15, corners(0.0)), (9, corners(201.0))]);
        let difficult: Vec<(usize, Corners)> = objects
            .iter()
            .filter(|o| o.difficult)
            .map(|o| (o.class_id, o.bbox))
            .collect();
        // The 0.2 candidate stands for the drawn box; the 0.05 one is unjudged.
        assert_eq!(difficult, vec![(9, corners(203.0))]);
    }
}
