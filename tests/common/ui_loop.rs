//! The UI side of a pipeline running on a [`ManualClock`]: polls as the app does and
//! steps the clock from one wake-up of the capture thread to the next, so seconds of
//! frame pacing and backoff pass without being slept.

use super::app::three_class_state;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::pipeline::{Clock, FrameResult, ManualClock, Pipeline, PipelineEvent, PipelineStats};
use tinyssd::ui::AppState;

/// Real time a test waits for the pipeline's threads before calling it a hang.
pub const HANG: Duration = Duration::from_secs(10);

/// Real time given to the capture thread to start waiting on the clock; it does not
/// when it is stuck in a read or has ended.
pub const PATIENCE: Duration = Duration::from_millis(20);

/// Waits until `ready` holds, looking every 0.2 ms; panics after [`HANG`], naming `what`.
pub fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < HANG, "waited {HANG:?} for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Whether the worker has dealt with every frame captured so far.
pub fn worker_idle(stats: &PipelineStats) -> bool {
    stats.processed + stats.dropped + stats.detect_errors == stats.captured
}

/// The UI, as the app's `poll` does it: events into the state, the newest result
/// shown (clearing the banner), at the clock's time. Keeps what it saw for the
/// assertions.
pub struct Ui {
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub results: Vec<FrameResult>,
    pub events: Vec<PipelineEvent>,
    /// Each error banner the source showed, in order.
    pub banners: Vec<String>,
}

impl Ui {
    pub fn new(clock: &Arc<ManualClock>) -> Ui {
        Ui {
            clock: clock.clone(),
            state: three_class_state(),
            results: Vec::new(),
            events: Vec::new(),
            banners: Vec::new(),
        }
    }

    pub fn poll(&mut self, pipeline: &Pipeline) {
        for event in pipeline.events() {
            self.events.push(event.clone());
            self.state.on_event(event);
        }
        if let Some(banner) = &self.state.source.error
            && self.banners.last() != Some(banner)
        {
            self.banners.push(banner.clone());
        }
        if let Some(result) = pipeline.try_recv() {
            self.state.source.error = None;
            self.state.on_result(result.clone(), self.clock.now());
            self.results.push(result);
        }
    }

    /// Polls until the worker has dealt with every frame captured so far and the UI
    /// has taken its result.
    pub fn settle(&mut self, pipeline: &Pipeline) {
        eventually("the worker and the UI to catch up", || {
            self.poll(pipeline);
            let stats = pipeline.stats();
            worker_idle(&stats)
                && self.results.len() as u64 + stats.stale_results == stats.processed
        });
    }

    /// Steps the clock from one wake-up of the capture thread to the next until
    /// `done`. Before each step the capture thread has finished its read and waits
    /// again, the worker has detected the frame and the UI has taken the result.
    pub fn run(&mut self, pipeline: &Pipeline, done: impl Fn(&Ui) -> bool) {
        let start = Instant::now();
        loop {
            let next_wake = self.clock.until_next_wake(PATIENCE);
            self.settle(pipeline);
            if done(self) {
                return;
            }
            assert!(start.elapsed() < HANG, "not done after {HANG:?}");
            if let Some(wait) = next_wake {
                self.clock.advance(wait);
            }
        }
    }

    /// How many events match.
    pub fn count(&self, event: impl Fn(&PipelineEvent) -> bool) -> usize {
        self.events.iter().filter(|&e| event(e)).count()
    }

    /// The `failures` field of each `SourceFailed` event, in order.
    pub fn failures(&self) -> Vec<u32> {
        self.events
            .iter()
            .filter_map(|e| match e {
                PipelineEvent::SourceFailed { failures, .. } => Some(*failures),
                _ => None,
            })
            .collect()
    }
}

pub fn recovered(event: &PipelineEvent) -> bool {
    matches!(event, PipelineEvent::SourceRecovered { .. })
}
