//! The inference worker thread: owns the detector and the tracker, takes the newest
//! frame, detects with the newest settings, feeds the detections to the tracker and
//! hands (frame, detections, tracks, timings) to the UI. The tracks start afresh at a
//! new scene (another source, a step to another photo, another frame size) and with
//! another model.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::channel::LatestSender;
use super::clock::Clock;
use super::detection_log::{DetectionLog, LogRecord};
use super::messages::{
    Detected, Frame, FrameResult, PipelineEvent, ResultBuffers, Waker, send_event,
};
use super::shared::Shared;
use crate::detect::{DetectConfig, Detection, Detector, DetectorError, Timings};
use crate::track::{TrackSnapshot, Tracker, TrackerConfig};
use crossbeam_channel::{Receiver, Sender, select};
use image::RgbImage;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Frames in, detections out: the real [`Detector`], or a fake in tests.
pub trait FrameProcessor: Send {
    /// Detects objects in `image`, replacing the contents of `detections` (a vector
    /// used before, so that a warm worker allocates nothing).
    fn process(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
        detections: &mut Vec<Detection>,
    ) -> Result<Timings, DetectorError>;
}

impl FrameProcessor for Detector {
    fn process(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
        detections: &mut Vec<Detection>,
    ) -> Result<Timings, DetectorError> {
        self.detect_into(image, config, detections)
    }
}

/// What the UI changes in the worker: applied in the order sent, before the next frame.
pub(crate) enum WorkerChange {
    /// The settings as the user has them: the tracks are shown at its thresholds, and
    /// the detector runs down to the tracker's floor.
    Config(DetectConfig),
    /// Another model: its detector, and the settings for it (its classes may differ).
    Processor(Box<dyn FrameProcessor>, DetectConfig),
}

/// Result buffers kept for reuse at most; more are freed.
pub(crate) const SPARE_BUFFERS: usize = 4;

/// The worker's result buffers: those the UI handed back after showing them and those
/// of results it never took.
pub(crate) struct SpareBuffers {
    returned: Receiver<ResultBuffers>,
    kept: Vec<ResultBuffers>,
}

impl SpareBuffers {
    pub fn new(returned: Receiver<ResultBuffers>) -> SpareBuffers {
        SpareBuffers {
            returned,
            kept: Vec::with_capacity(SPARE_BUFFERS),
        }
    }

    /// Empty buffers, with the capacity of an earlier frame's when there is one.
    fn take(&mut self) -> ResultBuffers {
        let mut buffers = self
            .kept
            .pop()
            .or_else(|| self.returned.try_recv().ok())
            .unwrap_or_else(|| ResultBuffers {
                detections: Vec::new(),
                tracks: TrackSnapshot::default(),
            });
        buffers.detections.clear();
        buffers.tracks.clear();
        buffers
    }

    fn keep(&mut self, buffers: ResultBuffers) {
        if self.kept.len() < SPARE_BUFFERS {
            self.kept.push(buffers);
        }
    }
}

/// The tracker and the settings it and the detector run with.
pub(crate) struct Tracking {
    tracker: Tracker,
    /// The user's settings: the tracks are shown at its thresholds.
    config: DetectConfig,
    /// What the detector runs with: [`TrackerConfig::detection_config`] of `config`.
    detect: DetectConfig,
    /// The scene and frame size of the last frame, to start afresh when either changes.
    scene: u64,
    size: (u32, u32),
}

impl Tracking {
    pub fn new(config: DetectConfig) -> Tracking {
        let tracker = Tracker::new(TrackerConfig::default());
        Tracking {
            detect: tracker.config().detection_config(&config),
            tracker,
            config,
            scene: 0,
            size: (0, 0),
        }
    }

    fn set_config(&mut self, config: DetectConfig) {
        self.detect = self.tracker.config().detection_config(&config);
        self.config = config;
    }

    /// Forgets the tracks when `frame` starts a new scene or has another size.
    fn start_scene_of(&mut self, frame: &Frame) {
        let size = frame.image.dimensions();
        if frame.scene != self.scene || size != self.size {
            self.tracker.clear();
        }
        (self.scene, self.size) = (frame.scene, size);
    }

