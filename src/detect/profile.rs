//! Threshold profiles: a named set of per-class confidence thresholds (by class name)
//! and the NMS overlap, saved as JSON. `tinyssd tune` writes them; the app loads them.
//!
//! ```json
//! { "name": "voc-f1", "thresholds": { "cat": 0.42, "person": 0.37 }, "nms_iou": 0.45 }
//! ```
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::postprocess::DetectConfig;
use crate::files::{ReadError, RunInputs, WriteError, read_text_capped, write_json};
use crate::model::is_unit_interval;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest profile file read; a real one is a few hundred bytes.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the threshold profile {}: {error}", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("cannot write the threshold profile {}: {error}", path.display())]
    Write { path: PathBuf, error: WriteError },
    #[error("{} is not a threshold profile: {error}", path.display())]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{}: {what} is {value}, not between 0 and 1", path.display())]
    OutOfRange {
        path: PathBuf,
        what: String,
        value: f32,
    },
}

/// Per-class thresholds by class name; classes it does not name keep the base config's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThresholdProfile {
    pub name: String,
    /// A class named twice is an error, not a silent choice of one of the values.
    #[serde(deserialize_with = "unique_keys")]
    pub thresholds: BTreeMap<String, f32>,
    pub nms_iou: f32,
}

/// A JSON object as a map, refusing a key that comes twice (serde keeps the last).
fn unique_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, f32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct UniqueKeys;

    impl<'de> serde::de::Visitor<'de> for UniqueKeys {
        type Value = BTreeMap<String, f32>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of class names and thresholds")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut thresholds = BTreeMap::new();
            while let Some((name, threshold)) = map.next_entry::<String, f32>()? {
                if thresholds.contains_key(&name) {
                    return Err(serde::de::Error::custom(format!(
                        "the class '{name}' is given twice"
                    )));
                }
                thresholds.insert(name, threshold);
            }
            Ok(thresholds)
        }
    }

    deserializer.deserialize_map(UniqueKeys)
}

impl Default for ThresholdProfile {
    fn default() -> Self {
        ThresholdProfile {
            name: String::new(),
            thresholds: BTreeMap::new(),
            nms_iou: DetectConfig::DEFAULT_NMS_IOU,
        }
    }
}

impl ThresholdProfile {
    /// The profile of `config`, naming classes by `class_names` (background left out).
    pub fn from_config(
        name: impl Into<String>,
        config: &DetectConfig,
        class_names: &[String],
    ) -> ThresholdProfile {
        ThresholdProfile {
            name: name.into(),
            thresholds: class_names
                .iter()
                .zip(&config.thresholds)
                .skip(1)
                .map(|(n, &t)| (n.clone(), t))
                .collect(),
            nms_iou: config.nms_iou,
        }
    }

    /// `base` with this profile's thresholds and NMS overlap applied.
    pub fn apply(&self, base: &DetectConfig, class_names: &[String]) -> DetectConfig {
        let mut config = base.clone();
        config.nms_iou = self.nms_iou;
        for (class, name) in class_names.iter().enumerate().skip(1) {
            if let (Some(&t), Some(slot)) =
                (self.thresholds.get(name), config.thresholds.get_mut(class))
            {
                *slot = t;
            }
        }
        config
    }

    /// Class names of the profile that are not among `class_names`.
    pub fn unknown_classes<'a>(&'a self, class_names: &[String]) -> Vec<&'a str> {
        self.thresholds
            .keys()
            .filter(|k| !class_names.iter().skip(1).any(|n| n == *k))
            .map(String::as_str)
            .collect()
    }

    pub fn load(path: &Path) -> Result<ThresholdProfile, ProfileError> {
        let text =
            read_text_capped(path, MAX_PROFILE_BYTES, "a threshold profile").map_err(|error| {
                ProfileError::Read {
                    path: path.to_path_buf(),
                    error,
                }
            })?;
        ThresholdProfile::parse(&text, path)
    }

    /// Reads a profile from JSON text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ThresholdProfile, ProfileError> {
        let profile: ThresholdProfile =
            serde_json::from_str(text).map_err(|error| ProfileError::Parse {
                path: path.to_path_buf(),
                error,
            })?;
        profile.validate(path)?;
        Ok(profile)
    }

    /// Writes it ([`write_json`]), creating the parent folder if needed. An existing file is
    /// replaced only with `replace` (the user said so), and none of `inputs` ever.
    pub fn save(&self, path: &Path, replace: bool, inputs: &RunInputs) -> Result<(), ProfileError> {
        self.validate(path)?;
        let write = |error| ProfileError::Write {
            path: path.to_path_buf(),
            error,
        };
        write_json(path, self, replace, inputs).map_err(write)
    }

    /// The first value outside 0..=1 (a class threshold or the NMS IoU), as (what, value):
    /// the one range rule for files and for the app's remembered settings.
    pub fn out_of_range(&self) -> Option<(String, f32)> {
        self.thresholds
            .iter()
            .map(|(n, &v)| (format!("the threshold of {n}"), v))
            .chain(std::iter::once(("nms_iou".to_owned(), self.nms_iou)))
            .find(|&(_, value)| !is_unit_interval(value))
    }

    fn validate(&self, path: &Path) -> Result<(), ProfileError> {
        match self.out_of_range() {
            Some((what, value)) => Err(ProfileError::OutOfRange {
                path: path.to_path_buf(),
                what,
                value,
            }),
            None => Ok(()),
        }
    }
}
