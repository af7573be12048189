//! Writing output files without losing what is there. Every file the program writes
//! (drawings, plots, profiles, settings, snapshots) goes through [`AtomicOutput`]: the
//! bytes go to a new temporary file in the target's folder, renamed into place only when
//! complete, so a crash, a signal or a full disk leaves the old file or nothing, never
//! half a file. An existing file is replaced only when the caller was told to
//! (`--force`, a confirmation), and then the rename replaces whatever is at the path: a
//! symbolic link there is replaced itself, its target is never written through. Names
//! are numbered apart when one run would write two outputs, or an output over an input,
//! under the same name ([`numbered_path`]).

use std::fs::Permissions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why an output could not be created. The messages leave the path out: the caller's
/// error names it, and says how to replace it where it can.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("it exists already")]
    Exists,
    #[error("it is a folder")]
    Folder,
    #[error("it is one of this run's inputs")]
    Input,
    #[error("{0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for WriteError {
    fn from(error: std::io::Error) -> WriteError {
        WriteError::Io(error)
    }
}

impl From<WriteError> for std::io::Error {
    fn from(error: WriteError) -> std::io::Error {
        match error {
            WriteError::Exists => std::io::ErrorKind::AlreadyExists.into(),
            WriteError::Folder => std::io::ErrorKind::IsADirectory.into(),
            WriteError::Input => std::io::Error::other(error.to_string()),
            WriteError::Io(error) => error,
        }
    }
}

/// A file being written: a temporary file beside `target`, renamed to it by
/// [`commit`](AtomicOutput::commit). Dropped uncommitted (an error, a panic), the
/// temporary file is removed and `target` is as it was.
#[derive(Debug)]
pub struct AtomicOutput {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    replace: bool,
}

impl AtomicOutput {
    /// Starts writing `path`: without `replace`, anything already at the path is left
    /// alone (checked now, so nothing is written in vain, and again at the rename, so no
    /// other writer slips in between). With `replace`, an existing file keeps its
    /// permissions. A file among `inputs` is never replaced, `replace` or not.
    pub fn create(
        path: &Path,
        replace: bool,
        inputs: &RunInputs,
    ) -> Result<AtomicOutput, WriteError> {
        let existing = std::fs::symlink_metadata(path).ok();
        match &existing {
            Some(metadata) if metadata.is_dir() => return Err(WriteError::Folder),
            Some(metadata) if inputs.holds(metadata) => return Err(WriteError::Input),
            Some(_) if !replace => return Err(WriteError::Exists),
            _ => {}
        }
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = path.file_name().map_or_else(
            || "output".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        if let Some(permissions) = permissions_for(existing.as_ref()) {
            builder.permissions(permissions);
        }
        let file = builder.tempfile_in(dir)?;
        Ok(AtomicOutput {
            file,
            target: path.to_path_buf(),
            replace,
        })
    }

    /// The file it will be, for messages.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where the bytes go until the commit, for a writer that needs a path rather than
    /// this value's [`Write`] (another program: ffmpeg writes a video there).
    pub fn partial_path(&self) -> &Path {
        self.file.path()
    }

    /// Writes the file to disk and renames it into place (the rename replaces a link at
    /// the path, not the link's target). Fails with [`WriteError::Exists`] if something
    /// took the path meanwhile (without `replace`).
    pub fn commit(mut self) -> Result<(), WriteError> {
        self.file.as_file_mut().flush()?;
        self.file.as_file().sync_all()?;
        let persisted = if self.replace {
            self.file.persist(&self.target)
        } else {
            self.file.persist_noclobber(&self.target)
        };
        persisted
            .map(drop)
            .map_err(|error| match error.error.kind() {
                std::io::ErrorKind::AlreadyExists => WriteError::Exists,
                _ => WriteError::Io(error.error),
            })
    }
}

/// Writes `bytes` to `path` as one [`AtomicOutput`]: the whole file or nothing.
pub fn write_file(
    path: &Path,
    bytes: &[u8],
    replace: bool,
    inputs: &RunInputs,
) -> Result<(), WriteError> {
    let mut out = AtomicOutput::create(path, replace, inputs)?;
    out.write_all(bytes)?;
    out.commit()
}

/// `value` as pretty JSON with a final newline, written by [`write_file`], its folder
/// made first if need be: the form of every JSON file the program keeps (profiles,
/// settings, marks).
pub fn write_json<T: serde::Serialize>(
    path: &Path,
    value: &T,
    replace: bool,
    inputs: &RunInputs,
) -> Result<(), WriteError> {
    // (Cannot fail for the plain structs written; were it to, it is a write that failed.)
    let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    text.push('\n');
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    write_file(path, text.as_bytes(), replace, inputs)
}

/// The permissions of what is replaced, or for a new file read and write for everyone
/// less the process's umask (a temporary file's own default is owner-only). Off Unix the
/// platform's default.
#[cfg(unix)]
fn permissions_for(existing: Option<&std::fs::Metadata>) -> Option<Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(
        existing
            .filter(|metadata| metadata.is_file())
            .map_or_else(|| Permissions::from_mode(0o666), |m| m.permissions()),
    )
}

