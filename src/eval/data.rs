//! Labelled images for evaluation, in either layout of PASCAL VOC:
//!
//! - JSON lines (`shared/data/voc`): `<year>/<set>.jsonl`, one image per line, images at
//!   `<year>/JPEGImages/<id>.jpg` beside the file;
//! - VOCdevkit: `<year>/ImageSets/Main/<set>.txt`, `<year>/Annotations/<id>.xml`,
//!   `<year>/JPEGImages/<id>.jpg`.
//!
//! VOC boxes are 1-based inclusive pixels (pixel k covers [k-1, k]); they are turned into
//! the continuous 0-based frame of our detections as [xmin-1, ymin-1, xmax, ymax], so
//! that plain IoU there equals VOC's "+1" IoU on the original numbers.
//!
//! Bad entries do not stop a run: each becomes a [`Problem`], counted and reported.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::EvalError;
use crate::files::read_text_capped;
use crate::model::Corners;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// How far (pixels) a box may stick out of its image before it counts as a problem;
/// the JSON-lines boxes are rounded to 2 decimals.
const BOX_TOLERANCE: f32 = 0.5;
/// Largest annotation file read: a JSON-lines set (VOC2007 trainval is 1.5 MB).
const MAX_ANNOTATIONS_BYTES: u64 = 256 * 1024 * 1024;
/// Largest list of image ids read (VOC2007 trainval's is 55 KB).
const MAX_ID_LIST_BYTES: u64 = 16 * 1024 * 1024;
/// Largest VOCdevkit XML annotation of one image read (they are about 1 KB).
const MAX_XML_BYTES: u64 = 1024 * 1024;

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

/// What went wrong with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The annotations name an image file that is not there.
    MissingImage,
    /// The image file cannot be decoded, or its size differs from its annotation.
    UnreadableImage,
    /// A JSON line or XML file that cannot be parsed (the whole image is skipped).
    MalformedRecord,
    /// A box outside its image (clipped) or empty (dropped).
    BoxOutsideImage,
    /// An object whose class the model does not know (dropped).
    UnknownClass,
    /// An id (of the split file or the image list) with no annotation.
    UnknownId,
    /// An image annotated (or listed) more than once; counted once, as first annotated.
    DuplicateId,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 7] = [
        ProblemKind::MissingImage,
        ProblemKind::UnreadableImage,
        ProblemKind::MalformedRecord,
        ProblemKind::BoxOutsideImage,
        ProblemKind::UnknownClass,
        ProblemKind::UnknownId,
        ProblemKind::DuplicateId,
    ];

    /// What it is called in reports, for `count` of them.
    pub fn noun(self, count: usize) -> &'static str {
        let one = count == 1;
        match self {
            ProblemKind::MissingImage if one => "missing image",
            ProblemKind::MissingImage => "missing images",
            ProblemKind::UnreadableImage if one => "unreadable image",
            ProblemKind::UnreadableImage => "unreadable images",
            ProblemKind::MalformedRecord if one => "malformed record",
            ProblemKind::MalformedRecord => "malformed records",
            ProblemKind::BoxOutsideImage if one => "box outside its image",
            ProblemKind::BoxOutsideImage => "boxes outside their image",
            ProblemKind::UnknownClass if one => "unknown class name",
            ProblemKind::UnknownClass => "unknown class names",
            ProblemKind::UnknownId if one => "id without annotation",
            ProblemKind::UnknownId => "ids without annotation",
            ProblemKind::DuplicateId if one => "duplicated image id",
            ProblemKind::DuplicateId => "duplicated image ids",
        }
    }
}

