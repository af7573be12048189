//! Marking the paused frame: a box clicked is judged right or wrong, a box dragged out
//! is an object the detector missed, each change saved at once in the marks folder
//! ([`crate::scene`]) and undoable; and thresholds suggested from the marks, applied
//! and taken back.

use super::{AppState, typed_path};
use crate::detect::{Detection, Detector};
use crate::eval::TuneGoal;
use crate::model::Corners;
use crate::scene::{ClassSuggestion, Mark, SceneFolder, suggest};

/// The marking side of the state.
#[derive(Default)]
pub struct Marking {
    /// The marks folder field.
    pub dir: String,
    /// Suggest the lowest threshold reaching [`Self::target_precision`] instead of the
    /// best F1.
    pub precision_goal: bool,
    pub target_precision: f64,
    /// After *Suggest*: per class with marks, its numbers now and the suggestion.
    pub suggestions: Option<Vec<ClassSuggestion>>,
    /// A box clicked while paused, waiting for its verdict, and where it was clicked
    /// (the frame's pixels).
    pub judging: Option<(Detection, [f32; 2])>,
    /// A box dragged out on the frame, waiting for its class.
    pub drawn: Option<Corners>,
    folder: Option<SceneFolder>,
    /// Runs the frames being marked: their candidates are the saved picture's.
    detector: Option<Detector>,
    /// The frame on screen as a frame of the folder: its seq and its index there.
    frame: Option<(u64, usize)>,
    /// The thresholds the suggestions were computed at.
    suggested_at: Vec<f32>,
    /// The thresholds before the last *Apply*.
    before_apply: Option<Vec<f32>>,
}

impl Marking {
    pub fn new(dir: String) -> Marking {
        Marking {
            dir,
            target_precision: 0.9,
            ..Marking::default()
        }
    }

    /// The rule *Suggest* follows.
    pub fn goal(&self) -> TuneGoal {
        if self.precision_goal {
            TuneGoal::MinPrecision(self.target_precision)
        } else {
            TuneGoal::MaxF1
        }
    }

    /// Marks in the folder open, and on how many frames.
    pub fn counts(&self) -> (usize, usize) {
        self.folder
            .as_ref()
            .map_or((0, 0), |f| (f.mark_count(), f.marked_frames().count()))
    }

    pub fn can_undo(&self) -> bool {
        self.folder.as_ref().is_some_and(SceneFolder::can_undo)
    }

    pub fn can_undo_apply(&self) -> bool {
        self.before_apply.is_some()
    }

    /// Forgets the box clicked or drawn: the frame it was on is no longer on screen.
    pub fn forget_picked(&mut self) {
        self.judging = None;
        self.drawn = None;
    }
}

impl AppState {
    /// The detector the marked frames run through (the app's model, on one thread).
    pub fn set_marking_detector(&mut self, detector: Detector) {
        self.marking.detector = Some(detector);
    }

    /// Closes the marks folder and drops what came of it (the suggestions, the
    /// thresholds before *Apply*): its marks were made with another model. The folder
    /// field stays.
    pub(super) fn close_marks(&mut self) {
        let marking = &mut self.marking;
        marking.forget_picked();
        marking.folder = None;
        marking.frame = None;
        marking.suggestions = None;
        marking.suggested_at.clear();
        marking.before_apply = None;
    }

    /// Marking needs a paused frame.
    pub fn can_mark(&self) -> bool {
        self.paused && self.current.is_some()
    }

    /// The box on screen under a click (the frame's pixels) waits for a verdict; true
    /// when there is one.
    pub fn pick_for_judging(&mut self, x: f32, y: f32) -> bool {
        self.marking.drawn = None;
        self.marking.judging = self
            .box_at(x, y)
            .filter(|_| self.can_mark())
            .map(|detection| (detection, [x, y]));
        self.marking.judging.is_some()
    }

    /// Marks the box waiting for a verdict right or wrong.
    pub fn judge(&mut self, right: bool) {
        let Some((detection, _)) = self.marking.judging.take() else {
            return;
        };
        let name = self.class_name(detection.class_id);
        let verdict = if right { "right" } else { "wrong" };
        match self.edit_marks(|frame| frame.judge(detection.class_id, detection.bbox, right)) {
            Ok(Some(mark)) if mark.verdict == crate::scene::Verdict::Missed => self.notify(
                format!("{name} marked right; the saved frame gives no {name} box there, so it counts as missed"),
            ),
            Ok(Some(_)) => self.notify(format!("{name} marked {verdict}")),
            Ok(None) => self.notify_error(format!(
                "no {name} box there in the saved frame: nothing to mark wrong"
            )),
            Err(error) => self.notify_error(error),
        }
    }

    /// The box dragged out is a missed object of `class_id`.
    pub fn draw_missed(&mut self, class_id: usize) {
        let Some(bbox) = self.marking.drawn.take() else {
            return;
        };
        let name = self.class_name(class_id);
        match self.edit_marks(|frame| frame.draw(class_id, bbox)) {
            Ok(mark) => self.notify(format!(
                "missed {name} drawn (the detector's best there: {:.2})",
                mark.score
            )),
            Err(error) => self.notify_error(error),
        }
    }

    /// Takes back the last mark of this run.
    pub fn undo_mark(&mut self) {
        let Some(folder) = &mut self.marking.folder else {
            return self.notify("no mark to undo");
        };
        match folder.undo() {
            Ok(true) => {
                self.refresh_suggestions();
                self.notify("mark undone");
            }
            Ok(false) => self.notify("no mark to undo"),
            Err(error) => self.notify_error(format!("cannot undo: {error}")),
        }
    }

