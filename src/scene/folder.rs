//! The marked frames as a folder: the VOCdevkit layout `tinyssd eval` and `tune` read
//! (`JPEGImages/<id>.jpg`, `Annotations/<id>.xml`, `ImageSets/Main/trainval.txt`) and
//! [`MARKS_FILE`], the marks themselves (verdicts and scores, which the VOC files cannot
//! hold), from which a later run continues. Every change is written at once, each file
//! whole or not at all ([`AtomicOutput`]); a folder holding anything else is refused.

use super::marks::{FrameMarks, Mark, Verdict, candidate_config};
use crate::detect::{Detector, DetectorError, ImageReadError, decode_image};
use crate::eval::data::{is_plain_id, write_voc_xml};
use crate::files::{
    ReadError, RunInputs, WriteError, read_capped, read_text_capped, write_file, write_json,
};
use crate::model::Corners;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The marks, beside the VOC folders.
pub const MARKS_FILE: &str = "marks.json";
/// The image set the folder lists: `tinyssd tune`'s default `--image-set`.
const IMAGE_SET: &str = "trainval";
/// How the frames are saved: high enough that the picture is the one marked.
const JPEG_QUALITY: u8 = 92;
/// Largest marks file read.
const MAX_MARKS_BYTES: u64 = 64 * 1024 * 1024;
/// Largest marked frame read back.
const MAX_FRAME_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error(
        "{} holds other files and no {MARKS_FILE}: choose an empty or new folder, or one the app keeps marks in",
        .0.display()
    )]
    Foreign(PathBuf),
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("{} is damaged: {message}", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("cannot read the marked frame {}: {error}", path.display())]
    Frame {
        path: PathBuf,
        error: ImageReadError,
    },
    #[error("cannot write {}: {error}", path.display())]
    Write { path: PathBuf, error: WriteError },
    #[error("cannot encode the frame as JPEG: {0}")]
    Encode(image::ImageError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
}

