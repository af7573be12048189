//! The app's state, apart from any drawing: thresholds, what is shown, the newest
//! frame, live numbers and messages. The panels read and edit it; tests drive it
//! directly. The source's status ([`source`]), the profile file ([`profiles`]),
//! snapshots ([`snapshot`]) and the boxes on screen with their tracks ([`tracks`]) have
//! rooms of their own.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod marking;
mod profiles;
mod scores;
mod snapshot;
mod source;
mod tracks;

pub use marking::Marking;
pub use profiles::ProfileSaved;
pub use scores::{SCORE_BINS, SCORE_WINDOW, ScoreHistory, bin_of, bin_start};
pub use snapshot::{SnapshotError, snapshot_name};
pub use source::SourceStatus;
pub use tracks::ShownBox;

use super::settings::{Settings, SettingsError, SettingsStore};
use super::stats::LiveStats;
use crate::detect::{
    DetectConfig, Detection, ThresholdProfile, keep_one_class_per_object, passes_threshold,
};
use crate::engine::Precision;
use crate::files::RunInputs;
use crate::pipeline::{FrameResult, PipelineEvent};
use crate::track::{DistinctCounts, TrackerConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The worker reports every box at least this confident (or down to the class's
/// slider, when lower): its tracker's floor. The UI filters by the sliders, so they act
/// at once.
pub const DETECT_FLOOR: f32 = TrackerConfig::DEFAULT_MIN_SCORE;
/// Near misses are the boxes at most this far below their class's threshold.
pub const NEAR_MISS_BAND: f32 = 0.15;
/// How far the arrow keys move the selected class's threshold (Shift: five times).
pub const NUDGE_STEP: f32 = 0.01;
/// The decimals a threshold slider shows and a user's edit keeps: the model's
/// suggested thresholds have three.
pub const THRESHOLD_DECIMALS: usize = 3;
/// How long a notice stays up.
pub const NOTICE_FOR: Duration = Duration::from_secs(6);

/// A one-line message for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    pub since: Instant,
}

/// A path typed in one of the window's fields: spaces around it dropped, and a leading
/// `~` (alone or before a separator) meaning the home folder, as in a shell.
pub fn typed_path(text: &str) -> PathBuf {
    let text = text.trim();
    let rest = text
        .strip_prefix('~')
        .filter(|rest| rest.is_empty() || rest.starts_with(std::path::is_separator));
    match (rest, std::env::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest.trim_start_matches(std::path::is_separator)),
        _ => PathBuf::from(text),
    }
}

pub struct AppState {
    pub class_names: Vec<String>,
    /// What the detector's network runs in, for the status bar.
    pub precision: Precision,
    /// The model's suggestion, for "Defaults".
    pub defaults: DetectConfig,
    /// Per class id; index 0 (background) unused.
    pub thresholds: Vec<f32>,
    /// Per class id: false hides the class's boxes.
    pub shown: Vec<bool>,
    pub nms_iou: f32,
    pub snapshot_dir: String,
    pub profile_path: String,
    /// The side panel's field for a file or folder to play.
    pub open_path: String,
    /// What this run reads (the model, the source's files): never saved over.
    pub inputs: RunInputs,
    pub paused: bool,
    /// Presentation mode: the panels hidden (Tab).
    pub presenting: bool,
    /// Draw the boxes just below their thresholds (N).
    pub show_near_misses: bool,
    /// One class per object: of boxes of different classes on one object, only the
    /// best is shown and counted ([`DetectConfig::cross_class_iou`]).
    pub one_class_per_object: bool,
    /// Boxes are tracks (the default), or each frame's raw detections (T).
    pub show_tracks: bool,
    /// Tracks' tags carry their ID.
    pub show_track_ids: bool,
    /// The class picked by clicking one of its boxes: the arrow keys tune it.
    pub selected_class: Option<usize>,
    /// The side panel should bring the selected class into view (once).
    pub scroll_to_selected: bool,
    /// Recent candidate scores, for the score strips.
    pub scores: ScoreHistory,
    /// Marks on paused frames and the thresholds they suggest ([`marking`]).
    pub marking: Marking,
    /// The frame on screen and its detections (all of them, down to the floor).
    pub current: Option<FrameResult>,
    pub stats: LiveStats,
    pub source: SourceStatus,
    pub notice: Option<Notice>,
    /// The thresholds the tracks on screen were last shown at ([`tracks`]).
    tracked_thresholds: Vec<f32>,
    /// Distinct objects shown per class since a reset.
    distinct: DistinctCounts,
    /// Profile files saved by this run: saved again without asking.
    profiles_saved: Vec<PathBuf>,
    /// A profile file that exists and that Save, pressed again soon, is to replace.
    replace_asked: Option<(PathBuf, Instant)>,
    store: SettingsStore,
}