/// One problem, with a message naming the file (and line) it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem met while reading and running, in the order met.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn push(&mut self, kind: ProblemKind, message: impl Into<String>) {
        self.0.push(Problem {
            kind,
            message: message.into(),
        });
    }

    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn count(&self, kind: ProblemKind) -> usize {
        self.0.iter().filter(|p| p.kind == kind).count()
    }

    /// Count per kind, for machine-readable output (every kind present, zeros included).
    pub fn counts(&self) -> BTreeMap<ProblemKind, usize> {
        ProblemKind::ALL
            .into_iter()
            .map(|kind| (kind, self.count(kind)))
            .collect()
    }

    /// "2 missing images, 1 unknown class name", or None when there was no problem.
    pub fn summary(&self) -> Option<String> {
        let parts: Vec<String> = ProblemKind::ALL
            .into_iter()
            .filter_map(|kind| match self.count(kind) {
                0 => None,
                n => Some(format!("{n} {}", kind.noun(n))),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Where the annotations are, once found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A JSON-lines file; images in `JPEGImages/` beside it.
    JsonLines { file: PathBuf },
    /// A VOCdevkit year folder and its image list.
    VocXml { year_dir: PathBuf, list: PathBuf },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::JsonLines { file } => write!(f, "{}", file.display()),
            Source::VocXml { year_dir, list } => write!(
                f,
                "{} (VOCdevkit XML, ids from {})",
                year_dir.display(),
                list.display()
            ),
        }
    }
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
                read_voc_xml(year_dir, &ids, class_names, &mut problems)
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

const EXPECTED: &str = "a .jsonl file, or a folder holding <YEAR>/<SET>.jsonl \
    (the JSON-lines layout of shared/data/voc) or <YEAR>/ImageSets/Main/<SET>.txt with \
    Annotations/ and JPEGImages/ (the VOCdevkit layout)";

/// Finds the annotations: `path` may be a `.jsonl` file, a VOC root holding
/// `<year>/<set>.jsonl` or a VOCdevkit `<year>/`, such a year folder itself, or a folder
/// holding `VOCdevkit/<year>/`.
pub fn locate(path: &Path, year: &str, image_set: &str) -> Result<Source, EvalError> {
    let not_found = |reason: &str| EvalError::DataNotFound {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
        expected: EXPECTED.replace("<YEAR>", year).replace("<SET>", image_set),
    };
    if !path.exists() {
        return Err(not_found("does not exist"));
    }
    if path.is_file() {
        return if path.extension().is_some_and(|e| e == "jsonl") {
            Ok(Source::JsonLines {
                file: path.to_path_buf(),
            })
        } else {
            Err(not_found("is a file but not a .jsonl file"))
        };
    }
    let jsonl = format!("{image_set}.jsonl");
    for file in [path.join(year).join(&jsonl), path.join(&jsonl)] {
        if file.is_file() {
            return Ok(Source::JsonLines { file });
        }
    }
    let list = Path::new("ImageSets")
        .join("Main")
        .join(format!("{image_set}.txt"));
    for year_dir in [
        path.join(year),
        path.to_path_buf(),
        path.join("VOCdevkit").join(year),
    ] {
        if year_dir.join(&list).is_file() {
            return Ok(Source::VocXml {
                list: year_dir.join(&list),
                year_dir,
            });
        }
    }
    Err(not_found("holds no annotations"))
}

/// Ids, one per line; blank lines and `#` comments skipped. Errors when it lists none.
pub fn read_split_file(path: &Path) -> Result<Vec<String>, EvalError> {
    let ids = parse_id_list(&read_text(path, MAX_ID_LIST_BYTES, "a split file")?);
    if ids.is_empty() {
        return Err(EvalError::EmptySplit {
            path: path.to_path_buf(),
        });
    }
    Ok(ids)
}

fn parse_id_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, EvalError> {
    read_text_capped(path, limit, what).map_err(|error| EvalError::Read {
        path: path.to_path_buf(),
        error,
    })
}

#[derive(Deserialize)]
struct JsonRecord {
    id: String,
    width: u32,
    height: u32,
    #[serde(default = "present_by_default")]
    image_present: bool,
    #[serde(default)]
    objects: Vec<JsonObject>,
}

fn present_by_default() -> bool {
    true
}

#[derive(Deserialize)]
struct JsonObject {
    name: String,
    bbox: [f32; 4],
    #[serde(default)]
    difficult: Flag,
}

/// 0/1 as in the data, or a JSON boolean.
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(untagged)]
enum Flag {
    #[default]
    Absent,
    Number(u8),
    Bool(bool),
}

