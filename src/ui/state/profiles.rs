//! The threshold profile file behind the panel's Save and Load: never replaced without
//! a second press unless this run wrote it.

use super::{AppState, NOTICE_FOR, typed_path};
use crate::detect::{ProfileError, ThresholdProfile};
use crate::files::WriteError;
use std::path::PathBuf;
use std::time::Instant;

/// What pressing Save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSaved {
    Saved(PathBuf),
    /// The file exists and this run did not write it: nothing written yet.
    AskToReplace(PathBuf),
}

impl AppState {
    /// Saves the thresholds to the profile file (named after the file). A file this
    /// run has not written is replaced only when Save is pressed again while the
    /// notice asking for it is up.
    pub fn save_profile(&mut self) -> Result<ProfileSaved, ProfileError> {
        let now = Instant::now();
        let path = typed_path(&self.profile_path);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let confirmed = self.profiles_saved.contains(&path)
            || self.replace_asked.as_ref().is_some_and(|(asked, since)| {
                *asked == path && now.saturating_duration_since(*since) < NOTICE_FOR
            });
        match self.profile(&name).save(&path, confirmed, &self.inputs) {
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

    /// Loads the profile file. A file that cannot be used changes nothing (the
    /// thresholds and hidden classes stay as the user set them) and says why.
    pub fn load_profile(&mut self) {
        let path = typed_path(&self.profile_path);
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
                self.notify_error(format!("{error}; the thresholds are unchanged"));
            }
        }
    }
}