impl AppState {
    /// The state for a model with these classes and defaults, with the settings
    /// restored from `store` (or the defaults, and a notice, if they are damaged).
    pub fn new(class_names: Vec<String>, defaults: DetectConfig, store: SettingsStore) -> AppState {
        // The model's side is filled in by `use_model`, as for a model loaded later.
        let mut state = AppState {
            class_names: Vec::new(),
            precision: Precision::Fp32,
            thresholds: Vec::new(),
            shown: Vec::new(),
            nms_iou: DetectConfig::DEFAULT_NMS_IOU,
            one_class_per_object: false,
            defaults: DetectConfig::uniform(0, DetectConfig::DEFAULT_THRESHOLD),
            snapshot_dir: String::new(),
            profile_path: String::new(),
            open_path: String::new(),
            inputs: RunInputs::NONE,
            paused: false,
            presenting: false,
            show_near_misses: false,
            show_tracks: true,
            show_track_ids: false,
            selected_class: None,
            scroll_to_selected: false,
            scores: ScoreHistory::default(),
            marking: Marking::default(),
            current: None,
            stats: LiveStats::default(),
            source: SourceStatus::default(),
            notice: None,
            tracked_thresholds: Vec::new(),
            distinct: DistinctCounts::default(),
            profiles_saved: Vec::new(),
            replace_asked: None,
            store,
        };
        state.use_model(class_names, defaults);
        let (settings, problem) = state.store.load();
        state.snapshot_dir = settings.snapshot_dir.clone();
        state.profile_path = settings.profile_path.clone();
        state.marking = Marking::new(settings.marks_dir.clone());
        state.apply_profile(&settings.profile);
        state.hide(&settings.hidden);
        if let Some(problem) = problem {
            state.notify_error(problem);
        }
        state
    }

    /// Takes a model's classes and suggested settings: the thresholds are its
    /// suggestions, the classes hidden so far stay hidden where it has them (by name),
    /// and what belonged to the classes before (the selection, the score strips, the
    /// tracks and their counts, the boxes on screen, the open marks folder) is dropped.
    pub fn use_model(&mut self, class_names: Vec<String>, defaults: DetectConfig) {
        let hidden = self.hidden();
        let classes = class_names.len();
        self.class_names = class_names;
        self.defaults = defaults;
        self.defaults
            .thresholds
            .resize(classes, DetectConfig::DEFAULT_THRESHOLD);
        self.shown = vec![true; classes];
        self.reset_to_defaults();
        self.hide(&hidden);
        self.selected_class = None;
        self.scores = ScoreHistory::new(classes);
        self.forget_tracks();
        self.reset_seen();
        if let Some(frame) = &mut self.current {
            frame.detections.clear();
        }
        self.close_marks();
    }

    /// Hides the classes named, shows the others.
    fn hide(&mut self, hidden: &std::collections::BTreeSet<String>) {
        for (shown, name) in self.shown.iter_mut().zip(&self.class_names).skip(1) {
            *shown = !hidden.contains(name);
        }
    }

    /// The detections the user wants to see: class shown, score at its threshold, and
    /// with [`Self::one_class_per_object`], not lying on a better box of another class
    /// (of those shown: hiding a class brings back the boxes it had suppressed).
    pub fn visible_detections(&self) -> impl Iterator<Item = &Detection> {
        let mut visible: Vec<&Detection> = self
            .current
            .iter()
            .flat_map(|frame| frame.detections.iter())
            .filter(|d| self.is_visible(d))
            .collect();
        keep_one_class_per_object(&mut visible, self.cross_class_iou());
        visible.into_iter()
    }

