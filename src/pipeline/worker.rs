//! The inference worker thread: owns the detector, takes the newest frame, runs it
//! with the newest settings and hands (frame, detections, timings) to the UI.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::channel::{LatestSender, Offer};
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
    fn process(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
    ) -> Result<(Vec<Detection>, Timings), DetectorError>;
}

impl FrameProcessor for Detector {
    fn process(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
    ) -> Result<(Vec<Detection>, Timings), DetectorError> {
        self.detect(image, config)
    }
}

pub(crate) struct WorkerLoop {
    pub processor: Box<dyn FrameProcessor>,
    pub config: DetectConfig,
    pub log: Option<DetectionLog>,
    pub frames: Receiver<Frame>,
    pub configs: Receiver<DetectConfig>,
    pub results: LatestSender<FrameResult>,
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
        loop {
            let frame = select! {
                recv(self.stop) -> _ => return,
                recv(self.frames) -> frame => match frame {
                    Ok(frame) => frame,
                    Err(_) => return,
                },
            };
            if let Some(config) = self.configs.try_iter().last() {
                self.config = config;
            }
            let counters = &self.shared.counters;
            let processor = &mut self.processor;
            let config = &self.config;
            let outcome =
                catch_unwind(AssertUnwindSafe(|| processor.process(&frame.image, config)))
                    .unwrap_or(Err(DetectorError::Panicked));
            match outcome {
                Ok((detections, timings)) => {
                    counters.processed.fetch_add(1, Ordering::Relaxed);
                    if let Some(log) = &self.log {
                        let record = LogRecord::new(
                            frame.seq,
                            SystemTime::now(),
                            &frame.source,
                            &detections,
                        );
                        log.record(&record);
                    }
                    let result = FrameResult {
                        seq: frame.seq,
                        image: frame.image,
                        detections,
                        timings,
                        captured_at: frame.captured_at,
                        detected_at: self.clock.now(),
                    };
                    if self.results.offer(result) == Offer::Replaced {
                        counters.stale_results.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(error) => {
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