impl Flag {
    fn is_set(self) -> bool {
        matches!(self, Flag::Number(n) if n != 0) || matches!(self, Flag::Bool(true))
    }
}

/// Parses JSON lines (`file` only names them in messages and locates the images, in
/// `JPEGImages/` beside it). Bad lines and objects are recorded in `problems`.
pub fn parse_json_lines(
    text: &str,
    file: &Path,
    class_names: &[String],
    problems: &mut Problems,
) -> Vec<Sample> {
    let images = file.parent().unwrap_or(Path::new(".")).join("JPEGImages");
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let place = format!("{}:{}", file.display(), index + 1);
        let record: JsonRecord = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(error) => {
                problems.push(ProblemKind::MalformedRecord, format!("{place}: {error}"));
                continue;
            }
        };
        if record.width == 0 || record.height == 0 {
            problems.push(
                ProblemKind::MalformedRecord,
                format!("{place}: image {} has no size", record.id),
            );
            continue;
        }
        let place = format!("{place} (image {})", record.id);
        let objects = record
            .objects
            .iter()
            .filter_map(|o| {
                let raw = RawObject {
                    name: &o.name,
                    bbox: o.bbox,
                    difficult: o.difficult.is_set(),
                };
                raw.convert(record.width, record.height, class_names, &place, problems)
            })
            .collect();
        samples.push(Sample {
            image_path: images.join(format!("{}.jpg", record.id)),
            id: record.id,
            width: record.width,
            height: record.height,
            image_present: record.image_present,
            objects,
        });
    }
    samples
}

fn read_voc_xml(
    year_dir: &Path,
    ids: &[String],
    class_names: &[String],
    problems: &mut Problems,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(ids.len());
    for id in ids {
        let xml = year_dir.join("Annotations").join(format!("{id}.xml"));
        let text = match read_text_capped(&xml, MAX_XML_BYTES, "a VOC annotation") {
            Ok(text) => text,
            Err(error) => {
                problems.push(
                    ProblemKind::UnknownId,
                    format!(
                        "{}: cannot read the annotation of {id}: {error}",
                        xml.display()
                    ),
                );
                continue;
            }
        };
        let image_path = year_dir.join("JPEGImages").join(format!("{id}.jpg"));
        if let Some(sample) = parse_voc_xml(&text, &xml, id, image_path, class_names, problems) {
            samples.push(sample);
        }
    }
    samples
}

/// Parses one VOCdevkit annotation. A file that cannot be read as one is recorded in
/// `problems` and gives None; bad objects are dropped (and recorded).
pub fn parse_voc_xml(
    text: &str,
    file: &Path,
    id: &str,
    image_path: PathBuf,
    class_names: &[String],
    problems: &mut Problems,
) -> Option<Sample> {
    let place = file.display().to_string();
    match parse_voc_xml_inner(text) {
        Ok((width, height, raw)) => {
            let objects = raw
                .iter()
                .filter_map(|(name, bbox, difficult)| {
                    let raw = RawObject {
                        name,
                        bbox: *bbox,
                        difficult: *difficult,
                    };
                    raw.convert(width, height, class_names, &place, problems)
                })
                .collect();
            Some(Sample {
                id: id.to_owned(),
                image_path,
                width,
                height,
                image_present: true,
                objects,
            })
        }
        Err(message) => {
            problems.push(ProblemKind::MalformedRecord, format!("{place}: {message}"));
            None
        }
    }
}

type RawXmlObject = (String, [f32; 4], bool);