    /// The IoU of the class-agnostic suppression, when it is on.
    pub fn cross_class_iou(&self) -> Option<f32> {
        self.one_class_per_object.then(|| {
            self.defaults
                .cross_class_iou
                .unwrap_or(DetectConfig::DEFAULT_CROSS_CLASS_IOU)
        })
    }

    /// Boxes of shown classes that miss their threshold by at most [`NEAR_MISS_BAND`]:
    /// what lowering the slider would bring in.
    pub fn near_misses(&self) -> impl Iterator<Item = &Detection> {
        self.current
            .iter()
            .flat_map(|frame| frame.detections.iter())
            .filter(|d| {
                self.shown.get(d.class_id).copied().unwrap_or(false)
                    && !self.passes(d)
                    && self
                        .thresholds
                        .get(d.class_id)
                        .is_some_and(|&threshold| d.score >= threshold - NEAR_MISS_BAND)
            })
    }

    /// Selects the class of the smallest box on screen holding the point (in the
    /// frame's pixels); true when one does.
    pub fn select_at(&mut self, x: f32, y: f32) -> bool {
        let hit = self.box_at(x, y).map(|d| d.class_id);
        if hit.is_some() {
            self.selected_class = hit;
            self.scroll_to_selected = true;
        }
        hit.is_some()
    }

    /// Moves the selected class's threshold by `steps` of [`NUDGE_STEP`].
    pub fn nudge_selected(&mut self, steps: i32) {
        if let Some(threshold) = self
            .selected_class
            .and_then(|id| self.thresholds.get_mut(id))
        {
            let moved = *threshold + steps as f32 * NUDGE_STEP;
            // Kept on the decimals the slider shows.
            let scale = 10f32.powi(THRESHOLD_DECIMALS as i32);
            *threshold = ((moved * scale).round() / scale).clamp(0.0, 1.0);
        }
    }

    pub fn is_visible(&self, detection: &Detection) -> bool {
        self.shown.get(detection.class_id).copied().unwrap_or(false) && self.passes(detection)
    }

    /// Whether the box passes its class's slider, by the rule `detect` applies.
    fn passes(&self, detection: &Detection) -> bool {
        passes_threshold(&self.thresholds, detection.class_id, detection.score)
    }

    /// The settings the worker runs with: the sliders' thresholds, at which it tracks
    /// (it detects down to its tracker's floor, [`DETECT_FLOOR`]), and the NMS overlap.
    pub fn worker_config(&self) -> DetectConfig {
        DetectConfig {
            thresholds: self.thresholds.clone(),
            nms_iou: self.nms_iou,
            // Done on the boxes that pass the sliders ([`Self::visible_detections`]):
            // a box under its class's slider must not suppress a visible one.
            cross_class_iou: None,
            ..self.defaults.clone()
        }
    }

    /// Moves every class's threshold to `value`.
    pub fn set_all_thresholds(&mut self, value: f32) {
        self.thresholds.iter_mut().skip(1).for_each(|t| *t = value);
    }

    /// The threshold every class has, if they all have one; `None` while they differ
    /// (the model's own suggestions do), which the All classes slider shows as mixed.
    pub fn common_threshold(&self) -> Option<f32> {
        let (first, rest) = self.thresholds.get(1..)?.split_first()?;
        rest.iter().all(|t| t == first).then_some(*first)
    }

    /// The classes' mean threshold: where the All classes slider sits while they differ.
    pub fn mean_threshold(&self) -> f32 {
        let classes = self.thresholds.get(1..).unwrap_or_default();
        classes.iter().sum::<f32>() / classes.len().max(1) as f32
    }

    /// A new frame from the pipeline, shown from now on with its tracks; returns the
    /// one it replaces (for [`crate::pipeline::Pipeline::recycle`]).
    pub fn on_result(&mut self, mut result: FrameResult, now: Instant) -> Option<FrameResult> {
        self.source.on_frame(now);
        self.take_tracks(&mut result.tracks);
        self.scores.record(now, &result.detections);
        self.marking.forget_picked();
        let latency = now.saturating_duration_since(result.captured_at);
        self.stats.on_result(&result.timings, latency);
        self.current.replace(result)
    }

