//! Thresholds from the marks: the marked frames are evaluated as the labelled images the
//! folder holds ([`FrameMarks::objects`], the candidates as detections) and each class's
//! threshold is chosen by `tinyssd tune`'s rule ([`crate::eval::tune`]), so *Suggest* in
//! the app and `tinyssd tune` on the folder agree.

use super::marks::FrameMarks;
use crate::detect::Detection;
use crate::eval::tune::{stats_at, tune};
use crate::eval::{ClassThreshold, Protocol, Sample, TuneGoal, evaluate};
use std::path::PathBuf;

/// Fewer marks of a class than this suggest nothing for it: with five judged boxes one
/// mark moves precision or recall by a fifth.
pub const MIN_MARKS_PER_CLASS: usize = 6;

/// One class's suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSuggestion {
    pub class_id: usize,
    /// The class's marks, of every verdict.
    pub marks: usize,
    /// Precision and recall on the marks at the class's current threshold.
    pub now: (f64, f64),
    /// The threshold `tune` chooses, with its precision and recall on the marks; None
    /// with fewer than [`MIN_MARKS_PER_CLASS`] marks.
    pub suggested: Option<ClassThreshold>,
}

impl ClassSuggestion {
    /// How many more marks the class needs for a suggestion.
    pub fn marks_needed(&self) -> usize {
        MIN_MARKS_PER_CLASS.saturating_sub(self.marks)
    }
}

/// Per class with at least one mark, its precision and recall on the marks at `current`
/// (thresholds by class id) and, with enough marks, the threshold reaching `goal`.
pub fn suggest<'a>(
    frames: impl IntoIterator<Item = &'a FrameMarks>,
    class_names: &[String],
    goal: TuneGoal,
    current: &[f32],
) -> Vec<ClassSuggestion> {
    let frames: Vec<&FrameMarks> = frames.into_iter().collect();
    let samples: Vec<Sample> = frames
        .iter()
        .map(|frame| Sample {
            id: frame.id.clone(),
            image_path: PathBuf::from(format!("{}.jpg", frame.id)),
            width: frame.width,
            height: frame.height,
            image_present: true,
            objects: frame.objects(),
        })
        .collect();
    let detections: Vec<Vec<Detection>> = frames.iter().map(|f| f.candidates.clone()).collect();
    let protocol = Protocol::voc2007();
    let evaluation = evaluate(class_names, &samples, &detections, protocol.match_iou);
    // The floor the candidates were made with ([`super::candidate_config`]), as `tune`.
    let chosen = tune(&evaluation.classes, goal, protocol.score_threshold, current);
    evaluation
        .classes
        .iter()
        .zip(chosen)
        .filter_map(|(class, chosen)| {
            let marks = frames
                .iter()
                .flat_map(|f| &f.marks)
                .filter(|m| m.class_id == class.class_id)
                .count();
            if marks == 0 {
                return None;
            }
            let at = current.get(class.class_id).copied().unwrap_or(0.0);
            let (precision, recall, _, _) = stats_at(&class.curve, at);
            Some(ClassSuggestion {
                class_id: class.class_id,
                marks,
                now: (precision, recall),
                suggested: (marks >= MIN_MARKS_PER_CLASS).then_some(chosen),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::TuneOutcome;
    use crate::model::Corners;
    use std::sync::Arc;

    const PERSON: usize = 15;

    fn names() -> Vec<String> {
        crate::model::Architecture::tiny_ssd().class_names.clone()
    }

    fn at(x: f32) -> Corners {
        Corners {
            x_min: x,
            y_min: 0.0,
            x_max: x + 20.0,
            y_max: 40.0,
        }
    }

    /// A frame of people at the given scores, 30 pixels apart.
    fn frame(scores: &[f32]) -> FrameMarks {
        FrameMarks {
            id: "f".into(),
            width: 400,
            height: 100,
            candidates: scores
                .iter()
                .enumerate()
                .map(|(i, &score)| Detection {
                    class_id: PERSON,
                    label: Arc::from("person"),
                    score,
                    bbox: at(30.0 * i as f32),
                })
                .collect(),
            marks: Vec::new(),
        }
    }

    #[test]
    fn the_best_f1_threshold_separates_the_right_marks_from_the_wrong_ones() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
        let mut frame = frame(&scores);
        // Right above 0.55, wrong below; the 0.2 box left unjudged counts neither way.
        for (i, &score) in scores.iter().enumerate().take(7) {
            frame.judge(PERSON, at(30.0 * i as f32), score > 0.55);
        }
        let current = vec![0.25; 21];
        let suggestions = suggest([&frame], &names(), TuneGoal::MaxF1, &current);
        assert_eq!(suggestions.len(), 1);
        let person = &suggestions[0];
        assert_eq!((person.class_id, person.marks), (PERSON, 7));
        // At 0.25 all 7 judged boxes pass: 4 of them right.
        assert_eq!(person.now, (4.0 / 7.0, 1.0));
        let tuned = person.suggested.as_ref().expect("7 marks are enough");
        assert_eq!(tuned.outcome, TuneOutcome::Tuned);
        assert!((tuned.threshold - 0.55).abs() < 1e-6, "{}", tuned.threshold);
        assert_eq!((tuned.precision, tuned.recall), (1.0, 1.0));
    }

    #[test]
    fn a_drawn_miss_lowers_recall_and_too_few_marks_suggest_nothing() {
        let mut frame = frame(&[0.9, 0.3]);
        frame.judge(PERSON, at(0.0), true);
        frame.draw(PERSON, at(300.0));
        let suggestions = suggest([&frame], &names(), TuneGoal::MaxF1, &[0.5; 21]);
        let person = &suggestions[0];
        assert_eq!(person.now, (1.0, 0.5));
        assert_eq!(person.suggested, None);
        assert_eq!(person.marks_needed(), MIN_MARKS_PER_CLASS - 2);
    }
}
