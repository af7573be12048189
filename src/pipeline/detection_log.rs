//! The opt-in detection log (`--log FILE.jsonl`): one JSON line per processed frame.
//! The worker only formats the line and offers it to a bounded queue; a writer thread
//! of its own appends it to the file, so a slow disk never holds up detection (a line
//! that finds the queue full is counted as dropped instead). The writer flushes whenever
//! the queue runs empty, so a line is on disk within a frame or so; closing the log (or
//! dropping it) flushes everything queued. A write error stops the log and is kept for
//! the window to show ([`DetectionLog::failure`]).
//!
//! Appending never damages another file: the log is a new file, or one this program
//! recognises as its own log (empty, or its first line is a [`LogRecord`]); a link, a
//! file of the run's inputs or any other file is refused.

use crate::detect::{Detection, DetectionJson};
use crate::files::RunInputs;
use crate::track::TrackJson;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer; at 30 fps, half a minute of a stalled disk.
const QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot use {} as the detection log: {error}", path.display())]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot use {} as the detection log: it is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "cannot use {} as the detection log: it is a symbolic link; give the path of the file it points to",
        path.display()
    )]
    Link { path: PathBuf },
    #[error("cannot use {} as the detection log: it is one of this run's inputs", path.display())]
    Input { path: PathBuf },
    #[error(
        "cannot use {} as the detection log: it holds something else (its first line is not a \
         tinyssd log line); choose a new file name",
        path.display()
    )]
    NotALog { path: PathBuf },
    #[error("cannot write the detection log {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// One line of the log.
#[derive(Debug, Serialize)]
pub struct LogRecord<'a> {
    /// The frame's capture number (counts from 1 per run; gaps are frames dropped
    /// because the detector was busy).
    pub seq: u64,
    /// When the detections were ready, in seconds since 1970 (UTC).
    pub time: f64,
    pub source: &'a str,
    /// In the form `detect --json` prints ([`DetectionJson`]), rounded, with the ID of
    /// the track each continued or began (`null`: none), as `detect` names a video's
    /// tracks ([`TrackJson`]).
    pub detections: Vec<TrackJson<'a>>,
}

impl<'a> LogRecord<'a> {
    /// The line of a frame's `detections`; `tracks` holds, per detection, the ID of its
    /// track ([`crate::track::Tracker::detection_tracks`]; missing ones are none).
    pub fn new(
        seq: u64,
        time: SystemTime,
        source: &'a str,
        detections: &'a [Detection],
        tracks: &[Option<u64>],
    ) -> Self {
        let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        LogRecord {
            seq,
            time: (seconds.as_millis() as f64) / 1000.0,
            source,
            detections: detections
                .iter()
                .enumerate()
                .map(|(i, d)| TrackJson {
                    detection: DetectionJson::new(d).rounded(),
                    track: tracks.get(i).copied().flatten(),
                })
                .collect(),
        }
    }
}

/// The writer thread: appends the queued lines until the queue closes, flushing each
/// time it runs empty; returns the number of lines written.
fn write_lines(file: File, cut_line: bool, queue: &Receiver<String>) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(file);
    if cut_line {
        out.write_all(b"\n")?;
    }
    let mut written = 0;
    for line in queue {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += 1;
        if queue.is_empty() {
            out.flush()?;
        }
    }
    out.flush()?;
    Ok(written)
}

/// What a closed log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSummary {
    pub written: u64,
    /// Lines lost because the writer fell behind.
    pub dropped: u64,
}

/// An open detection log; see the module notes.
pub struct DetectionLog {
    path: PathBuf,
    lines: Option<Sender<String>>,
    writer: Option<JoinHandle<u64>>,
    dropped: Arc<AtomicU64>,
    /// Set by the writer when a write fails (it then stops).
    failure: Arc<OnceLock<LogError>>,
}

