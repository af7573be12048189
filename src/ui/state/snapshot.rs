//! Snapshots: the frame on screen with its boxes on screen, saved as a PNG named after
//! the UTC time, never over an existing file.

use super::{AppState, typed_path};
use crate::detect::{Detection, draw_detections};
use crate::files::{AtomicOutput, WriteError, numbered_path};
use crate::ui::stamp::utc_stamp;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no frame to save yet: wait for the first picture")]
    NoFrame,
    #[error(
        "cannot create the snapshot folder {}: {error}; type another folder in the snapshot field",
        path.display()
    )]
    Folder {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "cannot write {}: {error}; is the folder writable? Type another folder in the snapshot field",
        path.display()
    )]
    Write {
        path: PathBuf,
        error: image::ImageError,
    },
}

impl AppState {
    /// Saves the current frame, with the boxes on screen drawn (tracks or detections,
    /// as the picture shows them; without IDs), as a PNG in the snapshot folder;
    /// returns its path.
    pub fn save_snapshot(&self) -> Result<PathBuf, SnapshotError> {
        let frame = self.current.as_ref().ok_or(SnapshotError::NoFrame)?;
        let mut image = frame.image.clone();
        let visible: Vec<Detection> = self
            .on_screen()
            .into_iter()
            .map(|on_screen| on_screen.detection)
            .collect();
        draw_detections(&mut image, &visible);
        let dir = typed_path(&self.snapshot_dir);
        std::fs::create_dir_all(&dir).map_err(|error| SnapshotError::Folder {
            path: dir.clone(),
            error,
        })?;
        let name = snapshot_name(SystemTime::now());
        let stem = name.trim_end_matches(".png");
        let write_error = |path: &Path, error| SnapshotError::Write {
            path: path.to_path_buf(),
            error: image::ImageError::IoError(error),
        };
        // Two snapshots in one millisecond (or a file of that name) get numbered names;
        // the file is renamed into place without replacing, so a name taken meanwhile
        // is skipped too.
        loop {
            let path = numbered_path(&dir, stem, ".png", |p| p.symlink_metadata().is_ok());
            let mut out = match AtomicOutput::create(&path, false, &self.inputs) {
                Ok(out) => out,
                Err(WriteError::Exists) => continue,
                Err(error) => return Err(write_error(&path, error.into())),
            };
            image
                .write_to(
                    &mut std::io::BufWriter::new(&mut out),
                    image::ImageFormat::Png,
                )
                .map_err(|error| SnapshotError::Write {
                    path: path.clone(),
                    error,
                })?;
            match out.commit() {
                Ok(()) => return Ok(path),
                Err(WriteError::Exists) => continue,
                Err(error) => return Err(write_error(&path, error.into())),
            }
        }
    }
}

/// `tinyssd-20260131-142501-123.png`, in UTC.
pub fn snapshot_name(time: SystemTime) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    format!("tinyssd-{}-{millis:03}.png", utc_stamp(time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn snapshot_names_carry_the_utc_time() {
        let time = UNIX_EPOCH + Duration::from_millis(1_769_869_501_123);
        assert_eq!(snapshot_name(time), "tinyssd-20260131-142501-123.png");
    }
}
