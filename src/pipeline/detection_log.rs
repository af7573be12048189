//! The opt-in detection log (`--log FILE.jsonl`): one JSON line per processed frame.
//! The worker only formats the line and offers it to a bounded queue; a writer thread
//! of its own appends it to the file, so a slow disk never holds up detection (a line
//! that finds the queue full is counted as dropped instead). Closing the log (or
//! dropping it) flushes everything queued.

use crate::detect::{Detection, DetectionJson};
use crossbeam_channel::{Sender, TrySendError};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// In the form `detect --json` prints ([`DetectionJson`]), rounded.
    pub detections: Vec<DetectionJson<'a>>,
}

impl<'a> LogRecord<'a> {
    pub fn new(seq: u64, time: SystemTime, source: &'a str, detections: &'a [Detection]) -> Self {
        let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        LogRecord {
            seq,
            time: (seconds.as_millis() as f64) / 1000.0,
            source,
            detections: detections
                .iter()
                .map(|d| DetectionJson::new(d).rounded())
                .collect(),
        }
    }
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
    writer: Option<JoinHandle<std::io::Result<u64>>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for DetectionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectionLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DetectionLog {
    /// Opens `path` for appending (created if missing): what an earlier run logged is
    /// kept. Anything there but a regular file is refused.
    pub fn open(path: &Path) -> Result<DetectionLog, LogError> {
        match std::fs::metadata(path) {
            Ok(metadata) if !metadata.is_file() => {
                return Err(LogError::NotAFile {
                    path: path.to_path_buf(),
                });
            }
            _ => {}
        }
        let open_error = |error| LogError::Open {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(open_error)?;
        let (lines, queue) = crossbeam_channel::bounded::<String>(QUEUE);
        let writer = std::thread::Builder::new()
            .name("tinyssd-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(file);
                let mut written = 0;
                for line in queue {
                    out.write_all(line.as_bytes())?;
                    out.write_all(b"\n")?;
                    written += 1;
                }
                out.flush()?;
                Ok(written)
            })
            .map_err(open_error)?;
        Ok(DetectionLog {
            path: path.to_path_buf(),
            lines: Some(lines),
            writer: Some(writer),
            dropped: Arc::new(AtomicU64::new(0)),
        })
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
            Some(Ok(Ok(written))) => written,
            Some(Ok(Err(error))) => {
                return Err(LogError::Write {
                    path: self.path.clone(),
                    error,
                });
            }
            Some(Err(_)) => {
                return Err(LogError::Write {
                    path: self.path.clone(),
                    error: std::io::Error::other("the writer thread panicked"),
                });
            }
            None => 0,
        };
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
