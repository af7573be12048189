//! Soak: the pipeline without a window, the demo source as fast as it renders, a UI
//! loop taking results as the app does. After a warm-up, resident memory (VmRSS) and
//! live heap bytes must stay flat, and every frame must be accounted for: detected,
//! dropped (the worker was busy) or failed, never lost or kept.
//!
//! `cargo test --release --test soak` runs a short version (3,000 frames, the real
//! detector on the golden weights). The long one is ignored by default:
//!
//! ```sh
//! cargo test --release --test soak -- --ignored --nocapture
//! TINYSSD_SOAK_FRAMES=20000 TINYSSD_SOAK_PROCESSOR=fake cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! (100,000 frames by default; `TINYSSD_SOAK_PROCESSOR=fake` swaps the detector for a
//! quick stand-in that still pre-processes every frame, to cover many frames fast.)

mod common;

use image::RgbImage;
use std::alloc::{GlobalAlloc, Layout, System};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detection, DetectorError, Preprocessor, Timings};
use tinyssd::model::{ChannelOrder, Normalization};
use tinyssd::pipeline::{DemoSource, FrameProcessor, Pipeline, PipelineStats, opener};

/// Counts live heap bytes (all threads).
struct LiveBytes;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static GLOBAL: LiveBytes = LiveBytes;

/// Resident memory of this process in KiB, from /proc/self/status.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn live_kib() -> i64 {
    LIVE.load(Ordering::Relaxed) / 1024
}

/// A quick stand-in for the detector: pre-processes the frame for real (the same
/// resize and normalisation) and reports one box.
struct FakeDetector {
    preprocessor: Preprocessor,
    input: Vec<f32>,
}

impl FakeDetector {
    fn new() -> FakeDetector {
        let normalization = Normalization {
            channel_order: ChannelOrder::Rgb,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        };
        FakeDetector {
            preprocessor: Preprocessor::new(300, &normalization),
            input: vec![0.0; 3 * 300 * 300],
        }
    }
}

impl FrameProcessor for FakeDetector {
    fn process(
        &mut self,
        image: &RgbImage,
        _config: &DetectConfig,
        detections: &mut Vec<Detection>,
    ) -> Result<Timings, DetectorError> {
        let start = Instant::now();
        self.preprocessor.run(image, &mut self.input);
        let detection = Detection {
            class_id: 8,
            label: "cat".into(),
            score: self.input[0].abs().fract(),
            bbox: tinyssd::model::Corners {
                x_min: 1.0,
                y_min: 1.0,
                x_max: 100.0,
                y_max: 100.0,
            },
        };
        let timings = Timings {
            preprocess: start.elapsed(),
            ..Timings::default()
        };
        detections.clear();
        detections.push(detection);
        Ok(timings)
    }
}

fn golden_detector() -> Box<dyn FrameProcessor> {
    Box::new(common::golden_detector())
}

#[derive(Debug)]
struct SoakReport {
    stats: PipelineStats,
    taken: u64,
    warm_frames: u64,
    warm_rss_kib: u64,
    end_rss_kib: u64,
    max_rss_kib: u64,
    warm_live_kib: i64,
    end_live_kib: i64,
    max_live_kib: i64,
    elapsed: Duration,
}

impl SoakReport {
    fn print(&self, what: &str) {
        let s = &self.stats;
        println!(
            "soak ({what}): {} frames captured in {:.1} s ({:.0} fps), {} detected, {} dropped, \
             {} detect errors, {} results taken, {} stale; RSS {} KiB at warm-up (frame {}), \
             {} KiB at the end, {} KiB at most ({:+.2} %); live heap {} -> {} KiB (max {})",
            s.captured,
            self.elapsed.as_secs_f32(),
            s.captured as f32 / self.elapsed.as_secs_f32(),
            s.processed,
            s.dropped,
            s.detect_errors,
            self.taken,
            s.stale_results,
            self.warm_rss_kib,
            self.warm_frames,
            self.end_rss_kib,
            self.max_rss_kib,
            (self.max_rss_kib as f64 / self.warm_rss_kib as f64 - 1.0) * 100.0,
            self.warm_live_kib,
            self.end_live_kib,
            self.max_live_kib,
        );
    }
}

