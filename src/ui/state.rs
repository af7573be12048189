//! The app's state, apart from any drawing: thresholds, what is shown, the newest
//! frame, live numbers and messages. The panels read and edit it; tests drive it
//! directly.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::settings::{Settings, SettingsError, SettingsStore};
use super::stamp::utc_stamp;
use super::stats::LiveStats;
use crate::detect::{DetectConfig, Detection, ProfileError, ThresholdProfile, draw_detections};
use crate::files::{WriteError, numbered_path};
use crate::pipeline::{CameraEntry, FrameResult, PipelineEvent, list_cameras};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The worker reports every box at least this confident (or down to the class's
/// slider, when lower); the UI filters by the sliders, so they act at once.
pub const DETECT_FLOOR: f32 = 0.1;
/// No new frame for this long (and three times the usual gap) counts as a stall.
pub const STALL_AFTER: Duration = Duration::from_secs(2);
/// How long a notice stays up.
pub const NOTICE_FOR: Duration = Duration::from_secs(6);

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no frame to save yet: wait for the first picture")]
    NoFrame,
    #[error(
        "cannot create the snapshot folder {}: {error}; type another folder in the snapshot field",
        path.display()
    )]
    Folder {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cannot write {}: {error}; is the folder writable? Type another folder in the snapshot field",
        path.display()
    )]
    Write {
        path: PathBuf,
        error: image::ImageError,
    },
}

/// A one-line message for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    pub since: Instant,
}

pub struct AppState {
    pub class_names: Vec<String>,
    /// The model's suggestion, for "Defaults".
    pub defaults: DetectConfig,
    /// Per class id; index 0 (background) unused.
    pub thresholds: Vec<f32>,
    /// Per class id: false hides the class's boxes.
    pub shown: Vec<bool>,
    /// The slider that moves every class at once.
    pub all_threshold: f32,
    pub nms_iou: f32,
    pub snapshot_dir: String,
    pub profile_path: String,
    pub paused: bool,
    /// The frame on screen and its detections (all of them, down to the floor).
    pub current: Option<FrameResult>,
    /// When the current frame arrived, and the gap before it (for stall detection).
    frame_arrived: Option<(Instant, Duration)>,
    pub stats: LiveStats,
    /// What the source is ("demo", "camera 0: ...").
    pub source_name: String,
    pub source_description: String,
    /// The source is failing: shown as a banner until frames flow again.
    pub source_error: Option<String>,
    /// Said once, under the banner: e.g. "no camera found, showing the demo".
    pub source_note: Option<String>,
    pub notice: Option<Notice>,
    pub cameras: Vec<CameraEntry>,
    /// Why the camera list is empty or could not be read.
    pub camera_note: Option<String>,
    /// Profile files saved by this run: saved again without asking.
    profiles_saved: Vec<PathBuf>,
    /// A profile file that exists and that Save, pressed again soon, is to replace.
    replace_asked: Option<(PathBuf, Instant)>,
    store: SettingsStore,
}

/// What pressing Save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSaved {
    Saved(PathBuf),
    /// The file exists and this run did not write it: nothing written yet.
    AskToReplace(PathBuf),
}

impl AppState {
    /// The state for a model with these classes and defaults, with the settings
    /// restored from `store` (or the defaults, and a notice, if they are damaged).
    pub fn new(class_names: Vec<String>, defaults: DetectConfig, store: SettingsStore) -> AppState {
        let classes = class_names.len();
        let mut defaults = defaults;
        defaults
            .thresholds
            .resize(classes, DetectConfig::DEFAULT_THRESHOLD);
        let mut state = AppState {
            class_names,
            thresholds: defaults.thresholds.clone(),
            shown: vec![true; classes],
            all_threshold: defaults.thresholds.get(1).copied().unwrap_or(0.5),
            nms_iou: defaults.nms_iou,
            defaults,
            snapshot_dir: String::new(),
            profile_path: String::new(),
            paused: false,
            current: None,
            frame_arrived: None,
            stats: LiveStats::default(),
            source_name: String::new(),
            source_description: String::new(),
            source_error: None,
            source_note: None,
            notice: None,
            cameras: Vec::new(),
            camera_note: None,
            profiles_saved: Vec::new(),
            replace_asked: None,
            store,
        };
        let (settings, problem) = state.store.load();
        state.snapshot_dir = settings.snapshot_dir.clone();
        state.profile_path = settings.profile_path.clone();
        state.apply_profile(&settings.profile);
        for (shown, name) in state.shown.iter_mut().zip(&state.class_names).skip(1) {
            *shown = !settings.hidden.contains(name);
        }
        if let Some(problem) = problem {
            state.notify_error(problem);
        }
        state
    }

