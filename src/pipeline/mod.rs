//! Frames to detections on background threads, for the app.
//!
//! ```text
//! capture thread --(latest-wins slot)--> worker thread --(latest-wins slot)--> UI
//!   FrameSource                           FrameProcessor (the Detector)        try_recv, never blocks
//! ```
//!
//! The capture thread reads a [`FrameSource`] and offers each frame to the worker; a
//! frame the worker has not taken yet is replaced by the newer one and counted as
//! dropped, so nothing ever queues. The worker owns the [`FrameProcessor`] and the
//! [`Tracker`](crate::track::Tracker), runs them with the newest [`DetectConfig`] and
//! offers the [`FrameResult`] (detections and tracks) to the UI, then calls the
//! [`Waker`] (the app passes `egui::Context::request_repaint`). Source
//! failures and detector errors arrive as [`PipelineEvent`]s. [`Pipeline::shutdown`]
//! (also run on drop) stops both threads and joins them within a deadline.
//!
//! Both threads read the time from a [`Clock`]: the system's, or in tests a
//! [`ManualClock`] that steps through pacing, backoff and stalls without sleeping.
//!
//! The files: this one starts and stops the threads ([`Pipeline`]); `capture.rs` and
//! `worker.rs` are their loops, `messages.rs` what they pass each other, `shared.rs` the
//! switches and counters they share, `channel.rs` the latest-wins slot, `clock.rs` the
//! time, `detection_log.rs` the `--log` file, and `sources/` every kind of
//! [`FrameSource`]. No file imports from this one: the rest of the crate reaches them
//! through its re-exports.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod capture;
mod channel;
mod clock;
mod detection_log;
mod messages;
mod shared;
mod sources;
mod worker;

pub use capture::{FIRST_BACKOFF, MAX_BACKOFF, backoff};
pub use channel::{LatestSender, latest};
pub use clock::{Clock, ManualClock, SystemClock};
pub use detection_log::{DetectionLog, LogError, LogRecord, LogSummary};
pub use messages::{EVENT_BACKLOG, Frame, FrameResult, PipelineEvent, Waker};
pub use sources::{
    CameraEntry, CameraSelector, CameraSource, DEFAULT_IMAGE_FPS, DemoSource, FrameSource,
    ImageCursor, ImageListSource, Playback, SourceControl, SourceError, SourceOpener, SourceSpec,
    VideoSource, camera_error, explain_camera_failure, interval_for_fps, is_exact_rgb,
    list_cameras, opener, read_rgb,
};
pub use worker::FrameProcessor;