    /// The marks on the frame on screen.
    pub fn marks_on_screen(&self) -> &[Mark] {
        let shown = self.current.as_ref().map(|frame| frame.seq);
        match (&self.marking.folder, self.marking.frame) {
            (Some(folder), Some((seq, index))) if Some(seq) == shown => {
                folder.frame(index).map_or(&[], |f| f.marks.as_slice())
            }
            _ => &[],
        }
    }

    /// Computes the suggestions from every mark in the folder (opened if it is not).
    pub fn suggest_thresholds(&mut self) {
        if let Err(error) = self.open_marks() {
            return self.notify_error(error);
        }
        self.marking.suggestions = Some(Vec::new());
        self.refresh_suggestions();
        let ready = self
            .marking
            .suggestions
            .iter()
            .flatten()
            .filter(|s| s.suggested.is_some())
            .count();
        self.notify(match self.marking.counts() {
            (0, _) => "no marks yet: pause, then click boxes or drag out missed ones".to_owned(),
            (marks, _) => format!(
                "{ready} class{} with a suggestion, from {marks} marks",
                if ready == 1 { "" } else { "es" }
            ),
        });
    }

    /// Computes the shown suggestions again when the marks or the thresholds changed.
    pub fn refresh_suggestions(&mut self) {
        let (Some(_), Some(folder)) = (&self.marking.suggestions, &self.marking.folder) else {
            return;
        };
        self.marking.suggestions = Some(suggest(
            folder.marked_frames(),
            &self.class_names,
            self.marking.goal(),
            &self.thresholds,
        ));
        self.marking.suggested_at.clone_from(&self.thresholds);
    }

    /// Whether the thresholds moved since the suggestions were computed.
    pub fn suggestions_stale(&self) -> bool {
        self.marking.suggestions.is_some() && self.marking.suggested_at != self.thresholds
    }

    /// Moves every class with a suggestion to it; [`Self::undo_apply`] takes it back.
    pub fn apply_suggestions(&mut self) {
        let before = self.thresholds.clone();
        let mut moved = 0;
        for tuned in self.marking.suggestions.iter().flatten() {
            if let (Some(t), Some(slot)) =
                (&tuned.suggested, self.thresholds.get_mut(tuned.class_id))
                && *slot != t.threshold
            {
                *slot = t.threshold;
                moved += 1;
            }
        }
        if moved == 0 {
            return self.notify("the thresholds are the suggested ones already");
        }
        self.marking.before_apply = Some(before);
        self.refresh_suggestions();
        self.notify(format!(
            "{moved} threshold{} set from the marks (Undo apply takes them back; Save keeps them as a profile)",
            if moved == 1 { "" } else { "s" }
        ));
    }

    /// The thresholds as before the last *Apply*.
    pub fn undo_apply(&mut self) {
        if let Some(before) = self.marking.before_apply.take() {
            self.thresholds = before;
            self.refresh_suggestions();
            self.notify("thresholds as before the suggestions");
        }
    }

    /// The smallest box on screen holding the point (the frame's pixels).
    pub(super) fn box_at(&self, x: f32, y: f32) -> Option<Detection> {
        let area = |d: &Detection| (d.bbox.x_max - d.bbox.x_min) * (d.bbox.y_max - d.bbox.y_min);
        self.on_screen()
            .into_iter()
            .map(|on_screen| on_screen.detection)
            .filter(|d| {
                let b = &d.bbox;
                (b.x_min..=b.x_max).contains(&x) && (b.y_min..=b.y_max).contains(&y)
            })
            .min_by(|a, b| area(a).total_cmp(&area(b)))
    }

    fn class_name(&self, class_id: usize) -> String {
        self.class_names
            .get(class_id)
            .cloned()
            .unwrap_or_else(|| format!("class {class_id}"))
    }

    /// Opens the folder the field names, unless it is open already.
    fn open_marks(&mut self) -> Result<(), String> {
        let dir = typed_path(&self.marking.dir);
        if dir.as_os_str().is_empty() {
            return Err("type a folder for the marks in the side panel".to_owned());
        }
        if self.marking.folder.as_ref().is_some_and(|f| f.dir() == dir) {
            return Ok(());
        }
        let detector = self
            .marking
            .detector
            .as_mut()
            .ok_or("marking needs the model, which this window was started without")?;
        let folder = SceneFolder::open(&dir, &self.class_names, detector, self.inputs.clone())
            .map_err(|error| format!("cannot keep marks there: {error}"))?;
        self.marking.folder = Some(folder);
        self.marking.frame = None;
        Ok(())
    }

    /// Edits the marks of the frame on screen (added to the folder on its first mark),
    /// saves them and refreshes the suggestions.
    fn edit_marks<R>(
        &mut self,
        edit: impl FnOnce(&mut crate::scene::FrameMarks) -> R,
    ) -> Result<R, String> {
        self.open_marks()?;
        let frame = self.current.as_ref().ok_or("no frame to mark yet")?;
        let marking = &mut self.marking;
        let (Some(folder), Some(detector)) = (&mut marking.folder, &mut marking.detector) else {
            return Err("the marks folder is not open".to_owned());
        };
        let index = match marking.frame {
            Some((seq, index)) if seq == frame.seq => index,
            _ => {
                let index = folder
                    .add_frame(&frame.image, detector)
                    .map_err(|error| format!("cannot mark this frame: {error}"))?;
                marking.frame = Some((frame.seq, index));
                index
            }
        };
        let result = folder
            .edit(index, edit)
            .map_err(|error| format!("cannot save the marks: {error}"))?
            .ok_or("the frame is no longer in the marks folder")?;
        self.refresh_suggestions();
        Ok(result)
    }
}
