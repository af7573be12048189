//! The native file dialog (the side panel's Open buttons), apart from the state: it
//! only answers with a path, which then goes the way a typed or dropped one goes
//! ([`super::Command::Open`]). The app asks a [`FilePicker`]: the native one, or in
//! tests one that answers as the dialog would.

use std::path::{Path, PathBuf};

/// What the user asks to open, and so which dialog and which files it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    Photo,
    Folder,
    Video,
    Model,
}

impl OpenKind {
    pub const ALL: [OpenKind; 4] = [
        OpenKind::Photo,
        OpenKind::Folder,
        OpenKind::Video,
        OpenKind::Model,
    ];

    /// The button's text.
    pub fn button(self) -> &'static str {
        match self {
            OpenKind::Photo => "Photo…",
            OpenKind::Folder => "Folder…",
            OpenKind::Video => "Video…",
            OpenKind::Model => "Model…",
        }
    }

    /// The dialog's title, and the button's hover text.
    pub fn title(self) -> &'static str {
        match self {
            OpenKind::Photo => "Play a photo (PNG or JPEG)",
            OpenKind::Folder => "Play a folder of photos",
            OpenKind::Video => "Play a video",
            OpenKind::Model => "Use a model (.safetensors)",
        }
    }
}

/// Why no dialog could be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no file dialog on this desktop ({0}): type the path in the field or drop the file on the window"
)]
pub struct DialogUnavailable(pub String);

/// What the window says when the dialog gave no path. On Linux that is also what rfd
/// answers when the session bus has no file chooser (no portal, no zenity), which it
/// cannot tell from a cancel: the note says what to do then.
pub const NOTHING_CHOSEN: &str = if cfg!(all(unix, not(target_os = "macos"))) {
    "no file chosen (no dialog? type the path above or drop the file on the window)"
} else {
    "no file chosen"
};

/// Asks the user for a file or folder: `Ok(None)` when they cancelled.
pub trait FilePicker {
    fn pick(&mut self, kind: OpenKind) -> Result<Option<PathBuf>, DialogUnavailable>;
}

/// Videos the dialog lists first (ffmpeg reads more: "All files" shows them).
const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg"];

/// The system's dialog (rfd): on Linux the XDG desktop portal over D-Bus, or zenity,
/// so no GTK. It blocks the UI thread while open, which is where macOS wants it: the
/// app's update runs on the main thread.
pub struct NativeDialog {
    /// Where the next dialog starts: the folder of the last file chosen.
    start_in: Option<PathBuf>,
}

impl NativeDialog {
    pub fn new() -> NativeDialog {
        NativeDialog { start_in: None }
    }
}

impl Default for NativeDialog {
    fn default() -> Self {
        NativeDialog::new()
    }
}

impl FilePicker for NativeDialog {
    fn pick(&mut self, kind: OpenKind) -> Result<Option<PathBuf>, DialogUnavailable> {
        if let Some(missing) = missing_dialog_service() {
            return Err(DialogUnavailable(missing));
        }
        let mut dialog = rfd::FileDialog::new().set_title(kind.title());
        if let Some(folder) = &self.start_in {
            dialog = dialog.set_directory(folder);
        }
        let chosen = match kind {
            OpenKind::Folder => dialog.pick_folder(),
            OpenKind::Photo => dialog
                .add_filter("PNG or JPEG", &crate::detect::IMAGE_EXTENSIONS)
                .pick_file(),
            OpenKind::Video => dialog
                .add_filter("Videos", &VIDEO_EXTENSIONS)
                .add_filter("All files", &["*"])
                .pick_file(),
            OpenKind::Model => dialog
                .add_filter("Model", &[crate::model::MODEL_EXTENSION])
                .pick_file(),
        };
        if let Some(path) = &chosen {
            self.start_in = start_folder(path, kind);
        }
        Ok(chosen)
    }
}

/// The folder the next dialog opens in after `chosen`.
fn start_folder(chosen: &Path, kind: OpenKind) -> Option<PathBuf> {
    match kind {
        OpenKind::Folder => Some(chosen.to_path_buf()),
        _ => chosen.parent().map(Path::to_path_buf),
    }
}

/// On Linux the dialog is the desktop portal, reached over the D-Bus session bus, or
/// zenity: with neither (a bare X server, CI) rfd only logs errors and answers as if
/// cancelled, so this says why first. Elsewhere the system always has one.
#[cfg(all(unix, not(target_os = "macos")))]
fn missing_dialog_service() -> Option<String> {
    let session_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|runtime| Path::new(&runtime).join("bus").exists());
    let zenity = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|folder| folder.join("zenity").is_file())
    });
    (!session_bus && !zenity)
        .then(|| "no D-Bus session for the desktop portal, and no zenity".to_string())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn missing_dialog_service() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_dialog_starts_where_the_last_choice_was() {
        let photo = Path::new("/photos/trip/a.jpg");
        assert_eq!(
            start_folder(photo, OpenKind::Photo),
            Some(PathBuf::from("/photos/trip"))
        );
        let folder = Path::new("/photos/trip");
        assert_eq!(
            start_folder(folder, OpenKind::Folder),
            Some(PathBuf::from("/photos/trip"))
        );
    }
}
