//! What the threads pass each other: frames to the worker ([`Frame`]), results to the UI
//! ([`FrameResult`], tagged with their model as [`Detected`]) and their memory back
//! ([`ResultBuffers`]), and events for the UI ([`PipelineEvent`]). The worker's own input,
//! `WorkerChange`, stays in `worker.rs`: it carries a `FrameProcessor`.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crate::detect::{Detection, Timings};
use crate::track::TrackSnapshot;
use crossbeam_channel::Sender;
use image::RgbImage;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called by the threads when they have something for the UI.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Events waiting for the UI at most; more are dropped (and logged) rather than
/// queued, so a UI that stops reading (a minimised window) cannot make memory grow.
pub const EVENT_BACKLOG: usize = 256;

/// Sends `event` if the UI's backlog has room; the receiver lives as long as the
/// pipeline, and if it is gone nobody is listening.
pub(super) fn send_event(events: &Sender<PipelineEvent>, event: PipelineEvent) {
    if let Err(crossbeam_channel::TrySendError::Full(event)) = events.try_send(event) {
        log::warn!("the UI is not reading events; dropped {event:?}");
    }
}

/// One captured frame on its way to the worker.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Counts from 1 in capture order.
    pub seq: u64,
    pub image: RgbImage,
    pub captured_at: Instant,
    /// The source's name when it gave the frame.
    pub source: Arc<str>,
    /// The scene it belongs to ([`Shared::scene`](super::shared::Shared)): the tracks start
    /// afresh when it changes.
    pub scene: u64,
}

/// A frame with what was found in it.
#[derive(Debug, Clone)]
pub struct FrameResult {
    pub seq: u64,
    pub image: RgbImage,
    /// Every box down to the tracker's floor ([`crate::track::TrackerConfig::min_score`],
    /// or a class's threshold where lower), so that the UI's sliders act at once.
    pub detections: Vec<Detection>,
    /// The tracker's tracks after this frame, shown at the thresholds the worker had.
    pub tracks: TrackSnapshot,
    pub timings: Timings,
    pub captured_at: Instant,
    pub detected_at: Instant,
}

impl FrameResult {
    pub(super) fn into_buffers(self) -> ResultBuffers {
        ResultBuffers {
            detections: self.detections,
            tracks: self.tracks,
        }
    }
}

/// Things the UI should know that are not frames.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// The capture thread opened its source.
    SourceOpened {
        source: String,
        description: String,
    },
    /// The source could not be opened at all; no frames will come.
    SourceOpenFailed {
        message: String,
    },
    /// The source gave no frame; it is read again after `retry_in`.
    SourceFailed {
        source: String,
        message: String,
        /// Failures in a row.
        failures: u32,
        retry_in: Duration,
    },
    /// The source has nothing it can show until a file changes; it is not reported
    /// again while it waits.
    SourceWaiting {
        source: String,
        message: String,
    },
    /// Frames flow again after failures.
    SourceRecovered {
        source: String,
    },
    DetectFailed {
        message: String,
    },
    /// The detection log could not be written; nothing more is logged.
    LogFailed {
        message: String,
    },
}

/// A result, and which model found it: 0 the first, one more at each
/// [`WorkerChange::Processor`](super::worker::WorkerChange::Processor), so the UI never
/// shows the classes of a model it replaced.
pub(crate) struct Detected {
    pub model: u64,
    pub result: FrameResult,
}

/// The memory of one result: its detections and tracks, reused so that a warm worker
/// allocates nothing.
pub(crate) struct ResultBuffers {
    pub detections: Vec<Detection>,
    pub tracks: TrackSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_the_ui_does_not_read_are_capped_not_queued() {
        let (tx, rx) = crossbeam_channel::bounded(EVENT_BACKLOG);
        for _ in 0..EVENT_BACKLOG + 10 {
            send_event(
                &tx,
                PipelineEvent::DetectFailed {
                    message: "x".into(),
                },
            );
        }
        assert_eq!(rx.len(), EVENT_BACKLOG);
    }
}
