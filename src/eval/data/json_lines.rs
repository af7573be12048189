//! The JSON-lines layout (`shared/data/voc`): one image per line, images in
//! `JPEGImages/` beside the file.

use super::voc_box::RawObject;
use super::{ProblemKind, Problems, Sample};
use serde::Deserialize;
use std::path::Path;

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
        if !super::is_plain_id(&record.id) {
            let message = super::id_reaches_out(&place, &record.id);
            problems.push(ProblemKind::MalformedRecord, message);
            continue;
        }
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