    /// The detections the user wants to see: class shown and score at its threshold.
    pub fn visible_detections(&self) -> impl Iterator<Item = &Detection> {
        self.current
            .iter()
            .flat_map(|frame| frame.detections.iter())
            .filter(|d| self.is_visible(d))
    }

    pub fn is_visible(&self, detection: &Detection) -> bool {
        let id = detection.class_id;
        self.shown.get(id).copied().unwrap_or(false) && detection.score >= self.threshold(id)
    }

    fn threshold(&self, class_id: usize) -> f32 {
        self.thresholds.get(class_id).copied().unwrap_or(1.0)
    }

    /// Boxes per class id in the current frame that pass the class's threshold
    /// (hidden classes included, so the user sees what is hidden).
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for d in self.current.iter().flat_map(|f| f.detections.iter()) {
            if d.score >= self.threshold(d.class_id)
                && let Some(count) = counts.get_mut(d.class_id)
            {
                *count += 1;
            }
        }
        counts
    }

    /// The settings the worker should detect with.
    pub fn worker_config(&self) -> DetectConfig {
        DetectConfig {
            thresholds: self
                .thresholds
                .iter()
                .map(|t| t.min(DETECT_FLOOR))
                .collect(),
            nms_iou: self.nms_iou,
            ..self.defaults.clone()
        }
    }

    /// Moves every class's threshold to `value`.
    pub fn set_all_thresholds(&mut self, value: f32) {
        self.all_threshold = value;
        self.thresholds.iter_mut().skip(1).for_each(|t| *t = value);
    }

    /// A new frame from the pipeline, shown from now on.
    pub fn on_result(&mut self, result: FrameResult, now: Instant) {
        let gap = self.frame_arrived.map_or(Duration::ZERO, |(last, _)| {
            now.saturating_duration_since(last)
        });
        self.frame_arrived = Some((now, gap));
        let latency = now.saturating_duration_since(result.captured_at);
        self.stats.on_result(&result.timings, latency);
        self.current = Some(result);
    }

    pub fn on_event(&mut self, event: PipelineEvent) {
        match event {
            PipelineEvent::SourceOpened {
                source,
                description,
            } => {
                self.source_name = source;
                self.source_description = description;
            }
            PipelineEvent::SourceOpenFailed { message } => {
                self.source_error = Some(format!("cannot open the source: {message}"));
            }
            PipelineEvent::SourceFailed {
                source,
                message,
                failures,
                retry_in,
            } => {
                self.source_name = source;
                self.source_error = Some(format!(
                    "{message} — trying again in {:.1} s (failure {failures})",
                    retry_in.as_secs_f32()
                ));
            }
            PipelineEvent::SourceWaiting { source, message } => {
                self.source_name = source;
                self.source_error = Some(message);
            }
            PipelineEvent::SourceRecovered { source } => {
                self.source_name = source;
                self.source_error = None;
                self.notify(format!("{} is back", self.source_name));
            }
            PipelineEvent::DetectFailed { message } => {
                self.notify_error(format!("detection failed: {message}"));
            }
        }
    }

    /// Pauses or resumes; on resuming, the wait for the next frame starts afresh.
    pub fn set_paused(&mut self, paused: bool, now: Instant) {
        if self.paused
            && !paused
            && let Some((arrived, _)) = &mut self.frame_arrived
        {
            *arrived = now;
        }
        self.paused = paused;
    }

    /// Says so when frames flowed and then stopped coming without an error (a camera
    /// driver stuck in a read): no new frame for [`STALL_AFTER`] and three times the
    /// last gap between frames. None while paused or while a source error is shown.
    pub fn stall_note(&self, now: Instant) -> Option<String> {
        let (arrived, gap) = self.frame_arrived?;
        let waited = now.saturating_duration_since(arrived);
        let stalled = !self.paused
            && self.source_error.is_none()
            && gap > Duration::ZERO
            && waited > STALL_AFTER.max(gap * 3);
        stalled.then(|| {
            format!(
                "no new frame from {} for {:.0} s; still waiting (pick another source to switch)",
                if self.source_name.is_empty() {
                    "the source"
                } else {
                    &self.source_name
                },
                waited.as_secs_f32()
            )
        })
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
            .map(|t| {
                if t.is_finite() {
                    t.clamp(0.0, 1.0)
                } else {
                    0.5
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
        self.all_threshold = self.thresholds.get(1).copied().unwrap_or(0.5);
    }

    /// Saves the thresholds to the profile file (named after the file). A file this
    /// run has not written is replaced only when Save is pressed again while the
    /// notice asking for it is up.
    pub fn save_profile(&mut self) -> Result<ProfileSaved, ProfileError> {
        let now = Instant::now();
        let path = PathBuf::from(self.profile_path.trim());
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let confirmed = self.profiles_saved.contains(&path)
            || self.replace_asked.as_ref().is_some_and(|(asked, since)| {
                *asked == path && now.saturating_duration_since(*since) < NOTICE_FOR
            });
        match self.profile(&name).save(&path, confirmed) {
            Ok(()) => {
                self.replace_asked = None;
                if !self.profiles_saved.contains(&path) {
                    self.profiles_saved.push(path.clone());
                }
                Ok(ProfileSaved::Saved(path))
            }
            Err(ProfileError::Write {
                error: WriteError::Exists,
                ..
            }) => {
                self.replace_asked = Some((path.clone(), now));
                Ok(ProfileSaved::AskToReplace(path))
            }
            Err(error) => Err(error),
        }
    }

    /// Loads the profile file. A file that cannot be used leaves the defaults in
    /// place and says why.
    pub fn load_profile(&mut self) {
        let path = PathBuf::from(self.profile_path.trim());
        match ThresholdProfile::load(&path) {
            Ok(profile) => {
                let unknown = self.apply_profile(&profile);
                if unknown.is_empty() {
                    self.notify(format!("loaded {}", path.display()));
                } else {
                    self.notify_error(format!(
                        "loaded {}; this model has no class {}",
                        path.display(),
                        unknown.join(", ")
                    ));
                }
            }
            Err(error) => {
                self.reset_to_defaults();
                self.notify_error(format!("{error}; using the model's defaults"));
            }
        }
    }

    /// Saves the current frame, with the visible boxes drawn, as a PNG in the
    /// snapshot folder; returns its path.
    pub fn save_snapshot(&self) -> Result<PathBuf, SnapshotError> {
        let frame = self.current.as_ref().ok_or(SnapshotError::NoFrame)?;
        let mut image = frame.image.clone();
        let visible: Vec<Detection> = self.visible_detections().cloned().collect();
        draw_detections(&mut image, &visible);
        let dir = PathBuf::from(self.snapshot_dir.trim());
        std::fs::create_dir_all(&dir).map_err(|error| SnapshotError::Folder {
            path: dir.clone(),
            error,
        })?;
        let name = snapshot_name(SystemTime::now());
        let stem = name.trim_end_matches(".png");
        let path = numbered_path(&dir, stem, ".png", Path::exists);
        image
            .save_with_format(&path, image::ImageFormat::Png)
            .map_err(|error| SnapshotError::Write {
                path: path.clone(),
                error,
            })?;
        Ok(path)
    }

    /// Re-reads the list of cameras.
    pub fn refresh_cameras(&mut self) {
        match list_cameras() {
            Ok(cameras) => {
                self.camera_note = cameras.is_empty().then(|| super::NO_CAMERA.to_string());
                self.cameras = cameras;
            }
            Err(error) => {
                self.cameras.clear();
                self.camera_note = Some(error.to_string());
            }
        }
    }

    /// What is remembered between runs.
    pub fn settings(&self) -> Settings {
        Settings {
            profile: self.profile("last used"),
            hidden: self.hidden(),
            profile_path: self.profile_path.clone(),
            snapshot_dir: self.snapshot_dir.clone(),
        }
    }

    pub fn save_settings(&self) -> Result<(), SettingsError> {
        self.store.save(&self.settings())
    }
}

/// `tinyssd-20260131-142501-123.png`, in UTC.
pub fn snapshot_name(time: SystemTime) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    format!("tinyssd-{}-{millis:03}.png", utc_stamp(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_carry_the_utc_time() {
        let time = UNIX_EPOCH + Duration::from_millis(1_769_869_501_123);
        assert_eq!(snapshot_name(time), "tinyssd-20260131-142501-123.png");
    }
}