    /// The frame's detections into the tracker; its tracks into `tracks`.
    fn track(&mut self, detections: &[Detection], tracks: &mut TrackSnapshot) {
        self.tracker.update(detections, &self.config.thresholds);
        tracks.clone_from(self.tracker.snapshot());
    }
}

pub(crate) struct WorkerLoop {
    pub processor: Box<dyn FrameProcessor>,
    pub tracking: Tracking,
    pub log: Option<DetectionLog>,
    pub spare: SpareBuffers,
    pub frames: Receiver<Frame>,
    pub changes: Receiver<WorkerChange>,
    pub results: LatestSender<Detected>,
    pub events: Sender<PipelineEvent>,
    pub stop: Receiver<()>,
    pub shared: Arc<Shared>,
    pub wake: Waker,
    pub clock: Arc<dyn Clock>,
}

impl WorkerLoop {
    pub fn run(mut self) {
        // A detector that fails on every frame is reported once a second, not 30 times.
        let mut last_report: Option<(String, Instant)> = None;
        let mut log_failure_reported = false;
        let mut model = 0;
        loop {
            let frame = select! {
                recv(self.stop) -> _ => return,
                recv(self.frames) -> frame => match frame {
                    Ok(frame) => frame,
                    Err(_) => return,
                },
            };
            for change in self.changes.try_iter() {
                match change {
                    WorkerChange::Config(config) => self.tracking.set_config(config),
                    WorkerChange::Processor(processor, config) => {
                        self.processor = processor;
                        self.tracking.set_config(config);
                        // Its classes are not the last model's.
                        self.tracking.tracker.clear();
                        model += 1;
                    }
                }
            }
            self.tracking.start_scene_of(&frame);
            let counters = &self.shared.counters;
            let processor = &mut self.processor;
            let detect = &self.tracking.detect;
            let mut buffers = self.spare.take();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                processor.process(&frame.image, detect, &mut buffers.detections)
            }))
            .unwrap_or(Err(DetectorError::Panicked));
            match outcome {
                Ok(timings) => {
                    counters.processed.fetch_add(1, Ordering::Relaxed);
                    self.tracking
                        .track(&buffers.detections, &mut buffers.tracks);
                    if let Some(log) = &self.log {
                        let record = LogRecord::new(
                            frame.seq,
                            SystemTime::now(),
                            &frame.source,
                            &buffers.detections,
                            self.tracking.tracker.detection_tracks(),
                        );
                        log.record(&record);
                        if !log_failure_reported && let Some(error) = log.failure() {
                            log::error!("{error}");
                            send_event(
                                &self.events,
                                PipelineEvent::LogFailed {
                                    message: error.to_string(),
                                },
                            );
                            log_failure_reported = true;
                        }
                    }
                    let ResultBuffers { detections, tracks } = buffers;
                    let result = FrameResult {
                        seq: frame.seq,
                        image: frame.image,
                        detections,
                        tracks,
                        timings,
                        captured_at: frame.captured_at,
                        detected_at: self.clock.now(),
                    };
                    if let Some(stale) = self.results.offer(Detected { model, result }) {
                        counters.stale_results.fetch_add(1, Ordering::Relaxed);
                        self.spare.keep(stale.result.into_buffers());
                    }
                }
                Err(error) => {
                    self.spare.keep(buffers);
                    counters.detect_errors.fetch_add(1, Ordering::Relaxed);
                    let message = error.to_string();
                    let now = self.clock.now();
                    let repeated = last_report.as_ref().is_some_and(|(last, at)| {
                        *last == message
                            && now.saturating_duration_since(*at) < Duration::from_secs(1)
                    });
                    if !repeated {
                        log::warn!("detection failed on frame {}: {message}", frame.seq);
                        send_event(
                            &self.events,
                            PipelineEvent::DetectFailed {
                                message: message.clone(),
                            },
                        );
                        last_report = Some((message, now));
                    }
                }
            }
            (self.wake)();
        }
    }
}
