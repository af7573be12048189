//! App-wide actions: the drawing code returns them, [`super::App`] applies them once
//! at the end of the frame.

/// Something the whole app does.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    TogglePause,
    /// Hide or show everything but the picture, its boxes and a large FPS figure.
    TogglePresenting,
    ToggleFullscreen,
    ToggleNearMisses,
    /// Boxes as tracks, or as each frame's raw detections.
    ToggleTracks,
    /// Move the selected class's threshold by this many hundredths.
    NudgeThreshold(i32),
    /// Mark the box clicked on the paused frame right (true) or wrong.
    Judge(bool),
    /// Take back the last mark.
    UndoMark,
    Snapshot,
    Quit,
    SaveProfile,
    LoadProfile,
    ResetDefaults,
    /// Read this camera instead of the current source.
    UseCamera(u32),
    UseDemo,
    RefreshCameras,
    /// Show the image this many places on in the image list playing (back when
    /// negative), wrapping around.
    StepImage(isize),
    /// Play these files (dropped on the window, or typed in the side panel): a photo, a
    /// folder of photos, a video, or several photos; or use a model file.
    Open(Vec<std::path::PathBuf>),
    /// Ask for a file or folder of this kind in the system's dialog, then open it as
    /// [`Command::Open`] does.
    Browse(super::dialog::OpenKind),
}
