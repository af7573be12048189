//! What the app remembers between runs, in the platform's config folder: the
//! thresholds last used (a [`ThresholdProfile`], the format `tinyssd tune` writes and
//! the profile buttons save and load), hidden classes and the folders. Derives serde
//! with `#[serde(default)]`, so files written by older versions still load.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::stamp::utc_stamp;
use crate::detect::ThresholdProfile;
use crate::files::{ReadError, RunInputs, numbered_path, read_text_capped, write_json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot write {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SettingsError> {
    let io = |error| SettingsError::Io {
        path: path.to_path_buf(),
        error,
    };
    // A settings file that is a link (kept with the user's dotfiles) is updated through
    // the link on purpose: its target is replaced, atomically like any other output.
    let target = if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
        link_target(path).map_err(io)?
    } else {
        path.to_path_buf()
    };
    write_json(&target, value, true, &RunInputs::NONE).map_err(|error| io(error.into()))
}

/// Where the link at `path` leads: the file at the end of the chain, or, when that file
/// does not exist yet, the path the link names (relative to the link's folder).
fn link_target(path: &Path) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(path).or_else(|_| {
        let named = std::fs::read_link(path)?;
        Ok(path.parent().unwrap_or(Path::new("")).join(named))
    })
}

/// Largest settings file read; a real one is about a kilobyte.
const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;

/// Renames the file at `path` to `<name>.broken-<UTC time>` beside it (numbered apart
/// from an earlier one of the same second); returns the new path.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map_or_else(|| "settings.json".into(), |n| n.to_string_lossy());
    let dir = path.parent().unwrap_or(Path::new(""));
    let stem = format!("{name}.broken-{}", utc_stamp(SystemTime::now()));
    let aside = numbered_path(dir, &stem, "", |p| p.symlink_metadata().is_ok());
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// Kept between runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The thresholds in use when the app last closed.
    pub profile: ThresholdProfile,
    /// Classes whose boxes are hidden, by name.
    pub hidden: BTreeSet<String>,
    /// The profile file last saved or loaded (the text field's content).
    pub profile_path: String,
    /// Where snapshots go.
    pub snapshot_dir: String,
    /// Where marks are kept: a VOC folder `tinyssd tune` reads ([`crate::scene`]).
    pub marks_dir: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            profile: ThresholdProfile::default(),
            hidden: BTreeSet::new(),
            profile_path: default_profile_path().display().to_string(),
            snapshot_dir: default_snapshot_dir().display().to_string(),
            marks_dir: default_snapshot_dir()
                .join("tinyssd-marks")
                .display()
                .to_string(),
        }
    }
}

impl Settings {
    /// The settings if every threshold is a number in 0..=1.
    fn checked(self) -> Result<Settings, String> {
        match self.profile.out_of_range() {
            Some((what, value)) => Err(format!("{what} is {value}, not between 0 and 1")),
            None => Ok(self),
        }
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "tinyssd")
}

/// The user's pictures folder, else their home folder, else the current folder.
pub fn default_snapshot_dir() -> PathBuf {
    let dirs = directories::UserDirs::new();
    dirs.as_ref()
        .and_then(|d| d.picture_dir().map(Path::to_path_buf))
        .or_else(|| dirs.as_ref().map(|d| d.home_dir().join("Pictures")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `profile.json` in the platform config folder (or the current folder).
pub fn default_profile_path() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().join("profile.json"))
        .unwrap_or_else(|| PathBuf::from("tinyssd-profile.json"))
}

/// Where [`Settings`] live: a file, or nowhere (tests, `--no-persist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsStore {
    path: Option<PathBuf>,
}

impl SettingsStore {
    /// `settings.json` in the platform config folder
    /// (`~/.config/tinyssd/` on Linux).
    pub fn platform() -> SettingsStore {
        SettingsStore {
            path: project_dirs().map(|d| d.config_dir().join("settings.json")),
        }
    }

    pub fn at(path: PathBuf) -> SettingsStore {
        SettingsStore { path: Some(path) }
    }

    pub fn none() -> SettingsStore {
        SettingsStore { path: None }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The stored settings; defaults when there are none yet. A damaged file gives
    /// the defaults and the reason, never an error that stops the app; it is moved
    /// aside (`settings.json.broken-<UTC time>`) first, so that saving the defaults on
    /// quit cannot replace it. When it cannot be moved, this run saves no settings.
    pub fn load(&mut self) -> (Settings, Option<String>) {
        let Some(path) = self.path.clone() else {
            return (Settings::default(), None);
        };
        let problem = match read_text_capped(&path, MAX_SETTINGS_BYTES, "a settings file") {
            Ok(text) => match serde_json::from_str::<Settings>(&text)
                .map_err(|e| e.to_string())
                .and_then(Settings::checked)
            {
                Ok(settings) => return (settings, None),
                Err(problem) => problem,
            },
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None);
            }
            Err(e) => e.to_string(),
        };
        let moved = move_aside(&path);
        let what = match &moved {
            Ok(aside) => format!("kept it as {}", aside.display()),
            Err(error) => {
                self.path = None;
                format!("cannot move it aside ({error}), so this run saves no settings")
            }
        };
        let message = format!(
            "cannot use the saved settings {} ({problem}); {what}; using the defaults",
            path.display()
        );
        (Settings::default(), Some(message))
    }

    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        match &self.path {
            Some(path) => save_json(path, settings),
            None => Ok(()),
        }
    }
}
