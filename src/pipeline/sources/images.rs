//! A folder or list of images as the app's source: played in a loop at a fixed rate,
//! and stepped through by the user with an [`ImageCursor`] (next / previous image).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::frame_source::{FrameSource, SourceError, interval_for_fps};
use crate::files::FileVersion;
use image::RgbImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Decodes a PNG or JPEG file to RGB.
pub fn read_rgb(path: &Path) -> Result<RgbImage, SourceError> {
    crate::detect::read_image(path).map_err(|error| SourceError::Image {
        path: path.to_path_buf(),
        error,
    })
}

/// Which image of a list is shown, and the steps the user asked for: shared between the
/// source (on the capture thread) and the top bar and keys (on the UI thread), as a
/// video's [`super::video::Playback`] is.
#[derive(Debug)]
pub struct ImageCursor {
    /// The list, once the source has read its folders.
    files: OnceLock<Vec<PathBuf>>,
    /// The index of the file last read.
    shown: AtomicUsize,
    /// Steps asked for and not taken yet (back when negative).
    steps: AtomicIsize,
}

const NOTHING_SHOWN: usize = usize::MAX;

impl Default for ImageCursor {
    fn default() -> ImageCursor {
        ImageCursor {
            files: OnceLock::new(),
            shown: AtomicUsize::new(NOTHING_SHOWN),
            steps: AtomicIsize::new(0),
        }
    }
}

impl ImageCursor {
    /// How many images the list has (0 until the source has opened).
    pub fn count(&self) -> usize {
        self.files.get().map_or(0, Vec::len)
    }

    /// Whether there is another image to step to.
    pub fn can_step(&self) -> bool {
        self.count() > 1
    }

    /// The image last read: its index in the list and its file.
    pub fn shown(&self) -> Option<(usize, &Path)> {
        let index = self.shown.load(Ordering::Relaxed);
        let file = self.files.get()?.get(index)?;
        Some((index, file))
    }

    /// Asks the source to show the image `steps` places on from the one shown (back
    /// when negative), wrapping around; steps asked for before it reads add up.
    pub fn step(&self, steps: isize) {
        self.steps.fetch_add(steps, Ordering::Relaxed);
    }

    fn has_steps(&self) -> bool {
        self.steps.load(Ordering::Relaxed) != 0
    }

    fn take_steps(&self) -> isize {
        self.steps.swap(0, Ordering::Relaxed)
    }
}

/// Images played in a loop at a fixed rate: the files of a folder (sorted by name)
/// and/or files given one by one. Each frame is decoded when it is due, so a large
/// folder costs no memory; an unreadable file is reported once and then skipped until
/// it changes, and the next one follows. Steps asked for on its [`ImageCursor`] move
/// the loop: it goes on from the image stepped to.
pub struct ImageListSource {
    files: Vec<PathBuf>,
    /// The index of the file to read next.
    next: usize,
    interval: Duration,
    name: String,
    /// The files that failed, as they were then, with why.
    failed: HashMap<PathBuf, (FileVersion, String)>,
    cursor: Arc<ImageCursor>,
}

impl ImageListSource {
    /// Lists the files (a folder's images by name); `cursor` is where the image shown is
    /// told and steps are asked for.
    pub fn new(
        paths: &[PathBuf],
        fps: f32,
        cursor: Arc<ImageCursor>,
    ) -> Result<ImageListSource, SourceError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let found =
                    crate::detect::image_files_in(path).map_err(|error| SourceError::Io {
                        path: path.clone(),
                        error,
                    })?;
                if found.is_empty() {
                    return Err(SourceError::NoImages(path.clone()));
                }
                files.extend(found);
            } else if path.is_file() {
                files.push(path.clone());
            } else {
                return Err(SourceError::Io {
                    path: path.clone(),
                    error: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file or folder",
                    ),
                });
            }
        }
        let name = match paths {
            [one] => one.display().to_string(),
            _ => format!("{} images", files.len()),
        };
        if files.is_empty() {
            return Err(SourceError::Other("no images given".to_string()));
        }
        // Set once: each opener makes a cursor for its one source.
        let _ = cursor.files.set(files.clone());
        Ok(ImageListSource {
            files,
            next: 0,
            interval: interval_for_fps(fps),
            name,
            failed: HashMap::new(),
            cursor,
        })
    }

    /// `index` moved by `by` places, wrapping around the list.
    fn wrapped(&self, index: usize, by: isize) -> usize {
        let count = self.files.len().max(1) as isize;
        (index as isize + by).rem_euclid(count) as usize
    }
}

impl FrameSource for ImageListSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn description(&self) -> String {
        format!(
            "{} ({} file{} at {:.1} fps, in a loop)",
            self.name,
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            1.0 / self.interval.as_secs_f32()
        )
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        // A step counts from the file last read, the one before `next`; a file skipped
        // while stepping back is skipped backwards.
        let steps = self.cursor.take_steps();
        if steps != 0 {
            self.next = self.wrapped(self.next, steps - 1);
        }
        let mut last_failure = None;
        for _ in 0..self.files.len() {
            let index = self.next;
            let Some(path) = self.files.get(index).cloned() else {
                break;
            };
            self.next = self.wrapped(index, 1);
            let version = FileVersion::of(&path);
            if let Some((failed_version, message)) = self.failed.get(&path)
                && Some(*failed_version) == version
            {
                last_failure = Some(message.clone());
                if steps < 0 {
                    self.next = self.wrapped(index, -1);
                }
                continue;
            }
            self.cursor.shown.store(index, Ordering::Relaxed);
            return match read_rgb(&path) {
                Ok(image) => {
                    self.failed.remove(&path);
                    Ok(image)
                }
                Err(error) => {
                    if let Some(version) = version {
                        self.failed.insert(path, (version, error.to_string()));
                    }
                    Err(error)
                }
            };
        }
        Err(match last_failure {
            Some(last) => SourceError::NothingDecodable {
                files: self.files.len(),
                last,
            },
            None => SourceError::Other("no images given".to_string()),
        })
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }

    fn wants_frame_now(&self) -> bool {
        self.cursor.has_steps()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_back_onto_a_broken_file_skips_it_backwards() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, shade) in [("a.png", 10u8), ("c.png", 230)] {
            RgbImage::from_pixel(8, 6, image::Rgb([shade; 3]))
                .save(dir.path().join(name))
                .expect("write image");
        }
        std::fs::write(dir.path().join("b.png"), b"not a png").expect("write");
        let cursor = Arc::new(ImageCursor::default());
        let mut source = ImageListSource::new(&[dir.path().to_path_buf()], 2.0, cursor.clone())
            .expect("a folder of images");
        let shade =
            |read: Result<RgbImage, SourceError>| read.map(|image| image.get_pixel(0, 0)[0]);
        let shown = || cursor.shown().map(|(index, _)| index);
        assert_eq!(shade(source.next_frame()).ok(), Some(10));
        cursor.step(1);
        assert!(source.wants_frame_now());
        assert!(source.next_frame().is_err(), "b.png is no image");
        assert!(!source.wants_frame_now());
        assert_eq!(shown(), Some(1), "the position names the broken file");
        cursor.step(1);
        assert_eq!(shade(source.next_frame()).ok(), Some(230));
        cursor.step(-1);
        assert_eq!(
            shade(source.next_frame()).ok(),
            Some(10),
            "b.png is skipped, back"
        );
        assert_eq!(shown(), Some(0));
    }
}
