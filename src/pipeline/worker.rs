//! The inference worker thread: owns the detector, takes the newest frame, runs it
//! with the newest settings and hands (frame, detections, timings) to the UI.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::channel::LatestSender;
use super::clock::Clock;
use super::detection_log::{DetectionLog, LogRecord};
use super::{Frame, FrameResult, PipelineEvent, Shared, Waker};
use crate::detect::{DetectConfig, Detection, Detector, DetectorError, Timings};
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
    Config(DetectConfig),
    /// Another model: its detector, and the settings for it (its classes may differ).
    Processor(Box<dyn FrameProcessor>, DetectConfig),
}

/// A result, and which model found it: 0 the first, one more at each
/// [`WorkerChange::Processor`], so the UI never shows the classes of a model it replaced.
pub(crate) struct Detected {
    pub model: u64,
    pub result: FrameResult,
}

/// Detection vectors kept for reuse at most; more are freed.
pub(crate) const SPARE_VECTORS: usize = 4;

/// The worker's detection vectors: those the UI handed back after showing them and
/// those of results it never took, reused so that a warm worker allocates nothing.
pub(crate) struct SpareVectors {
    returned: Receiver<Vec<Detection>>,
    kept: Vec<Vec<Detection>>,
}

impl SpareVectors {
    pub fn new(returned: Receiver<Vec<Detection>>) -> SpareVectors {
        SpareVectors {
            returned,
            kept: Vec::with_capacity(SPARE_VECTORS),
        }
    }

    /// An empty vector, with the capacity of an earlier frame's when there is one.
    fn take(&mut self) -> Vec<Detection> {
        let mut vector = self
            .kept
            .pop()
            .or_else(|| self.returned.try_recv().ok())
            .unwrap_or_default();
        vector.clear();
        vector
    }

    fn keep(&mut self, mut vector: Vec<Detection>) {
        if self.kept.len() < SPARE_VECTORS {
            vector.clear();
            self.kept.push(vector);
        }
    }
}

pub(crate) struct WorkerLoop {
    pub processor: Box<dyn FrameProcessor>,
    pub config: DetectConfig,
    pub log: Option<DetectionLog>,
    pub spare: SpareVectors,
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
                    WorkerChange::Config(config) => self.config = config,
                    WorkerChange::Processor(processor, config) => {
                        self.processor = processor;
                        self.config = config;
                        model += 1;
                    }
                }
            }
            let counters = &self.shared.counters;
            let processor = &mut self.processor;
            let config = &self.config;
            let mut detections = self.spare.take();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                processor.process(&frame.image, config, &mut detections)
            }))
            .unwrap_or(Err(DetectorError::Panicked));
            match outcome {
                Ok(timings) => {
                    counters.processed.fetch_add(1, Ordering::Relaxed);
                    if let Some(log) = &self.log {
                        let record = LogRecord::new(
                            frame.seq,
                            SystemTime::now(),
                            &frame.source,
                            &detections,
                        );
                        log.record(&record);
                        if !log_failure_reported && let Some(error) = log.failure() {
                            log::error!("{error}");
                            super::send_event(
                                &self.events,
                                PipelineEvent::LogFailed {
                                    message: error.to_string(),
                                },
                            );
                            log_failure_reported = true;
                        }
                    }
                    let result = FrameResult {
                        seq: frame.seq,
                        image: frame.image,
                        detections,
                        timings,
                        captured_at: frame.captured_at,
                        detected_at: self.clock.now(),
                    };
                    if let Some(stale) = self.results.offer(Detected { model, result }) {
                        counters.stale_results.fetch_add(1, Ordering::Relaxed);
                        self.spare.keep(stale.result.detections);
                    }
                }
                Err(error) => {
                    self.spare.keep(detections);
                    counters.detect_errors.fetch_add(1, Ordering::Relaxed);
                    let message = error.to_string();
                    let now = self.clock.now();
                    let repeated = last_report.as_ref().is_some_and(|(last, at)| {
                        *last == message
                            && now.saturating_duration_since(*at) < Duration::from_secs(1)
                    });
                    if !repeated {
                        log::warn!("detection failed on frame {}: {message}", frame.seq);
                        super::send_event(
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