impl std::fmt::Debug for DetectionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectionLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The longest first line read to recognise a log of ours (a frame's line with a few
/// hundred detections).
const MAX_FIRST_LINE: u64 = 256 * 1024;

/// The fields every line of the log has: what recognises a file as a log of ours.
#[derive(Deserialize)]
struct RecordShape {
    #[serde(rename = "seq")]
    _seq: u64,
    #[serde(rename = "time")]
    _time: f64,
    #[serde(rename = "source")]
    _source: String,
    #[serde(rename = "detections")]
    _detections: Vec<serde_json::Value>,
}

/// Whether `file` (opened at its start) is empty or a log of ours, and whether its last
/// line is cut (an earlier run stopped mid-line): the first append then starts a new line.
fn recognise(file: &mut File) -> std::io::Result<Option<bool>> {
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(Some(false));
    }
    let mut first = Vec::new();
    BufReader::new(&mut *file)
        .take(MAX_FIRST_LINE)
        .read_until(b'\n', &mut first)?;
    if serde_json::from_slice::<RecordShape>(first.trim_ascii_end()).is_err() {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(Some(last != *b"\n"))
}

impl DetectionLog {
    /// Opens `path` for appending: created if missing, else continued if it is a log of
    /// ours (what an earlier run logged is kept). A link, one of `inputs` or any other
    /// file is refused.
    pub fn open(path: &Path, inputs: &RunInputs) -> Result<DetectionLog, LogError> {
        let path_buf = || path.to_path_buf();
        match std::fs::symlink_metadata(path) {
            Ok(metadata) if metadata.is_symlink() => {
                return Err(LogError::Link { path: path_buf() });
            }
            Ok(metadata) if !metadata.is_file() => {
                return Err(LogError::NotAFile { path: path_buf() });
            }
            Ok(_) if inputs.contains(path) => return Err(LogError::Input { path: path_buf() }),
            _ => {}
        }
        let open_error = |error| LogError::Open {
            path: path_buf(),
            error,
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            // A link put in place since the check above is refused, not followed.
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW);
        }
        let mut file = options.open(path).map_err(open_error)?;
        let cut_line = recognise(&mut file)
            .map_err(open_error)?
            .ok_or_else(|| LogError::NotALog { path: path_buf() })?;
        let (lines, queue) = crossbeam_channel::bounded::<String>(QUEUE);
        let failure = Arc::new(OnceLock::new());
        let writer = {
            let failure = Arc::clone(&failure);
            let path = path_buf();
            std::thread::Builder::new()
                .name("tinyssd-log".into())
                .spawn(move || {
                    write_lines(file, cut_line, &queue).unwrap_or_else(|error| {
                        let _ = failure.set(LogError::Write { path, error });
                        0
                    })
                })
                .map_err(open_error)?
        };
        Ok(DetectionLog {
            path: path_buf(),
            lines: Some(lines),
            writer: Some(writer),
            dropped: Arc::new(AtomicU64::new(0)),
            failure,
        })
    }

    /// Why the log stopped, once a write has failed.
    pub fn failure(&self) -> Option<&LogError> {
        self.failure.get()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one line; never blocks.
    pub fn record(&self, record: &LogRecord<'_>) {
        let Some(lines) = &self.lines else { return };
        let Ok(line) = serde_json::to_string(record) else {
            return;
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = lines.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes out what is queued and closes the file.
    pub fn close(mut self) -> Result<LogSummary, LogError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<LogSummary, LogError> {
        self.lines = None;
        let written = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(written)) => written,
            Some(Err(_)) => {
                return Err(LogError::Write {
                    path: self.path.clone(),
                    error: std::io::Error::other("the writer thread panicked"),
                });
            }
            None => 0,
        };
        // The writer has ended, so its handle on the failure is gone.
        if let Some(error) = Arc::get_mut(&mut self.failure).and_then(OnceLock::take) {
            return Err(error);
        }
        Ok(LogSummary {
            written,
            dropped: self.dropped.load(Ordering::Relaxed),
        })
    }
}

impl Drop for DetectionLog {
    fn drop(&mut self) {
        if self.writer.is_none() {
            return; // closed already
        }
        match self.finish() {
            Ok(LogSummary { dropped: 0, .. }) => {}
            Ok(LogSummary { written, dropped }) => log::warn!(
                "{}: {written} lines written, {dropped} dropped (the disk was too slow)",
                self.path.display()
            ),
            Err(error) => log::error!("{error}"),
        }
    }
}
