//! Reading a file a user names: it must be a regular file (a FIFO would block the
//! reader forever, `/dev/zero` never ends, a folder or socket cannot be read), and it is
//! read with a size cap, checked again while reading (a device reports length 0).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Why a file could not be read. The messages leave the path out: the caller's error
/// names it.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(std::io::Error),
    #[error("it is {kind}, not a regular file")]
    NotAFile { kind: &'static str },
    #[error("it is {size} bytes, more than the {limit} {what} can be")]
    TooLarge {
        size: u64,
        limit: u64,
        what: &'static str,
    },
    #[error("it is not UTF-8 text")]
    NotText,
}

/// The bytes of the regular file `path`, at most `limit` of them (`what` names the kind
/// of file in the error, e.g. "a threshold profile").
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    // The kind is checked before opening (opening a FIFO for reading blocks until a
    // writer comes) and again on the opened file, in case the path changed in between.
    check_kind(&std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let file = open_without_blocking(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    check_kind(&metadata)?;
    let too_large = |size| ReadError::TooLarge { size, limit, what };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What tells whether a file changed since it was last looked at: its length, its
/// modification time and which file the path leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileVersion {
    len: u64,
    modified: Option<std::time::SystemTime>,
    id: Option<super::FileId>,
}

impl FileVersion {
    /// None when nothing is at `path`.
    pub fn of(path: &Path) -> Option<FileVersion> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileVersion {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            id: super::FileId::from_metadata(&metadata),
        })
    }
}

/// Refuses anything at `path` but a regular file (for a file another program is to
/// read, such as a video handed to ffmpeg).
pub fn check_regular_file(path: &Path) -> Result<(), ReadError> {
    check_kind(&std::fs::metadata(path).map_err(ReadError::Io)?)
}

/// [`read_capped`] for text files.
pub fn read_text_capped(path: &Path, limit: u64, what: &'static str) -> Result<String, ReadError> {
    String::from_utf8(read_capped(path, limit, what)?).map_err(|_| ReadError::NotText)
}

fn check_kind(metadata: &std::fs::Metadata) -> Result<(), ReadError> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    Err(ReadError::NotAFile {
        kind: describe(&file_type),
    })
}

fn describe(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_without_reading_it() {
        let error = read_capped(Path::new("/dev/zero"), 10, "a test file").expect_err("refused");
        assert!(
            matches!(error, ReadError::NotAFile { kind: "a device" }),
            "{error}"
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big");
        std::fs::write(&path, [0u8; 11]).expect("write");
        let error = read_capped(&path, 10, "a test file").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "it is 11 bytes, more than the 10 a test file can be"
        );
        assert_eq!(
            read_capped(&path, 11, "a test file").expect("read").len(),
            11
        );
    }
}
