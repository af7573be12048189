//! What the user is told about the source: its name, the banner while it fails, the
//! note under it, the cameras to pick from, and whether frames have stalled.

use crate::pipeline::{CameraEntry, PipelineEvent, list_cameras};
use std::time::{Duration, Instant};

/// No new frame for this long (and three times the usual gap) counts as a stall.
pub const STALL_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct SourceStatus {
    /// What the source is ("demo", "camera 0: ...").
    pub name: String,
    pub description: String,
    /// The source is failing: shown as a banner until frames flow again.
    pub error: Option<String>,
    /// Said once, under the banner: e.g. "no camera found, showing the demo".
    pub note: Option<String>,
    pub cameras: Vec<CameraEntry>,
    /// The camera shown, when it was chosen by index (the default or the picker).
    pub camera: Option<u32>,
    /// Why the camera list could not be read (an empty list is no error).
    pub camera_list_error: Option<String>,
    /// When the current frame arrived, and the gap before it (for stall detection).
    frame_arrived: Option<(Instant, Duration)>,
}

impl SourceStatus {
    /// Takes a source event; returns what to tell the user in a notice, if anything.
    /// Detector events are not the source's: they are ignored here.
    pub fn on_event(&mut self, event: PipelineEvent) -> Option<String> {
        match event {
            PipelineEvent::SourceOpened {
                source,
                description,
            } => {
                self.name = source;
                self.description = description;
            }
            PipelineEvent::SourceOpenFailed { message } => {
                self.error = Some(format!("cannot open the source: {message}"));
            }
            PipelineEvent::SourceFailed {
                source,
                message,
                failures,
                retry_in,
            } => {
                self.name = source;
                self.error = Some(format!(
                    "{message} — trying again in {:.1} s (failure {failures})",
                    retry_in.as_secs_f32()
                ));
            }
            PipelineEvent::SourceWaiting { source, message } => {
                self.name = source;
                self.error = Some(message);
            }
            PipelineEvent::SourceRecovered { source } => {
                self.name = source;
                self.error = None;
                return Some(format!("{} is back", self.name));
            }
            PipelineEvent::DetectFailed { .. } | PipelineEvent::LogFailed { .. } => {}
        }
        None
    }

    /// A frame arrived at `now`: it shows that the source works.
    pub fn on_frame(&mut self, now: Instant) {
        let gap = self.frame_arrived.map_or(Duration::ZERO, |(last, _)| {
            now.saturating_duration_since(last)
        });
        self.frame_arrived = Some((now, gap));
    }

    /// After a pause, the wait for the next frame starts afresh.
    pub fn on_resume(&mut self, now: Instant) {
        if let Some((arrived, _)) = &mut self.frame_arrived {
            *arrived = now;
        }
    }

    /// Says so when frames flowed and then stopped coming without an error (a camera
    /// driver stuck in a read): no new frame for [`STALL_AFTER`] and three times the
    /// last gap between frames. None while a source error is shown.
    pub fn stall_note(&self, now: Instant) -> Option<String> {
        let (arrived, gap) = self.frame_arrived?;
        let waited = now.saturating_duration_since(arrived);
        let stalled =
            self.error.is_none() && gap > Duration::ZERO && waited > STALL_AFTER.max(gap * 3);
        stalled.then(|| {
            format!(
                "no new frame from {} for {:.0} s; still waiting (pick another source to switch)",
                if self.name.is_empty() {
                    "the source"
                } else {
                    &self.name
                },
                waited.as_secs_f32()
            )
        })
    }

    /// Re-reads the list of cameras.
    pub fn refresh_cameras(&mut self) {
        match list_cameras() {
            Ok(cameras) => {
                self.camera_list_error = None;
                self.cameras = cameras;
            }
            Err(error) => {
                self.cameras.clear();
                self.camera_list_error = Some(error.to_string());
            }
        }
    }
}