/// Runs the demo source through `processor` until `frames` frames were captured.
fn soak(frames: u64, processor: Box<dyn FrameProcessor>) -> SoakReport {
    // 1000 fps asked: the demo renders as fast as it can.
    let demo = DemoSource::new(1000.0).expect("the bundled photos decode");
    let start = Instant::now();
    let mut pipeline = Pipeline::start(
        opener(demo),
        processor,
        DetectConfig::uniform(21, 0.3),
        Arc::new(|| {}),
    )
    .expect("threads start");
    let warm_frames = (frames / 10).max(500);
    let mut warm: Option<(u64, i64)> = None;
    let (mut max_rss, mut max_live) = (0, 0);
    let mut taken = 0u64;
    let mut last_sample = 0;
    loop {
        // As the app's UI: the newest result, never blocking; events drained.
        if let Some(result) = pipeline.try_recv() {
            taken += 1;
            assert_eq!(result.image.dimensions(), (640, 480));
        }
        let _ = pipeline.events();
        let captured = pipeline.stats().captured;
        if captured >= frames {
            break;
        }
        if captured >= warm_frames && captured >= last_sample + frames / 200 {
            last_sample = captured;
            let (rss, live) = (rss_kib(), live_kib());
            if warm.is_none() {
                warm = Some((rss, live));
            }
            max_rss = max_rss.max(rss);
            max_live = max_live.max(live);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (end_rss, end_live) = (rss_kib(), live_kib());
    let report = pipeline.shutdown(Duration::from_secs(2));
    assert!(report.joined, "{report:?}");
    taken += pipeline.try_recv().map_or(0, |_| 1);
    let stats = pipeline.stats();
    let (warm_rss, warm_live) = warm.expect("sampled after warm-up");
    SoakReport {
        stats,
        taken,
        warm_frames,
        warm_rss_kib: warm_rss,
        end_rss_kib: end_rss,
        max_rss_kib: max_rss.max(end_rss),
        warm_live_kib: warm_live,
        end_live_kib: end_live,
        max_live_kib: max_live.max(end_live),
        elapsed: start.elapsed(),
    }
}

/// Every frame accounted for, and memory flat after warm-up within the bounds.
fn check(report: &SoakReport, frames: u64, rss_slack: f64, rss_extra_kib: u64) {
    let s = &report.stats;
    assert!(s.captured >= frames, "{report:?}");
    assert_eq!(s.source_errors, 0, "{report:?}");
    assert_eq!(s.detect_errors, 0, "{report:?}");
    let settled = s.processed + s.dropped;
    assert!(
        settled <= s.captured && s.captured - settled <= 2,
        "each frame detected or dropped: {report:?}"
    );
    assert_eq!(report.taken + s.stale_results, s.processed, "{report:?}");
    assert!(s.processed > 0 && s.dropped > 0, "{report:?}");
    let bound = (report.warm_rss_kib as f64 * (1.0 + rss_slack)) as u64 + rss_extra_kib;
    assert!(
        report.max_rss_kib <= bound,
        "resident memory grew past {bound} KiB: {report:?}"
    );
    // Live heap: at most a few frames (921,600 bytes each) more than at warm-up.
    assert!(
        report.max_live_kib <= report.warm_live_kib + 4 * 900,
        "the heap grew: {report:?}"
    );
}

#[test]
fn a_short_soak_keeps_memory_flat_and_accounts_for_every_frame() {
    let frames = 3000;
    let report = soak(frames, golden_detector());
    report.print("short, golden detector");
    check(&report, frames, 0.10, 8 * 1024);
}

#[test]
#[ignore = "long: 100,000 frames; run with --ignored (see the module doc)"]
fn a_long_soak_keeps_memory_flat_and_accounts_for_every_frame() {
    let frames: u64 = std::env::var("TINYSSD_SOAK_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let fake = std::env::var("TINYSSD_SOAK_PROCESSOR").is_ok_and(|v| v == "fake");
    let processor: Box<dyn FrameProcessor> = if fake {
        Box::new(FakeDetector::new())
    } else {
        golden_detector()
    };
    let report = soak(frames, processor);
    report.print(if fake {
        "long, fake detector"
    } else {
        "long, golden detector"
    });
    // 5 %, plus one 640x480 frame that may be in flight when a sample is taken (it
    // matters only for the small fake-detector process, ~11 MiB).
    check(&report, frames, 0.05, 900);
}
