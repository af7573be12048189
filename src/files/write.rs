//! Creating output files without losing what is there: a new file unless the caller was
//! told to replace (`--force`, a confirmation), and names numbered apart when one run
//! would write two outputs, or an output over an input, under the same name.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Why an output could not be created. The messages leave the path out: the caller's
/// error names it, and says how to replace it where it can.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("it exists already")]
    Exists,
    #[error("{0}")]
    Io(std::io::Error),
}

/// Opens `path` for writing: a new file, or with `replace` an existing one emptied.
/// Without `replace` an existing file (or anything else at the path) is left alone;
/// the check and the creation are one step, so no other writer slips in between.
pub fn create_output(path: &Path, replace: bool) -> Result<File, WriteError> {
    let mut options = OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    options.open(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::AlreadyExists => WriteError::Exists,
        _ => WriteError::Io(error),
    })
}

/// What identifies an existing file, whatever the path that leads to it (links, `..`,
/// a second hard link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    /// None when nothing is at `path` (or, off Unix, always).
    pub fn of(path: &Path) -> Option<FileId> {
        FileId::from_metadata(&std::fs::metadata(path).ok()?)
    }

    pub(crate) fn from_metadata(metadata: &std::fs::Metadata) -> Option<FileId> {
        identify(metadata)
    }
}

#[cfg(unix)]
fn identify(metadata: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        device: metadata.dev(),
        inode: metadata.ino(),
    })
}

#[cfg(not(unix))]
fn identify(_: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// Whether `a` and `b` name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    FileId::of(a).is_some_and(|id| FileId::of(b) == Some(id))
}

/// `dir/<stem><suffix>`, or the first of `dir/<stem>-2<suffix>`, `-3`, ... that is not
/// `taken` (`suffix` is e.g. ".png", or empty).
pub fn numbered_path(
    dir: &Path,
    stem: &str,
    suffix: &str,
    taken: impl Fn(&Path) -> bool,
) -> PathBuf {
    let mut path = dir.join(format!("{stem}{suffix}"));
    let mut number = 2u64;
    while taken(&path) {
        path = dir.join(format!("{stem}-{number}{suffix}"));
        number += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_file_is_kept_unless_replacing_was_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mine.json");
        std::fs::write(&path, "precious").expect("write");
        assert!(matches!(
            create_output(&path, false),
            Err(WriteError::Exists)
        ));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "precious");
        create_output(&path, true).expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "");
    }

    #[test]
    fn numbered_names_skip_the_taken_ones() {
        let taken = [PathBuf::from("d/a.png"), PathBuf::from("d/a-2.png")];
        let path = numbered_path(Path::new("d"), "a", ".png", |p| {
            taken.iter().any(|t| t == p)
        });
        assert_eq!(path, Path::new("d/a-3.png"));
    }
}
