//! What went wrong with the entries of a data set: each bad entry becomes a [`Problem`],
//! counted and reported, and the run goes on.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

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