#[cfg(not(unix))]
fn permissions_for(_: Option<&std::fs::Metadata>) -> Option<Permissions> {
    None
}

impl Write for AtomicOutput {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for AtomicOutput {
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(position)
    }
}

/// The files a run reads (its model, its profile), by identity, so that no output of the
/// run replaces one of them under whatever name it is reached.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    files: Vec<FileId>,
}

impl RunInputs {
    /// For writers that read nothing the user could name as an output.
    pub const NONE: RunInputs = RunInputs { files: Vec::new() };

    /// The files at `paths` (those that exist).
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a Path>) -> RunInputs {
        RunInputs {
            files: paths.into_iter().filter_map(FileId::of).collect(),
        }
    }

    /// Adds the files at `paths` (a source opened later in the run).
    pub fn add(&mut self, paths: &[PathBuf]) {
        self.files
            .extend(paths.iter().filter_map(|path| FileId::of(path)));
    }

    /// Whether the file at `path` (itself, not what a link there points to) is one of
    /// the inputs.
    pub fn contains(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|metadata| self.holds(&metadata))
    }

    /// Whether the directory entry `metadata` describes is one of the inputs (a link to
    /// one is not: a rename replaces the link, not what it points to).
    fn holds(&self, metadata: &std::fs::Metadata) -> bool {
        FileId::from_metadata(metadata).is_some_and(|id| self.files.contains(&id))
    }
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

    fn write(path: &Path, replace: bool, inputs: &RunInputs, text: &str) -> Result<(), WriteError> {
        let mut out = AtomicOutput::create(path, replace, inputs)?;
        out.write_all(text.as_bytes())?;
        out.commit()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_existing_file_is_kept_unless_replacing_was_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mine.json");
        std::fs::write(&path, "precious").expect("write");
        let refused = write(&path, false, &RunInputs::NONE, "new");
        assert!(matches!(refused, Err(WriteError::Exists)), "{refused:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "precious");
        write(&path, true, &RunInputs::NONE, "new").expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(
            names_in(dir.path()),
            ["mine.json"],
            "no temporary file is left"
        );
    }

    #[test]
    fn nothing_appears_under_the_final_name_until_the_file_is_complete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("picture.png");
        let mut out = AtomicOutput::create(&path, false, &RunInputs::NONE).expect("created");
        out.write_all(b"half a pic").expect("write");
        assert!(!path.exists(), "the final name is taken only by the rename");
        drop(out);
        assert!(
            names_in(dir.path()).is_empty(),
            "an abandoned write leaves nothing"
        );

        std::fs::write(&path, "old").expect("write");
        let mut out = AtomicOutput::create(&path, true, &RunInputs::NONE).expect("created");
        out.write_all(b"half").expect("write");
        drop(out);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
    }

    #[test]
    fn a_path_taken_while_writing_is_not_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.txt");
        let out = AtomicOutput::create(&path, false, &RunInputs::NONE).expect("created");
        std::fs::write(&path, "someone else's").expect("write");
        assert!(matches!(out.commit(), Err(WriteError::Exists)));
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone else's"
        );
        assert_eq!(names_in(dir.path()), ["out.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_replaced_itself_never_written_through() {
        let dir = tempfile::tempdir().expect("temp dir");
        let precious = dir.path().join("model.safetensors");
        std::fs::write(&precious, "weights").expect("write");
        let link = dir.path().join("out.png");
        std::os::unix::fs::symlink(&precious, &link).expect("link");
        assert!(matches!(
            write(&link, false, &RunInputs::NONE, "png"),
            Err(WriteError::Exists)
        ));
        write(&link, true, &RunInputs::NONE, "png").expect("replaced");
        assert_eq!(std::fs::read_to_string(&precious).expect("read"), "weights");
        assert!(!link.symlink_metadata().expect("there").is_symlink());
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "png");
    }

    #[cfg(unix)]
    #[test]
    fn an_input_is_never_replaced_by_any_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = dir.path().join("model.safetensors");
        std::fs::write(&model, "weights").expect("write");
        let second_name = dir.path().join("hard-link.json");
        std::fs::hard_link(&model, &second_name).expect("hard link");
        let inputs = RunInputs::of([model.as_path()]);
        for path in [&model, &second_name] {
            let refused = write(path, true, &inputs, "{}");
            assert!(matches!(refused, Err(WriteError::Input)), "{refused:?}");
        }
        assert_eq!(std::fs::read_to_string(&model).expect("read"), "weights");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_usual_permissions_and_a_replaced_one_keeps_its_own() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("new.txt");
        write(&path, false, &RunInputs::NONE, "x").expect("written");
        let mode = |p: &Path| p.metadata().expect("there").permissions().mode() & 0o777;
        let usual = dir.path().join("usual.txt");
        std::fs::write(&usual, "x").expect("write");
        assert_eq!(
            mode(&path),
            mode(&usual),
            "what any new file gets under this umask"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write(&path, true, &RunInputs::NONE, "y").expect("replaced");
        assert_eq!(mode(&path), 0o600);
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
