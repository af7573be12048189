//! The desktop app, eframe_template-shaped: [`App`] lays out the panels, [`AppState`]
//! holds everything apart from drawing, [`Settings`] are what is remembered
//! (thresholds as a [`crate::detect::ThresholdProfile`], shared with `tinyssd tune`), and
//! app-wide actions travel as [`Command`]s applied at the end of each frame.

mod app;
mod command;
mod dialog;
mod panels;
mod settings;
mod stamp;
mod state;
mod stats;

pub use app::{App, Launch};
pub use command::Command;
pub use dialog::{DialogUnavailable, FilePicker, NativeDialog, OpenKind};
pub use panels::{
    SIDE_PANEL_FRACTION, SIDE_PANEL_MAX_WIDTH, SIDE_PANEL_MIN_WIDTH, color32,
    side_panel_default_width,
};
pub use settings::{
    Settings, SettingsError, SettingsStore, default_profile_path, default_snapshot_dir,
};
pub use state::{
    AppState, DETECT_FLOOR, NEAR_MISS_BAND, Notice, ProfileSaved, SCORE_WINDOW, ScoreHistory,
    ShownBox, SnapshotError, SourceStatus, bin_of, snapshot_name,
};
pub use stats::{FrameHistory, LiveStats, MeanDuration, RateMeter};