/// The marks file's form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarksJson {
    /// The format's version.
    tinyssd_marks: u32,
    frames: Vec<FrameJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameJson {
    id: String,
    width: u32,
    height: u32,
    marks: Vec<MarkJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkJson {
    verdict: Verdict,
    class: String,
    /// `[x_min, y_min, x_max, y_max]` in the frame's pixels.
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
}

/// One frame of the folder.
struct Entry {
    marks: FrameMarks,
    /// The frame as saved, for frames made by this run: written with the first mark,
    /// and again should an undo have removed it.
    jpeg: Option<Vec<u8>>,
}

/// The marked frames of one folder, and this run's edits for undo.
pub struct SceneFolder {
    dir: PathBuf,
    class_names: Vec<String>,
    entries: Vec<Entry>,
    /// Per edit, the frame and its marks before it.
    undo: Vec<(usize, Vec<Mark>)>,
    /// The model and the source's files: never written over.
    inputs: RunInputs,
}

impl SceneFolder {
    /// The marks kept in `dir` (none if it is new or empty), their frames read back and
    /// run through `detector` again for their candidates.
    pub fn open(
        dir: &Path,
        class_names: &[String],
        detector: &mut Detector,
        inputs: RunInputs,
    ) -> Result<SceneFolder, SceneError> {
        let mut folder = SceneFolder {
            dir: dir.to_path_buf(),
            class_names: class_names.to_vec(),
            entries: Vec::new(),
            undo: Vec::new(),
            inputs,
        };
        if !dir.exists() {
            return Ok(folder);
        }
        if !dir.is_dir() {
            return Err(SceneError::NotAFolder(dir.to_path_buf()));
        }
        let marks_path = dir.join(MARKS_FILE);
        if !marks_path.exists() {
            let empty = std::fs::read_dir(dir)
                .map_err(|error| SceneError::Read {
                    path: dir.to_path_buf(),
                    error: ReadError::Io(error),
                })?
                .next()
                .is_none();
            return if empty {
                Ok(folder)
            } else {
                Err(SceneError::Foreign(dir.to_path_buf()))
            };
        }
        let text =
            read_text_capped(&marks_path, MAX_MARKS_BYTES, "a marks file").map_err(|error| {
                SceneError::Read {
                    path: marks_path.clone(),
                    error,
                }
            })?;
        let damaged = |message: String| SceneError::Damaged {
            path: marks_path.clone(),
            message,
        };
        let json: MarksJson =
            serde_json::from_str(&text).map_err(|error| damaged(error.to_string()))?;
        for frame in json.frames {
            if !is_plain_id(&frame.id) || folder.entries.iter().any(|e| e.marks.id == frame.id) {
                return Err(damaged(format!(
                    "the frame id {:?} is not a plain file name, or comes twice",
                    frame.id
                )));
            }
            let marks = frame
                .marks
                .iter()
                .map(|mark| folder.mark_from_json(mark))
                .collect::<Result<Vec<Mark>, String>>()
                .map_err(damaged)?;
            let path = folder.image_path(&frame.id);
            let image = read_frame(&path)?;
            if image.dimensions() != (frame.width, frame.height) {
                return Err(damaged(format!(
                    "{} is {} x {} pixels, the marks say {} x {}",
                    path.display(),
                    image.width(),
                    image.height(),
                    frame.width,
                    frame.height
                )));
            }
            let (candidates, _) = detector.detect(&image, &candidate_config(class_names.len()))?;
            folder.entries.push(Entry {
                marks: FrameMarks {
                    id: frame.id,
                    width: frame.width,
                    height: frame.height,
                    candidates,
                    marks,
                },
                jpeg: None,
            });
        }
        Ok(folder)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The frames with at least one mark: those the folder lists.
    pub fn marked_frames(&self) -> impl Iterator<Item = &FrameMarks> {
        self.entries
            .iter()
            .map(|e| &e.marks)
            .filter(|f| !f.marks.is_empty())
    }

    pub fn frame(&self, index: usize) -> Option<&FrameMarks> {
        self.entries.get(index).map(|e| &e.marks)
    }

    /// How many marks the folder holds.
    pub fn mark_count(&self) -> usize {
        self.entries.iter().map(|e| e.marks.marks.len()).sum()
    }

    /// Whether an edit of this run can be undone.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// A new frame, saved as JPEG and run through `detector` as saved, so its candidates
    /// are what `tinyssd eval` will find in the file. Nothing is written before its first
    /// mark. Returns its index.
    pub fn add_frame(
        &mut self,
        image: &RgbImage,
        detector: &mut Detector,
    ) -> Result<usize, SceneError> {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
            .encode_image(image)
            .map_err(SceneError::Encode)?;
        let saved = decode_image(&jpeg).map_err(|error| SceneError::Frame {
            path: PathBuf::from("(the frame being marked)"),
            error,
        })?;
        let (candidates, _) = detector.detect(&saved, &candidate_config(self.class_names.len()))?;
        let id = self.new_id();
        self.entries.push(Entry {
            marks: FrameMarks {
                id,
                width: saved.width(),
                height: saved.height(),
                candidates,
                marks: Vec::new(),
            },
            jpeg: Some(jpeg),
        });
        Ok(self.entries.len() - 1)
    }

    /// Changes frame `index`'s marks with `edit` and writes the folder; on a write
    /// failure the marks are as before. Returns what `edit` returned.
    pub fn edit<R>(
        &mut self,
        index: usize,
        edit: impl FnOnce(&mut FrameMarks) -> R,
    ) -> Result<Option<R>, SceneError> {
        let Some(entry) = self.entries.get_mut(index) else {
            return Ok(None);
        };
        let before = entry.marks.marks.clone();
        let result = edit(&mut entry.marks);
        if entry.marks.marks == before {
            return Ok(Some(result));
        }
        if let Err(error) = self.write(index) {
            self.entries[index].marks.marks = before;
            return Err(error);
        }
        self.undo.push((index, before));
        Ok(Some(result))
    }

    /// Takes back the last edit of this run; false when there is none.
    pub fn undo(&mut self) -> Result<bool, SceneError> {
        let Some((index, before)) = self.undo.pop() else {
            return Ok(false);
        };
        let after = std::mem::replace(&mut self.entries[index].marks.marks, before);
        if let Err(error) = self.write(index) {
            let before = std::mem::replace(&mut self.entries[index].marks.marks, after);
            self.undo.push((index, before));
            return Err(error);
        }
        Ok(true)
    }

    /// `frame-0001`, `frame-0002`, ...: the first number neither a frame nor a file in
    /// `JPEGImages/` has.
    fn new_id(&self) -> String {
        (1..)
            .map(|n| format!("frame-{n:04}"))
            .find(|id| {
                !self.entries.iter().any(|e| &e.marks.id == id)
                    && self.image_path(id).symlink_metadata().is_err()
            })
            .unwrap_or_default()
    }

    fn image_path(&self, id: &str) -> PathBuf {
        self.dir.join("JPEGImages").join(format!("{id}.jpg"))
    }

    fn annotation_path(&self, id: &str) -> PathBuf {
        self.dir.join("Annotations").join(format!("{id}.xml"))
    }

    fn mark_from_json(&self, mark: &MarkJson) -> Result<Mark, String> {
        let class_id = self
            .class_names
            .iter()
            .skip(1)
            .position(|name| *name == mark.class)
            .map(|i| i + 1)
            .ok_or_else(|| format!("the model has no class {:?}", mark.class))?;
        let [x_min, y_min, x_max, y_max] = mark.bbox;
        let finite = mark.bbox.iter().chain([&mark.score]).all(|v| v.is_finite());
        if !finite || x_max <= x_min || y_max <= y_min {
            return Err(format!("the {} box {:?} is empty", mark.class, mark.bbox));
        }
        Ok(Mark {
            verdict: mark.verdict,
            class_id,
            bbox: Corners {
                x_min,
                y_min,
                x_max,
                y_max,
            },
            score: mark.score,
        })
    }

    /// Writes frame `index` (its picture and annotation, or their removal once it has
    /// no mark), then the list of frames and the marks file.
    fn write(&mut self, index: usize) -> Result<(), SceneError> {
        let entry = &self.entries[index];
        let frame = &entry.marks;
        let image_path = self.image_path(&frame.id);
        let annotation_path = self.annotation_path(&frame.id);
        if frame.marks.is_empty() {
            // Only a frame this run saved loses its last mark (an undo): its files go.
            if entry.jpeg.is_some() {
                for path in [&annotation_path, &image_path] {
                    remove_if_there(path)?;
                }
            }
        } else {
            for folder in ["JPEGImages", "Annotations", "ImageSets/Main"] {
                let path = self.dir.join(folder);
                std::fs::create_dir_all(&path).map_err(|error| SceneError::Write {
                    path,
                    error: WriteError::Io(error),
                })?;
            }
            if let Some(jpeg) = &entry.jpeg
                && image_path.symlink_metadata().is_err()
            {
                self.write_file(&image_path, jpeg, false)?;
            }
            let xml = write_voc_xml(
                &frame.id,
                frame.width,
                frame.height,
                &frame.objects(),
                &self.class_names,
            );
            self.write_file(&annotation_path, xml.as_bytes(), true)?;
        }
        let list: String = self
            .marked_frames()
            .map(|f| format!("{}\n", f.id))
            .collect();
        let list_path = self
            .dir
            .join("ImageSets/Main")
            .join(format!("{IMAGE_SET}.txt"));
        if list_path.parent().is_some_and(Path::is_dir) {
            self.write_file(&list_path, list.as_bytes(), true)?;
        }
        let marks_path = self.dir.join(MARKS_FILE);
        write_json(&marks_path, &self.marks_json(), true, &self.inputs).map_err(|error| {
            SceneError::Write {
                path: marks_path.clone(),
                error,
            }
        })
    }

    fn marks_json(&self) -> MarksJson {
        let class = |id: usize| self.class_names.get(id).cloned().unwrap_or_default();
        MarksJson {
            tinyssd_marks: 1,
            frames: self
                .marked_frames()
                .map(|frame| FrameJson {
                    id: frame.id.clone(),
                    width: frame.width,
                    height: frame.height,
                    marks: frame
                        .marks
                        .iter()
                        .map(|m| MarkJson {
                            verdict: m.verdict,
                            class: class(m.class_id),
                            bbox: [m.bbox.x_min, m.bbox.y_min, m.bbox.x_max, m.bbox.y_max],
                            score: m.score,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn write_file(&self, path: &Path, bytes: &[u8], replace: bool) -> Result<(), SceneError> {
        write_file(path, bytes, replace, &self.inputs).map_err(|error| SceneError::Write {
            path: path.to_path_buf(),
            error,
        })
    }
}

fn read_frame(path: &Path) -> Result<RgbImage, SceneError> {
    let bytes =
        read_capped(path, MAX_FRAME_BYTES, "a marked frame").map_err(|error| SceneError::Read {
            path: path.to_path_buf(),
            error,
        })?;
    decode_image(&bytes).map_err(|error| SceneError::Frame {
        path: path.to_path_buf(),
        error,
    })
}

fn remove_if_there(path: &Path) -> Result<(), SceneError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(SceneError::Write {
            path: path.to_path_buf(),
            error: WriteError::Io(error),
        }),
        _ => Ok(()),
    }
}