use crate::detect::DetectConfig;
use crossbeam_channel::{Receiver, Sender, unbounded};
use image::RgbImage;
use messages::{Detected, ResultBuffers};
use shared::Shared;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Pipeline`]'s drop waits for its threads.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(1);

/// A snapshot of the pipeline's counters (totals since start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Frames read from the source.
    pub captured: u64,
    /// Frames replaced before the worker took them (the worker was busy).
    pub dropped: u64,
    /// Frames the worker ran detection on.
    pub processed: u64,
    /// Results replaced before the UI took them.
    pub stale_results: u64,
    pub source_errors: u64,
    pub detect_errors: u64,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every thread ended and was joined before the deadline.
    pub joined: bool,
    pub elapsed: Duration,
}

struct Running {
    handle: JoinHandle<()>,
    /// Dropping it tells the thread to stop.
    stop: Sender<()>,
}

/// Stops the threads and joins those that end before `deadline`; the others are
/// left detached (a camera driver stuck in a read) and reported. The deadline is
/// real time whatever the pipeline's clock: it bounds how long the app waits.
fn stop_all(threads: Vec<(&'static str, Running)>, deadline: Duration) -> bool {
    let start = Instant::now();
    let handles: Vec<(&str, JoinHandle<()>)> = threads
        .into_iter()
        .map(|(name, running)| {
            drop(running.stop);
            (name, running.handle)
        })
        .collect();
    let mut all_joined = true;
    for (name, handle) in handles {
        while !handle.is_finished() && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if handle.is_finished() {
            if handle.join().is_err() {
                log::error!("the {name} thread panicked");
            }
        } else {
            log::warn!("the {name} thread did not stop within {deadline:?}; leaving it");
            all_joined = false;
        }
    }
    all_joined
}

/// The running capture and worker threads, and the UI's ends of their channels.
pub struct Pipeline {
    capture: Option<Running>,
    worker: Option<Running>,
    frames: LatestSender<Frame>,
    results: Receiver<Detected>,
    /// The number of the model the worker was last given ([`Detected::model`]).
    model: u64,
    /// Shown results' buffers, back to the worker for reuse.
    recycled: Sender<ResultBuffers>,
    events_tx: Sender<PipelineEvent>,
    events: Receiver<PipelineEvent>,
    changes: Sender<worker::WorkerChange>,
    shared: Arc<Shared>,
    wake: Waker,
    clock: Arc<dyn Clock>,
}

impl Pipeline {
    /// Starts the threads. `config` is the first setting, as the user has it (the
    /// tracks are shown at its thresholds; the detector runs down to the tracker's
    /// floor); change it with [`Pipeline::set_config`].
    pub fn start(
        source: SourceOpener,
        processor: Box<dyn FrameProcessor>,
        config: DetectConfig,
        wake: Waker,
    ) -> std::io::Result<Pipeline> {
        Pipeline::start_logged(source, processor, config, wake, None)
    }

    /// [`Pipeline::start`], with every processed frame's detections written to `log`
    /// (closed, and flushed, when the worker stops).
    pub fn start_logged(
        source: SourceOpener,
        processor: Box<dyn FrameProcessor>,
        config: DetectConfig,
        wake: Waker,
        log: Option<DetectionLog>,
    ) -> std::io::Result<Pipeline> {
        Pipeline::start_on_clock(source, processor, config, wake, log, Arc::new(SystemClock))
    }

    /// [`Pipeline::start_logged`] with both threads on `clock` (a [`ManualClock`] in
    /// tests).
    pub fn start_on_clock(
        source: SourceOpener,
        processor: Box<dyn FrameProcessor>,
        config: DetectConfig,
        wake: Waker,
        log: Option<DetectionLog>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Pipeline> {
        let (frames_tx, frames_rx) = latest::<Frame>();
        let (results_tx, results_rx) = latest::<Detected>();
        let (recycled_tx, recycled_rx) = crossbeam_channel::bounded(worker::SPARE_BUFFERS);
        let (events_tx, events_rx) = crossbeam_channel::bounded(EVENT_BACKLOG);
        let (changes_tx, changes_rx) = unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let shared = Arc::new(Shared::default());
        let worker = worker::WorkerLoop {
            processor,
            tracking: worker::Tracking::new(config),
            log,
            spare: worker::SpareBuffers::new(recycled_rx),
            frames: frames_rx,
            changes: changes_rx,
            results: results_tx,
            events: events_tx.clone(),
            stop: stop_rx,
            shared: shared.clone(),
            wake: wake.clone(),
            clock: clock.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("tinyssd-worker".into())
            .spawn(move || worker.run())?;
        let mut pipeline = Pipeline {
            capture: None,
            worker: Some(Running {
                handle,
                stop: stop_tx,
            }),
            frames: frames_tx,
            results: results_rx,
            model: 0,
            recycled: recycled_tx,
            events_tx,
            events: events_rx,
            changes: changes_tx,
            shared,
            wake,
            clock,
        };
        pipeline.switch_source(source)?;
        Ok(pipeline)
    }

    /// Replaces the source: the old capture thread is stopped first (its last frame
    /// may still be detected), then a new one reads `source`. The worker keeps running.
    pub fn switch_source(&mut self, source: SourceOpener) -> std::io::Result<()> {
        if let Some(old) = self.capture.take() {
            stop_all(vec![("capture", old)], SHUTDOWN_DEADLINE);
        }
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        let capture = capture::CaptureLoop {
            frames: self.frames.clone(),
            events: self.events_tx.clone(),
            stop: stop_rx,
            shared: self.shared.clone(),
            wake: self.wake.clone(),
            clock: self.clock.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("tinyssd-capture".into())
            .spawn(move || capture.run(source))?;
        self.capture = Some(Running {
            handle,
            stop: stop_tx,
        });
        Ok(())
    }

    /// The newest result, if one arrived since the last call and the current model
    /// found it. Never blocks.
    pub fn try_recv(&self) -> Option<FrameResult> {
        let newest = self.results.try_iter().last()?;
        if newest.model == self.model {
            return Some(newest.result);
        }
        self.recycle(newest.result);
        None
    }

    /// Hands back a result the UI no longer shows, so that the worker reuses its
    /// memory instead of allocating for the next frame. Never blocks; optional.
    pub fn recycle(&self, result: FrameResult) {
        // Full: the worker has spares enough, and this one is freed.
        let _ = self.recycled.try_send(result.into_buffers());
    }

    /// The events that arrived since the last call. Never blocks.
    pub fn events(&self) -> Vec<PipelineEvent> {
        self.events.try_iter().collect()
    }

    /// The settings for the next frames.
    pub fn set_config(&self, config: DetectConfig) {
        self.change_worker(worker::WorkerChange::Config(config));
    }

    /// Another model for the next frames, with the settings for it; from now on
    /// [`Pipeline::try_recv`] gives only what it finds.
    pub fn set_processor(&mut self, processor: Box<dyn FrameProcessor>, config: DetectConfig) {
        self.model += 1;
        self.change_worker(worker::WorkerChange::Processor(processor, config));
    }

    fn change_worker(&self, change: worker::WorkerChange) {
        // The worker holds the receiver until it ends; after that nothing matters.
        let _ = self.changes.send(change);
    }

    /// The frames from now on show another scene (a step to another photo): the worker
    /// starts its tracks afresh at the first of them. Call it before the source moves.
    pub fn new_scene(&self) {
        self.shared.scene.fetch_add(1, Ordering::Relaxed);
    }

    /// Detects `image` again as a new frame from `source` (counted as captured): the
    /// frame on screen, once the model changed.
    pub fn detect_again(&self, image: RgbImage, source: &str) {
        self.shared
            .offer_frame(&self.frames, image, self.clock.now(), Arc::from(source));
    }

    /// Paused: the capture thread stops reading the source (the worker idles).
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
    }

    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> PipelineStats {
        let c = &self.shared.counters;
        PipelineStats {
            captured: c.captured.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            processed: c.processed.load(Ordering::Relaxed),
            stale_results: c.stale_results.load(Ordering::Relaxed),
            source_errors: c.source_errors.load(Ordering::Relaxed),
            detect_errors: c.detect_errors.load(Ordering::Relaxed),
        }
    }

    /// Stops and joins both threads, waiting at most `deadline`. Idempotent.
    pub fn shutdown(&mut self, deadline: Duration) -> ShutdownReport {
        let start = Instant::now();
        let mut threads = Vec::new();
        if let Some(capture) = self.capture.take() {
            threads.push(("capture", capture));
        }
        if let Some(worker) = self.worker.take() {
            threads.push(("worker", worker));
        }
        let joined = stop_all(threads, deadline);
        ShutdownReport {
            joined,
            elapsed: start.elapsed(),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown(SHUTDOWN_DEADLINE);
    }
}
