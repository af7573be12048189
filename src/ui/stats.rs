//! Live numbers: frames per second of each stage, where the time goes, what was
//! dropped. Each meter is a small struct that is fed as things happen, after
//! egui_demo_app's `FrameHistory`.

use crate::detect::Timings;
use crate::pipeline::PipelineStats;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the rates are measured over.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// How many frames the latency and timing means cover.
const MEAN_OVER: usize = 30;

/// Events per second over the last [`RATE_WINDOW`], from a running total.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    /// Records that `total` events had happened by `now`.
    pub fn record(&mut self, now: Instant, total: u64) {
        if self.samples.back().is_some_and(|&(_, last)| last > total) {
            self.samples.clear(); // the counter restarted
        }
        self.samples.push_back((now, total));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.duration_since(t) > RATE_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    /// Events per second; 0 before two samples.
    pub fn rate(&self) -> f32 {
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, n0)), Some(&(t1, n1))) if t1 > t0 => {
                (n1 - n0) as f32 / t1.duration_since(t0).as_secs_f32()
            }
            _ => 0.0,
        }
    }
}

/// Mean of the last [`MEAN_OVER`] values of a duration.
#[derive(Debug, Clone, Default)]
pub struct MeanDuration {
    values: VecDeque<Duration>,
}

impl MeanDuration {
    pub fn push(&mut self, value: Duration) {
        if self.values.len() == MEAN_OVER {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.values.len()).ok().filter(|&n| n > 0)?;
        Some(self.values.iter().sum::<Duration>() / n)
    }
}

/// The UI's own frame rate: times of the last frames painted.
#[derive(Debug, Clone, Default)]
pub struct FrameHistory {
    frames: RateMeter,
    count: u64,
}

impl FrameHistory {
    pub fn on_new_frame(&mut self, now: Instant) {
        self.count += 1;
        self.frames.record(now, self.count);
    }

    pub fn fps(&self) -> f32 {
        self.frames.rate()
    }
}

/// Everything the status bar shows.
#[derive(Debug, Clone, Default)]
pub struct LiveStats {
    pub ui: FrameHistory,
    pub capture: RateMeter,
    pub inference: RateMeter,
    pub preprocess: MeanDuration,
    pub network: MeanDuration,
    pub postprocess: MeanDuration,
    /// From the moment a frame was captured to the UI pass that first shows it.
    pub latency: MeanDuration,
    /// CPU time of a whole UI frame (layout and painting), as eframe reports it: the
    /// part of "capture to screen" that comes after [`Self::latency`].
    pub ui_frame: MeanDuration,
    pub pipeline: PipelineStats,
}

impl LiveStats {
    /// Called once per UI pass with the pipeline's counters.
    pub fn on_ui_frame(&mut self, now: Instant, pipeline: Option<PipelineStats>) {
        self.ui.on_new_frame(now);
        if let Some(stats) = pipeline {
            self.capture.record(now, stats.captured);
            self.inference.record(now, stats.processed);
            self.pipeline = stats;
        }
    }

    /// Called when a new result is shown.
    pub fn on_result(&mut self, timings: &Timings, latency: Duration) {
        self.preprocess.push(timings.preprocess);
        self.network.push(timings.network);
        self.postprocess.push(timings.postprocess);
        self.latency.push(latency);
    }

    /// One line, for the log.
    pub fn summary(&self) -> String {
        let ms = |d: &MeanDuration| d.mean().map_or(0.0, |d| d.as_secs_f32() * 1000.0);
        format!(
            "capture {:.1} fps, inference {:.1} fps, UI {:.1} fps ({:.1} ms a frame), \
             latency {:.1} ms (pre {:.1} + network {:.1} + post {:.1} ms), dropped {} of {}",
            self.capture.rate(),
            self.inference.rate(),
            self.ui.fps(),
            ms(&self.ui_frame),
            ms(&self.latency),
            ms(&self.preprocess),
            ms(&self.network),
            ms(&self.postprocess),
            self.pipeline.dropped,
            self.pipeline.captured,
        )
    }

    /// The status bar's numbers (laid out in the caller's row): always visible.
    pub fn ui(&self, ui: &mut egui::Ui) {
        let ms = |d: &MeanDuration| {
            d.mean().map_or("–".to_string(), |d| {
                format!("{:.1}", d.as_secs_f32() * 1000.0)
            })
        };
        ui.scope(|ui| {
            ui.label(format!("Capture {:.1} fps", self.capture.rate()));
            ui.separator();
            ui.label(format!("Inference {:.1} fps", self.inference.rate()));
            ui.separator();
            ui.label(format!("Latency {} ms", ms(&self.latency)))
                .on_hover_text("From capture to the first UI frame that shows it (mean of 30)");
            ui.label(format!(
                "(pre {} + network {} + post {} ms)",
                ms(&self.preprocess),
                ms(&self.network),
                ms(&self.postprocess)
            ))
            .on_hover_text("Inference time per frame: pre-processing, network, post-processing");
            ui.separator();
            ui.label(format!("UI {:.0} fps", self.ui.fps()));
            ui.separator();
            ui.label(format!("Dropped {}", self.pipeline.dropped))
                .on_hover_text(format!(
                    "Frames replaced by a newer one while the detector was busy \
                     ({} captured, {} detected)",
                    self.pipeline.captured, self.pipeline.processed
                ));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_totals() {
        let mut meter = RateMeter::default();
        let start = Instant::now();
        assert_eq!(meter.rate(), 0.0);
        meter.record(start, 10);
        meter.record(start + Duration::from_millis(500), 25);
        assert!((meter.rate() - 30.0).abs() < 1e-3);
        meter.record(start + Duration::from_secs(10), 25);
        assert!(meter.rate() < 1.0, "old samples age out");
    }

    #[test]
    fn means_cover_the_last_values() {
        let mut mean = MeanDuration::default();
        assert_eq!(mean.mean(), None);
        for ms in [10, 20, 30] {
            mean.push(Duration::from_millis(ms));
        }
        assert_eq!(mean.mean(), Some(Duration::from_millis(20)));
    }
}