fn parse_voc_xml_inner(text: &str) -> Result<(u32, u32, Vec<RawXmlObject>), String> {
    let document = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let root = document.root_element();
    if !root.has_tag_name("annotation") {
        return Err(format!(
            "the root element is <{}>, not <annotation>",
            root.tag_name().name()
        ));
    }
    let size = child(root, "size").ok_or("no <size>")?;
    let dimension = |tag: &str| -> Result<u32, String> {
        let text = child_text(size, tag).ok_or(format!("no <size><{tag}>"))?;
        match text.parse::<f32>() {
            Ok(v) if v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f32 => Ok(v as u32),
            _ => Err(format!("<{tag}>{text}</{tag}> is not an image size")),
        }
    };
    let (width, height) = (dimension("width")?, dimension("height")?);
    let mut objects = Vec::new();
    for object in root.children().filter(|n| n.has_tag_name("object")) {
        let name = child_text(object, "name").ok_or("an <object> without <name>")?;
        let difficult = match child_text(object, "difficult") {
            None | Some("0") | Some("") => false,
            Some("1") => true,
            Some(other) => return Err(format!("<difficult>{other}</difficult> is not 0 or 1")),
        };
        let bndbox = child(object, "bndbox").ok_or(format!("the {name} has no <bndbox>"))?;
        let mut bbox = [0.0; 4];
        for (value, tag) in bbox.iter_mut().zip(["xmin", "ymin", "xmax", "ymax"]) {
            let text =
                child_text(bndbox, tag).ok_or(format!("the {name} has no <bndbox><{tag}>"))?;
            *value = text
                .parse()
                .map_err(|_| format!("the {name}'s <{tag}>{text}</{tag}> is not a number"))?;
        }
        objects.push((name.to_owned(), bbox, difficult));
    }
    Ok((width, height, objects))
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    tag: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(node, tag).map(|n| n.text().unwrap_or("").trim())
}

struct RawObject<'a> {
    name: &'a str,
    /// VOC's 1-based inclusive pixels.
    bbox: [f32; 4],
    difficult: bool,
}

impl RawObject<'_> {
    /// The object in continuous coordinates, or None (recorded) when it cannot be used.
    fn convert(
        &self,
        width: u32,
        height: u32,
        class_names: &[String],
        place: &str,
        problems: &mut Problems,
    ) -> Option<Object> {
        let name = self.name.trim();
        let Some(class_id) = class_names
            .iter()
            .skip(1)
            .position(|n| n == name)
            .map(|i| i + 1)
        else {
            problems.push(
                ProblemKind::UnknownClass,
                format!("{place}: unknown class name '{name}' (object dropped)"),
            );
            return None;
        };
        let [xmin, ymin, xmax, ymax] = self.bbox;
        let bbox = Corners {
            x_min: xmin - 1.0,
            y_min: ymin - 1.0,
            x_max: xmax,
            y_max: ymax,
        };
        let (w, h) = (width as f32, height as f32);
        let finite = self.bbox.iter().all(|v| v.is_finite());
        let outside = bbox.x_min < -BOX_TOLERANCE
            || bbox.y_min < -BOX_TOLERANCE
            || bbox.x_max > w + BOX_TOLERANCE
            || bbox.y_max > h + BOX_TOLERANCE;
        if finite && !outside && bbox.x_max > bbox.x_min && bbox.y_max > bbox.y_min {
            return Some(Object {
                class_id,
                bbox,
                difficult: self.difficult,
            });
        }
        let clipped = Corners {
            x_min: bbox.x_min.clamp(0.0, w),
            y_min: bbox.y_min.clamp(0.0, h),
            x_max: bbox.x_max.clamp(0.0, w),
            y_max: bbox.y_max.clamp(0.0, h),
        };
        let usable = finite && clipped.x_max > clipped.x_min && clipped.y_max > clipped.y_min;
        problems.push(
            ProblemKind::BoxOutsideImage,
            format!(
                "{place}: the {name} box [{xmin}, {ymin}, {xmax}, {ymax}] is {} the {width} x {height} image ({})",
                if usable { "outside" } else { "empty or outside" },
                if usable { "clipped" } else { "object dropped" }
            ),
        );
        usable.then_some(Object {
            class_id,
            bbox: clipped,
            difficult: self.difficult,
        })
    }
}
