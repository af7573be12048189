//! Labelled images for evaluation, in either layout of PASCAL VOC:
//!
//! - JSON lines (`shared/data/voc`): `<year>/<set>.jsonl`, one image per line, images at
//!   `<year>/JPEGImages/<id>.jpg` beside the file ([`json_lines`]);
//! - VOCdevkit: `<year>/ImageSets/Main/<set>.txt`, `<year>/Annotations/<id>.xml`,
//!   `<year>/JPEGImages/<id>.jpg` ([`voc_xml`]).
//!
//! Which layout a path holds is [`layout`]'s job; VOC's box convention is [`voc_box`]'s.
//! Bad entries do not stop a run: each becomes a [`Problem`], counted and reported.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod json_lines;
mod layout;
mod problems;
mod voc_box;
mod voc_xml;

pub use json_lines::parse_json_lines;
pub use layout::{Source, locate, read_split_file};
pub use problems::{Problem, ProblemKind, Problems};
pub use voc_xml::{parse_voc_xml, write_voc_xml};

use super::EvalError;
use crate::files::read_text_capped;
use crate::model::Corners;
use layout::parse_id_list;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Whether an image id is a plain file name, so `JPEGImages/<id>.jpg` (and
/// `Annotations/<id>.xml`) stay inside the data folder: no separator, no `..`, no drive.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id != ".." && !id.contains(['/', '\\', ':', '\0'])
}

/// The message for an id that is not [`is_plain_id`].
fn id_reaches_out(place: &str, id: &str) -> String {
    format!(
        "{place}: the image id {id:?} is not a plain file name (it would reach outside the data folder)"
    )
}

/// Largest annotation file read: a JSON-lines set (VOC2007 trainval is 1.5 MB).
const MAX_ANNOTATIONS_BYTES: u64 = 256 * 1024 * 1024;
/// Largest list of image ids read (VOC2007 trainval's is 55 KB).
const MAX_ID_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// One labelled object, its box in continuous pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    /// Index into the model's class names (1.. ; 0 is background).
    pub class_id: usize,
    pub bbox: Corners,
    pub difficult: bool,
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub id: String,
    pub image_path: PathBuf,
    /// The size the boxes refer to; the image file must have it.
    pub width: u32,
    pub height: u32,
    /// False where the annotations say the image is not included (`image_present`).
    pub image_present: bool,
    pub objects: Vec<Object>,
}

/// Which part of a VOC root to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataOptions {
    /// The year folder, e.g. `VOC2007`.
    pub year: String,
    /// The image set, e.g. `trainval`: `<set>.jsonl` or `ImageSets/Main/<set>.txt`.
    pub image_set: String,
    /// A file of image ids, one per line, to keep (all present images when None).
    pub split: Option<PathBuf>,
}

impl Default for DataOptions {
    fn default() -> Self {
        DataOptions {
            year: "VOC2007".to_owned(),
            image_set: "trainval".to_owned(),
            split: None,
        }
    }
}

/// The labelled images to evaluate on.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub source: Source,
    /// Images to run on: annotated, selected by the split, with an image file.
    pub samples: Vec<Sample>,
    /// Annotated images the data set itself marks as absent (`image_present: false`).
    pub absent: usize,
    pub problems: Problems,
}

impl Dataset {
    /// Finds and reads the annotations at `path` (see [`locate`]). `class_names` are the
    /// model's, background first.
    pub fn load(
        path: &Path,
        options: &DataOptions,
        class_names: &[String],
    ) -> Result<Dataset, EvalError> {
        let source = locate(path, &options.year, &options.image_set)?;
        let split = match &options.split {
            Some(file) => Some((file.clone(), read_split_file(file)?)),
            None => None,
        };
        let mut problems = Problems::default();
        let annotated = match &source {
            Source::JsonLines { file } => {
                let text = read_text(file, MAX_ANNOTATIONS_BYTES, "a JSON-lines annotation file")?;
                parse_json_lines(&text, file, class_names, &mut problems)
            }
            Source::VocXml { year_dir, list } => {
                let ids = match &split {
                    Some((_, ids)) => ids.clone(),
                    None => parse_id_list(&read_text(list, MAX_ID_LIST_BYTES, "a list of ids")?),
                };
                voc_xml::read_voc_xml(year_dir, &ids, class_names, &mut problems)
            }
        };

        let annotated = match &split {
            None => annotated,
            Some((file, ids)) => {
                let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
                let found: HashSet<&str> = annotated.iter().map(|s| s.id.as_str()).collect();
                // (The XML reader has already reported the ids it found no file for.)
                if let Source::JsonLines { .. } = source {
                    for id in ids.iter().filter(|id| !found.contains(id.as_str())) {
                        problems.push(
                            ProblemKind::UnknownId,
                            format!("{}: id {id} has no annotation in {source}", file.display()),
                        );
                    }
                }
                annotated
                    .into_iter()
                    .filter(|s| wanted.contains(s.id.as_str()))
                    .collect()
            }
        };

        let annotated = first_of_each_id(annotated, &source, &mut problems);
        let mut absent = 0;
        let mut samples = Vec::with_capacity(annotated.len());
        for sample in annotated {
            if !sample.image_present {
                absent += 1;
            } else if !sample.image_path.is_file() {
                problems.push(
                    ProblemKind::MissingImage,
                    format!("{}: image file not found", sample.image_path.display()),
                );
            } else {
                samples.push(sample);
            }
        }
        Ok(Dataset {
            source,
            samples,
            absent,
            problems,
        })
    }
}

/// Keeps one sample per id, the first: a repeated line or id would otherwise count its
/// objects and detections twice.
fn first_of_each_id(samples: Vec<Sample>, source: &Source, problems: &mut Problems) -> Vec<Sample> {
    let mut seen = HashSet::new();
    samples
        .into_iter()
        .filter(|sample| {
            let first = seen.insert(sample.id.clone());
            if !first {
                problems.push(
                    ProblemKind::DuplicateId,
                    format!(
                        "{source}: image {} appears more than once (counted once)",
                        sample.id
                    ),
                );
            }
            first
        })
        .collect()
}

fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, EvalError> {
    read_text_capped(path, limit, what).map_err(|error| EvalError::Read {
        path: path.to_path_buf(),
        error,
    })
}
