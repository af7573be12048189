//! Faults injected into the capture -> worker -> UI pipeline: frames of odd or zero
//! size, a source that stalls for seconds, one that errors (or panics) every Nth frame,
//! one that disappears and comes back, a detector that panics. Each time the worker
//! and the UI state survive, and the counters add up:
//!
//! - `captured` = the frames the source really delivered;
//! - `captured` = `processed` + `dropped` + `detect_errors` + at most 2 in flight;
//! - results taken by the UI + `stale_results` = `processed`;
//! - `source_errors` = the errors the source really returned.

mod common;

use common::app::{FakeProcessor, no_waker, three_class_state};
use common::golden_detector;
use image::{Rgb, RgbImage};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Timings};
use tinyssd::pipeline::{
    FrameResult, FrameSource, Pipeline, PipelineEvent, PipelineStats, SourceError, opener,
};
use tinyssd::ui::AppState;

/// What the fault-injecting source did, as seen from inside it.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Size of each frame delivered, in order (frame `seq` is entry `seq - 1`).
    sizes: Vec<(u32, u32)>,
    errors: u64,
    panics: u64,
}

/// What the source does on its `call`-th read (from 0), `elapsed` after its first.
enum Step {
    Frame(u32, u32),
    Error,
    Panic,
    /// Blocks for the duration, then gives a frame of the size.
    Stall(Duration, u32, u32),
}

type Script = Box<dyn FnMut(u64, Duration) -> Step + Send>;

/// A frame source driven by a script, counting what it really did.
struct FaultySource {
    script: Script,
    calls: u64,
    started: Option<Instant>,
    interval: Duration,
    shade: u8,
    tally: Arc<Mutex<Tally>>,
}

impl FaultySource {
    fn new(
        fps: f32,
        shade: u8,
        script: impl FnMut(u64, Duration) -> Step + Send + 'static,
    ) -> (FaultySource, Arc<Mutex<Tally>>) {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let source = FaultySource {
            script: Box::new(script),
            calls: 0,
            started: None,
            interval: Duration::from_secs_f32(1.0 / fps),
            shade,
            tally: tally.clone(),
        };
        (source, tally)
    }

    fn frame(&self, width: u32, height: u32) -> RgbImage {
        let mut tally = self.tally.lock().expect("tally");
        tally.sizes.push((width, height));
        RgbImage::from_fn(width, height, |x, y| {
            Rgb([self.shade, (x % 251) as u8, (y % 241) as u8])
        })
    }
}

impl FrameSource for FaultySource {
    fn name(&self) -> String {
        "faulty".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let call = self.calls;
        self.calls += 1;
        match (self.script)(call, started.elapsed()) {
            Step::Frame(w, h) => Ok(self.frame(w, h)),
            Step::Stall(wait, w, h) => {
                std::thread::sleep(wait);
                Ok(self.frame(w, h))
            }
            Step::Error => {
                self.tally.lock().expect("tally").errors += 1;
                Err(SourceError::Camera {
                    camera: "0".into(),
                    message: format!("frame {call} could not be decoded"),
                })
            }
            Step::Panic => {
                self.tally.lock().expect("tally").panics += 1;
                panic!("injected source panic at call {call}");
            }
        }
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }
}

fn quick() -> Box<FakeProcessor> {
    Box::new(FakeProcessor::new(Duration::from_millis(2)))
}

/// A pipeline on `source` with the quick fake detector, 3 classes at 0.5.
fn start_quick(source: FaultySource) -> Pipeline {
    Pipeline::start(
        opener(source),
        quick(),
        DetectConfig::uniform(3, 0.5),
        no_waker(),
    )
    .expect("threads start")
}

/// The UI side, as the app's `poll` does it: events into the state, the newest result
/// shown (clearing the banner). Keeps what it saw for the assertions.
struct Ui {
    state: AppState,
    results: Vec<FrameResult>,
    events: Vec<PipelineEvent>,
}

impl Ui {
    fn new() -> Ui {
        Ui {
            state: three_class_state(),
            results: Vec::new(),
            events: Vec::new(),
        }
    }

    fn poll(&mut self, pipeline: &Pipeline) {
        for event in pipeline.events() {
            self.events.push(event.clone());
            self.state.on_event(event);
        }
        if let Some(result) = pipeline.try_recv() {
            self.state.source.error = None;
            self.state.on_result(result.clone(), Instant::now());
            self.results.push(result);
        }
    }

