//! Where a data set's annotations are: the JSON-lines file or the VOCdevkit year folder
//! a path leads to, and the split files that pick image ids.

use super::{MAX_ID_LIST_BYTES, read_text};
use crate::eval::EvalError;
use std::fmt;
use std::path::{Path, PathBuf};

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

pub(super) fn parse_id_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
