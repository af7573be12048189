//! The boxes on screen: the tracks (the default) or this frame's raw detections (T, for
//! tuning), and the counts per class that go with them. The tracker runs in the
//! pipeline's worker ([`crate::track`]); each frame result brings its tracks, which the
//! state shows at the sliders' thresholds by the tracker's own rule
//! ([`TrackSnapshot::apply_thresholds`]), so a slider acts on the next frame drawn.

use super::AppState;
use crate::detect::{Detection, keep_one_class_per_object, tag_text};
use crate::track::{Track, TrackSnapshot, TrackedBox};
use std::borrow::Borrow;

/// A box on screen: a detection of this frame, or a track as one (its smoothed box and
/// track score), with its ID.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownBox {
    pub detection: Detection,
    /// The track's ID, in the tracks view.
    pub track_id: Option<u64>,
}

impl ShownBox {
    fn of_track(track: &Track) -> ShownBox {
        let TrackedBox { id, detection } = track.tracked_box();
        ShownBox {
            detection,
            track_id: Some(id),
        }
    }

    /// "person 0.87", and " #12" after it with `with_id` for a track.
    pub fn tag_text(&self, with_id: bool) -> String {
        let text = tag_text(&self.detection);
        match self.track_id {
            Some(id) if with_id => format!("{text} #{id}"),
            _ => text,
        }
    }
}

impl Borrow<Detection> for ShownBox {
    fn borrow(&self) -> &Detection {
        &self.detection
    }
}

impl AppState {
    /// What the picture draws: the tracks shown (tracks view) or the visible detections
    /// (raw view), of the classes shown, and with [`Self::one_class_per_object`] only the
    /// best of boxes of different classes on one object.
    pub fn on_screen(&self) -> Vec<ShownBox> {
        if !self.show_tracks {
            return self
                .visible_detections()
                .map(|detection| ShownBox {
                    detection: detection.clone(),
                    track_id: None,
                })
                .collect();
        }
        let mut boxes: Vec<ShownBox> = self
            .shown_tracks()
            .filter(|track| self.shown.get(track.class_id).copied().unwrap_or(false))
            .map(ShownBox::of_track)
            .collect();
        keep_one_class_per_object(&mut boxes, self.cross_class_iou());
        boxes
    }

    /// The tracks shown now, of every class.
    fn shown_tracks(&self) -> impl Iterator<Item = &Track> {
        self.current.iter().flat_map(|frame| frame.tracks.shown())
    }

    /// Objects in view per class id: the boxes on screen, and for hidden classes those
    /// that would be (tracks shown, or boxes passing the threshold), so the user sees
    /// what is hidden.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for on_screen in self.on_screen() {
            if let Some(count) = counts.get_mut(on_screen.detection.class_id) {
                *count += 1;
            }
        }
        let hidden = |class_id: usize| !self.shown.get(class_id).copied().unwrap_or(false);
        for (class_id, count) in counts.iter_mut().enumerate() {
            if !hidden(class_id) {
                continue;
            }
            *count = if self.show_tracks {
                self.shown_tracks()
                    .filter(|t| t.class_id == class_id)
                    .count()
            } else {
                self.current
                    .iter()
                    .flat_map(|frame| frame.detections.iter())
                    .filter(|d| d.class_id == class_id && self.passes(d))
                    .count()
            };
        }
        counts
    }

    /// Distinct objects of a class shown since the last [`Self::reset_seen`] (or the
    /// start); a new source keeps counting.
    pub fn seen(&self, class_id: usize) -> u32 {
        self.distinct.seen(class_id)
    }

    /// Starts the distinct-object counts again.
    pub fn reset_seen(&mut self) {
        self.distinct.reset();
    }

    /// The tracks of the frame on screen (shown or not), for tests and diagnostics.
    pub fn tracks(&self) -> &[Track] {
        self.current
            .as_ref()
            .map_or(&[], |frame| frame.tracks.tracks())
    }

    /// Shows a new frame's tracks at the sliders' thresholds (the worker's may be a
    /// slider move behind) and counts those shown.
    pub(super) fn take_tracks(&mut self, tracks: &mut TrackSnapshot) {
        tracks.apply_thresholds(&self.thresholds);
        self.tracked_thresholds.clone_from(&self.thresholds);
        self.distinct.count(tracks);
    }

    /// Lets slider moves act on the tracks at once, not only from the next frame (which
    /// may be long coming, paused). Called once per UI frame; true when the thresholds
    /// had changed (the picture is then drawn again).
    pub fn apply_thresholds_to_tracks(&mut self) -> bool {
        let changed = self.tracked_thresholds != self.thresholds;
        if changed {
            if let Some(frame) = &mut self.current {
                frame.tracks.apply_thresholds(&self.thresholds);
                self.distinct.count(&frame.tracks);
            }
            self.tracked_thresholds.clone_from(&self.thresholds);
        }
        changed
    }

    /// A new source, or a step to another photo: its objects are not the last one's.
    /// The boxes on screen go at once (the worker starts its tracks afresh itself).
    pub fn forget_tracks(&mut self) {
        if let Some(frame) = &mut self.current {
            frame.tracks.clear();
        }
    }
}