    /// Polls every 2 ms for `how_long` or until `done`.
    fn run(&mut self, pipeline: &Pipeline, how_long: Duration, done: impl Fn(&Ui) -> bool) {
        let start = Instant::now();
        while start.elapsed() < how_long && !done(self) {
            self.poll(pipeline);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Shuts the pipeline down and takes the last result, then checks the counters.
    fn finish(&mut self, pipeline: &mut Pipeline, tally: &Mutex<Tally>) -> PipelineStats {
        let report = pipeline.shutdown(Duration::from_secs(2));
        assert!(report.joined, "{report:?}");
        self.poll(pipeline);
        let stats = pipeline.stats();
        let tally = tally.lock().expect("tally").clone();
        assert_accounting(&stats, &tally, self.results.len() as u64);
        // Each result's image is the frame the source made for that sequence number.
        for result in &self.results {
            let made = tally.sizes.get(result.seq as usize - 1).copied();
            assert_eq!(
                Some(result.image.dimensions()),
                made,
                "frame {}",
                result.seq
            );
        }
        assert!(
            self.results.windows(2).all(|w| w[0].seq < w[1].seq),
            "results in capture order"
        );
        stats
    }
}

fn assert_accounting(stats: &PipelineStats, tally: &Tally, taken: u64) {
    assert_eq!(stats.captured, tally.sizes.len() as u64, "{stats:?}");
    assert_eq!(
        stats.source_errors,
        tally.errors + tally.panics,
        "{stats:?}"
    );
    let settled = stats.processed + stats.dropped + stats.detect_errors;
    assert!(
        settled <= stats.captured && stats.captured - settled <= 2,
        "every frame detected, dropped or failed: {stats:?}"
    );
    assert_eq!(taken + stats.stale_results, stats.processed, "{stats:?}");
}

#[test]
fn frames_of_any_size_are_resized_and_empty_ones_are_counted() {
    let sizes = [
        (640, 480),
        (1, 1),
        (0, 0),
        (1920, 3),
        (3, 700),
        (0, 480),
        (301, 299),
        (640, 0),
    ];
    let (source, tally) = FaultySource::new(40.0, 9, move |call, _| {
        let (w, h) = sizes[call as usize % sizes.len()];
        Step::Frame(w, h)
    });
    let detector = golden_detector();
    let mut pipeline = Pipeline::start(
        opener(source),
        Box::new(detector),
        DetectConfig::uniform(21, 0.0),
        no_waker(),
    )
    .expect("threads start");
    let mut ui = Ui::new();
    ui.run(&pipeline, Duration::from_secs(8), |ui| {
        ui.results.len() >= 2 * 5 && ui.state.notice.is_some()
    });
    let stats = ui.finish(&mut pipeline, &tally);

    assert!(stats.processed >= 10, "{stats:?}");
    assert!(stats.detect_errors >= 1, "empty frames fail: {stats:?}");
    for result in &ui.results {
        let (w, h) = result.image.dimensions();
        assert!(w > 0 && h > 0, "an empty frame never reaches the UI");
        for d in &result.detections {
            let b = d.bbox;
            assert!(
                b.x_min >= 0.0 && b.y_min >= 0.0 && b.x_max <= w as f32 && b.y_max <= h as f32,
                "{w}x{h}: {b:?}"
            );
        }
    }
    let odd = ui
        .results
        .iter()
        .filter(|r| r.image.dimensions() != (640, 480))
        .count();
    assert!(odd > 0, "frames of other sizes were detected too");
    let notice = ui.state.notice.as_ref().expect("the failure is shown");
    assert!(
        notice.is_error && notice.text.contains("empty"),
        "{notice:?}"
    );
    assert!(ui.state.current.is_some(), "a frame stays on screen");
}

#[test]
fn a_source_that_stalls_for_seconds_resumes_and_the_ui_keeps_its_frame() {
    let (source, tally) = FaultySource::new(50.0, 1, |call, _| {
        if call == 10 {
            Step::Stall(Duration::from_millis(3500), 64, 48)
        } else {
            Step::Frame(64, 48)
        }
    });
    let mut pipeline = start_quick(source);
    let mut ui = Ui::new();
    ui.run(&pipeline, Duration::from_secs(3), |ui| {
        ui.results.last().is_some_and(|r| r.seq >= 10)
    });
    // The stall: no frame, no error, the UI keeps showing the last frame and, after
    // two seconds, says that nothing comes.
    let stalled_at = ui.results.len();
    assert_eq!(ui.state.stall_note(Instant::now()), None);
    ui.run(&pipeline, Duration::from_millis(2300), |_| false);
    assert!(
        ui.results.len() <= stalled_at + 1,
        "nothing new while stalled"
    );
    assert!(ui.state.current.is_some());
    assert_eq!(ui.state.source.error, None, "a slow source is not an error");
    let note = ui
        .state
        .stall_note(Instant::now())
        .expect("the stall is shown");
    assert!(note.contains("no new frame from faulty for"), "{note}");
    // Frames flow again.
    ui.run(&pipeline, Duration::from_secs(4), |ui| {
        ui.results.last().is_some_and(|r| r.seq >= 20)
    });
    assert_eq!(
        ui.state.stall_note(Instant::now()),
        None,
        "frames flow again"
    );
    let stats = ui.finish(&mut pipeline, &tally);
    assert!(ui.results.last().is_some_and(|r| r.seq >= 20), "{stats:?}");
    assert_eq!(stats.source_errors, 0);
    assert_eq!(stats.detect_errors, 0);
}

#[test]
fn a_stalled_source_does_not_hold_up_shutdown_or_leak_into_the_next_source() {
    // Source A blocks for 1.5 s on its third read; meanwhile the app switches to B.
    let (a, a_tally) = FaultySource::new(50.0, 1, |call, _| {
        if call == 2 {
            Step::Stall(Duration::from_millis(1500), 32, 24)
        } else {
            Step::Frame(32, 24)
        }
    });
    let mut pipeline = start_quick(a);
    let mut ui = Ui::new();
    ui.run(&pipeline, Duration::from_millis(300), |_| false);
    let (b, _) = FaultySource::new(50.0, 2, |_, _| Step::Frame(40, 30));
    let switch = Instant::now();
    pipeline.switch_source(opener(b)).expect("switch");
    assert!(
        switch.elapsed() < Duration::from_millis(1300),
        "gave up on A"
    );
    ui.run(&pipeline, Duration::from_millis(2500), |_| false);
    let shades: Vec<u8> = ui
        .results
        .iter()
        .map(|r| r.image.get_pixel(0, 0)[0])
        .collect();
    let first_b = shades
        .iter()
        .position(|&s| s == 2)
        .expect("B's frames arrive");
    assert!(
        shades[first_b..].iter().all(|&s| s == 2),
        "A's late frame came after B's: {shades:?}"
    );
    assert_eq!(a_tally.lock().expect("tally").sizes.len(), 3, "A ended");

    // Shutting down while the source is stuck returns within the deadline.
    let (c, _) = FaultySource::new(50.0, 3, |call, _| {
        if call == 1 {
            Step::Stall(Duration::from_secs(3), 8, 8)
        } else {
            Step::Frame(8, 8)
        }
    });
    pipeline.switch_source(opener(c)).expect("switch");
    std::thread::sleep(Duration::from_millis(300));
    let report = pipeline.shutdown(Duration::from_millis(500));
    assert!(!report.joined, "the stuck capture thread is left behind");
    assert!(report.elapsed < Duration::from_millis(800), "{report:?}");
}

#[test]
fn a_source_that_errors_every_third_frame_keeps_going() {
    let (source, tally) = FaultySource::new(100.0, 1, |call, _| {
        if call % 3 == 2 {
            Step::Error
        } else {
            Step::Frame(48, 36)
        }
    });
    let mut pipeline = start_quick(source);
    let mut ui = Ui::new();
    ui.run(&pipeline, Duration::from_secs(6), |ui| {
        ui.events
            .iter()
            .filter(|e| matches!(e, PipelineEvent::SourceRecovered { .. }))
            .count()
            >= 4
    });
    let stats = ui.finish(&mut pipeline, &tally);

    assert!(stats.source_errors >= 4, "{stats:?}");
    let failures: Vec<u32> = ui
        .events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::SourceFailed { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures.len() as u64,
        stats.source_errors,
        "each error reported"
    );
    assert!(
        failures.iter().all(|&f| f == 1),
        "never twice in a row: {failures:?}"
    );
    assert!(stats.processed >= 8, "{stats:?}");
    // The last thing that happened decides the banner: a frame clears it.
    let last_was_frame = !matches!(ui.events.last(), Some(PipelineEvent::SourceFailed { .. }));
    assert_eq!(ui.state.source.error.is_none(), last_was_frame);
}

#[test]
fn a_source_that_disappears_and_comes_back_is_picked_up_again() {
    // Frames for 0.3 s, gone for 1.2 s (unplugged), then back.
    let (source, tally) = FaultySource::new(50.0, 1, |_, elapsed| {
        if elapsed > Duration::from_millis(300) && elapsed < Duration::from_millis(1500) {
            Step::Error
        } else {
            Step::Frame(64, 48)
        }
    });
    let mut pipeline = start_quick(source);
    let mut ui = Ui::new();
    let mut banner_seen = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        ui.poll(&pipeline);
        banner_seen |= ui.state.source.error.is_some();
        if ui
            .events
            .iter()
            .any(|e| matches!(e, PipelineEvent::SourceRecovered { .. }))
            && ui.results.len() >= 20
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let stats = ui.finish(&mut pipeline, &tally);

    assert!(banner_seen, "the user saw that the camera was gone");
    let failures: Vec<u32> = ui
        .events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::SourceFailed { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    // 250 + 500 ms of backoff fit in 1.2 s, the third try lands after it: 2 or 3 failures.
    let expected: Vec<u32> = (1..=failures.len() as u32).collect();
    assert_eq!(failures, expected, "failures counted in a row");
    assert!((2..=3).contains(&failures.len()), "{failures:?}");
    assert_eq!(stats.source_errors, failures.len() as u64);
    let recovered = ui
        .events
        .iter()
        .filter(|e| matches!(e, PipelineEvent::SourceRecovered { .. }))
        .count();
    assert_eq!(recovered, 1);
    assert_eq!(ui.state.source.error, None, "the banner is gone");
    assert!(
        ui.state
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("is back"))
    );
}

#[test]
fn panics_in_the_source_or_the_detector_are_contained_and_counted() {
    let (source, tally) = FaultySource::new(100.0, 1, |call, _| {
        if call % 5 == 4 {
            Step::Panic
        } else {
            Step::Frame(32, 24)
        }
    });
    let processor = Box::new(FakeProcessor::panicking_every(Duration::from_millis(2), 4));
    let mut pipeline = Pipeline::start(
        opener(source),
        processor,
        DetectConfig::uniform(3, 0.5),
        no_waker(),
    )
    .expect("threads start");
    let mut ui = Ui::new();
    ui.run(&pipeline, Duration::from_secs(6), |ui| {
        ui.results.len() >= 12
    });
    let stats = ui.finish(&mut pipeline, &tally);
    let panics = tally.lock().expect("tally").panics;

    assert!(panics >= 2, "{stats:?}");
    assert!(stats.detect_errors >= 2, "{stats:?}");
    assert!(ui.results.len() >= 12, "{stats:?}");
    assert!(ui.events.iter().any(
        |e| matches!(e, PipelineEvent::SourceFailed { message, .. } if message.contains("panicked"))
    ));
    assert!(ui.events.iter().any(
        |e| matches!(e, PipelineEvent::DetectFailed { message } if message.contains("crashed"))
    ));
}

#[test]
fn the_stall_note_follows_the_frames_and_the_pause_button() {
    let mut state = three_class_state();
    let t0 = Instant::now();
    let result = |seq| FrameResult {
        seq,
        image: RgbImage::new(4, 4),
        detections: Vec::new(),
        timings: Timings::default(),
        captured_at: t0,
        detected_at: t0,
    };
    let at = |ms| t0 + Duration::from_millis(ms);
    state.on_result(result(1), at(0));
    assert_eq!(
        state.stall_note(at(5000)),
        None,
        "one frame says nothing yet"
    );
    state.on_result(result(2), at(33));
    assert_eq!(state.stall_note(at(1000)), None);
    assert!(state.stall_note(at(2100)).is_some());
    state.set_paused(true, at(2200));
    assert_eq!(
        state.stall_note(at(9000)),
        None,
        "paused: nothing is expected"
    );
    state.set_paused(false, at(10_000));
    assert_eq!(state.stall_note(at(10_100)), None, "the wait starts afresh");
    assert!(state.stall_note(at(12_100)).is_some());
    state.on_result(result(3), at(12_200));
    assert_eq!(state.stall_note(at(12_300)), None);
    // A slow source (one frame every 5 s) is not stalled until three gaps pass.
    state.on_result(result(4), at(17_200));
    assert_eq!(state.stall_note(at(30_000)), None);
    assert!(state.stall_note(at(32_300)).is_some());
}