    pub fn on_event(&mut self, event: PipelineEvent) {
        match &event {
            PipelineEvent::DetectFailed { message } => {
                return self.notify_error(format!("detection failed: {message}"));
            }
            PipelineEvent::LogFailed { message } => return self.notify_error(message.clone()),
            _ => {}
        }
        if let PipelineEvent::SourceOpened { .. } = &event {
            self.forget_tracks();
        }
        if let Some(news) = self.source.on_event(event) {
            self.notify(news);
        }
    }

    /// Pauses or resumes; on resuming, the wait for the next frame starts afresh.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        if self.paused && !paused {
            self.source.on_resume(now);
            self.marking.forget_picked();
        }
        self.paused = paused;
    }

    /// The source's stall note ([`SourceStatus::stall_note`]); none while paused.
    pub fn stall_note(&self, now: Instant) -> Option<String> {
        if self.paused {
            return None;
        }
        self.source.stall_note(now)
    }

    pub fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            is_error: false,
            since: Instant::now(),
        });
    }

    pub fn notify_error(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::warn!("{text}");
        self.notice = Some(Notice {
            text,
            is_error: true,
            since: Instant::now(),
        });
    }

    /// The notice, while it is fresh.
    pub fn live_notice(&self, now: Instant) -> Option<&Notice> {
        self.notice
            .as_ref()
            .filter(|n| now.saturating_duration_since(n.since) < NOTICE_FOR)
    }

    /// The current thresholds and NMS overlap as a profile named `name`.
    pub fn profile(&self, name: &str) -> ThresholdProfile {
        ThresholdProfile::from_config(name, &self.config(), &self.class_names)
    }

    /// The settings as the user sees them (the worker gets [`Self::worker_config`]).
    pub fn config(&self) -> DetectConfig {
        DetectConfig {
            thresholds: self.thresholds.clone(),
            nms_iou: self.nms_iou,
            cross_class_iou: self.cross_class_iou(),
            ..self.defaults.clone()
        }
    }

    /// Takes a profile's values; classes it does not name get the model's defaults.
    /// Returns the classes it names that this model does not have.
    pub fn apply_profile(&mut self, profile: &ThresholdProfile) -> Vec<String> {
        let config = profile.apply(&self.defaults, &self.class_names);
        self.thresholds = config
            .thresholds
            .iter()
            .zip(&self.defaults.thresholds)
            .map(|(t, model)| {
                if t.is_finite() {
                    t.clamp(0.0, 1.0)
                } else {
                    *model
                }
            })
            .collect();
        self.nms_iou = if config.nms_iou.is_finite() {
            config.nms_iou.clamp(0.0, 1.0)
        } else {
            self.defaults.nms_iou
        };
        profile
            .unknown_classes(&self.class_names)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Which classes are hidden, by name.
    pub fn hidden(&self) -> std::collections::BTreeSet<String> {
        self.class_names
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(id, _)| !self.shown.get(id).copied().unwrap_or(true))
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Back to the model's suggestion, every class shown.
    pub fn reset_to_defaults(&mut self) {
        self.thresholds = self.defaults.thresholds.clone();
        self.shown.fill(true);
        self.nms_iou = self.defaults.nms_iou;
        self.one_class_per_object = self.defaults.cross_class_iou.is_some();
    }

    /// What is remembered between runs.
    pub fn settings(&self) -> Settings {
        Settings {
            profile: self.profile("last used"),
            hidden: self.hidden(),
            profile_path: self.profile_path.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
            marks_dir: self.marking.dir.clone(),
        }
    }

    pub fn save_settings(&self) -> Result<(), SettingsError> {
        self.store.save(&self.settings())
    }
}

#[cfg(test)]
mod tests {
    use super::typed_path;
    use std::path::PathBuf;

    #[test]
    fn a_typed_tilde_is_the_home_folder_as_in_a_shell() {
        let home = std::env::home_dir().expect("a home folder");
        assert_eq!(
            typed_path(" ~/profiles/desk.json "),
            home.join("profiles/desk.json")
        );
        assert_eq!(typed_path("~"), home);
        for kept in ["~alice/x.json", "notes/~", "/tmp/x.json"] {
            assert_eq!(typed_path(kept), PathBuf::from(kept), "{kept}");
        }
    }
}
