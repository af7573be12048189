//! Faults injected into the capture -> worker -> UI pipeline: frames of odd or zero
//! size, a source that stalls, one that errors (or panics) every Nth frame, one that
//! disappears and comes back, a detector that panics. Each time the worker and the UI
//! state survive, and the counters add up:
//!
//! - `captured` = the frames the source really delivered;
//! - `captured` = `processed` + `dropped` + `detect_errors` + at most 2 in flight;
//! - results taken by the UI + `stale_results` = `processed`;
//! - `source_errors` = the errors the source really returned.
//!
//! The threads run on a [`ManualClock`] that the tests move from one wake-up of the
//! capture thread to the next, so seconds of pacing, backoff and stall pass without
//! being slept; only the shutdown deadlines are real time.

mod common;

use common::app::{FakeProcessor, blank_result, no_waker, three_class_state};
use common::golden_detector;
use common::ui_loop::{PATIENCE, Ui, eventually, recovered};
use crossbeam_channel::{Receiver, Sender};
use image::{Rgb, RgbImage};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tinyssd::detect::DetectConfig;
use tinyssd::pipeline::{
    Clock, FrameProcessor, FrameSource, ManualClock, Pipeline, PipelineEvent, PipelineStats,
    SourceError, backoff, opener,
};

/// What the fault-injecting source did, as seen from inside it.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Size of each frame delivered, in order (frame `seq` is entry `seq - 1`).
    sizes: Vec<(u32, u32)>,
    errors: u64,
    panics: u64,
    /// When each read began, on the clock, after the first.
    reads: Vec<Duration>,
    /// The source was dropped: its capture thread has ended.
    ended: bool,
}

/// What the source does on its `call`-th read (from 0), `elapsed` after its first.
enum Step {
    Frame(u32, u32),
    Error,
    Panic,
    /// Blocks (a camera driver stuck in a read) until the gate is opened by dropping
    /// its sender, then gives a frame of the size.
    Stall(Receiver<()>, u32, u32),
}

type Script = Box<dyn FnMut(u64, Duration) -> Step + Send>;

/// A frame source driven by a script, counting what it really did.
struct FaultySource {
    script: Script,
    clock: Arc<ManualClock>,
    started: Option<Instant>,
    interval: Duration,
    shade: u8,
    tally: Arc<Mutex<Tally>>,
}

impl FaultySource {
    fn new(
        clock: &Arc<ManualClock>,
        fps: f32,
        shade: u8,
        script: impl FnMut(u64, Duration) -> Step + Send + 'static,
    ) -> (FaultySource, Arc<Mutex<Tally>>) {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let source = FaultySource {
            script: Box::new(script),
            clock: clock.clone(),
            started: None,
            interval: Duration::from_secs_f32(1.0 / fps),
            shade,
            tally: tally.clone(),
        };
        (source, tally)
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().expect("tally")
    }

    fn frame(&self, width: u32, height: u32) -> RgbImage {
        self.tally().sizes.push((width, height));
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
        let now = self.clock.now();
        let elapsed = now - *self.started.get_or_insert(now);
        let call = {
            let mut tally = self.tally();
            tally.reads.push(elapsed);
            tally.reads.len() as u64 - 1
        };
        match (self.script)(call, elapsed) {
            Step::Frame(w, h) => Ok(self.frame(w, h)),
            Step::Stall(gate, w, h) => {
                // Returns when the test drops the gate's sender.
                let _ = gate.recv();
                Ok(self.frame(w, h))
            }
            Step::Error => {
                self.tally().errors += 1;
                Err(SourceError::Camera {
                    camera: "0".into(),
                    message: format!("frame {call} could not be decoded"),
                })
            }
            Step::Panic => {
                self.tally().panics += 1;
                panic!("injected source panic at call {call}");
            }
        }
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(self.interval)
    }
}

impl Drop for FaultySource {
    fn drop(&mut self) {
        if let Ok(mut tally) = self.tally.lock() {
            tally.ended = true;
        }
    }
}

/// A gate for [`Step::Stall`]: closed until the sender is dropped.
fn gate() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::bounded(0)
}

/// A pipeline on `source` and `clock`, with `processor`, 3 classes at 0.5.
fn start(
    clock: &Arc<ManualClock>,
    source: FaultySource,
    processor: Box<dyn FrameProcessor>,
) -> Pipeline {
    Pipeline::start_on_clock(
        opener(source),
        processor,
        DetectConfig::uniform(3, 0.5),
        no_waker(),
        None,
        clock.clone(),
    )
    .expect("threads start")
}

/// [`start`] with the quick fake detector.
fn start_quick(clock: &Arc<ManualClock>, source: FaultySource) -> Pipeline {
    start(
        clock,
        source,
        Box::new(FakeProcessor::new(Duration::from_millis(2))),
    )
}

/// Shuts the pipeline down, lets `ui` take the last result, then checks the counters.
fn finish(ui: &mut Ui, pipeline: &mut Pipeline, tally: &Mutex<Tally>) -> PipelineStats {
    let report = pipeline.shutdown(Duration::from_secs(2));
    assert!(report.joined, "{report:?}");
    ui.poll(pipeline);
    let stats = pipeline.stats();
    let tally = tally.lock().expect("tally").clone();
    assert!(tally.ended, "the capture thread dropped its source");
    assert_accounting(&stats, &tally, ui.results.len() as u64);
    // Each result's image is the frame the source made for that sequence number.
    for result in &ui.results {
        let made = tally.sizes.get(result.seq as usize - 1).copied();
        assert_eq!(
            Some(result.image.dimensions()),
            made,
            "frame {}",
            result.seq
        );
    }
    assert!(
        ui.results.windows(2).all(|w| w[0].seq < w[1].seq),
        "results in capture order"
    );
    stats
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

/// The clock time between a read and the one before it.
fn gap_before(tally: &Mutex<Tally>, read: usize) -> Duration {
    let reads = &tally.lock().expect("tally").reads;
    reads[read] - reads[read - 1]
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
    let clock = Arc::new(ManualClock::new());
    let (source, tally) = FaultySource::new(&clock, 40.0, 9, move |call, _| {
        let (w, h) = sizes[call as usize % sizes.len()];
        Step::Frame(w, h)
    });
    let mut pipeline = Pipeline::start_on_clock(
        opener(source),
        Box::new(golden_detector()),
        DetectConfig::uniform(21, 0.0),
        no_waker(),
        None,
        clock.clone(),
    )
    .expect("threads start");
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |ui| {
        ui.results.len() >= 2 * 5 && ui.state.notice.is_some()
    });
    let stats = finish(&mut ui, &mut pipeline, &tally);

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
    let clock = Arc::new(ManualClock::new());
    let (open, stalled) = gate();
    let (source, tally) = FaultySource::new(&clock, 50.0, 1, move |call, _| {
        if call == 10 {
            Step::Stall(stalled.clone(), 64, 48)
        } else {
            Step::Frame(64, 48)
        }
    });
    let interval = source.interval;
    let mut pipeline = start_quick(&clock, source);
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |ui| {
        ui.results.last().is_some_and(|r| r.seq >= 10)
    });
    // The 11th read blocks.
    let until_read = clock
        .until_next_wake(PATIENCE)
        .expect("the capture thread waits");
    clock.advance(until_read);
    eventually("the stalled read", || {
        tally.lock().expect("tally").reads.len() == 11
    });
    // The stall: no frame, no error, the UI keeps showing the last frame and, after
    // two seconds, says that nothing comes.
    let stalled_at = ui.results.len();
    assert_eq!(ui.state.stall_note(clock.now()), None);
    clock.advance(Duration::from_millis(2300));
    std::thread::sleep(PATIENCE);
    ui.settle(&pipeline);
    assert_eq!(ui.results.len(), stalled_at, "nothing new while stalled");
    assert_eq!(pipeline.stats().captured, 10);
    assert!(ui.state.current.is_some());
    assert_eq!(ui.state.source.error, None, "a slow source is not an error");
    let note = ui
        .state
        .stall_note(clock.now())
        .expect("the stall is shown");
    assert!(note.contains("no new frame from faulty for 2 s"), "{note}");
    // Frames flow again, at the source's rate: no burst to catch up.
    drop(open);
    ui.run(&pipeline, |ui| {
        ui.results.last().is_some_and(|r| r.seq >= 20)
    });
    assert_eq!(ui.state.stall_note(clock.now()), None, "frames flow again");
    let stats = finish(&mut ui, &mut pipeline, &tally);
    assert!(ui.results.last().is_some_and(|r| r.seq >= 20), "{stats:?}");
    assert_eq!(stats.source_errors, 0);
    assert_eq!(stats.detect_errors, 0);
    let reads = tally.lock().expect("tally").reads.clone();
    let resumed = reads[11];
    for (i, read) in reads.iter().skip(11).enumerate() {
        assert!(
            *read >= resumed + interval * i as u32,
            "read {} came early after the stall: {reads:?}",
            i + 11
        );
    }
}

#[test]
fn a_stalled_source_does_not_hold_up_shutdown_or_leak_into_the_next_source() {
    // Source A blocks on its third read; meanwhile the app switches to B.
    let clock = Arc::new(ManualClock::new());
    let (open_a, a_stalled) = gate();
    let (a, a_tally) = FaultySource::new(&clock, 50.0, 1, move |call, _| {
        if call == 2 {
            Step::Stall(a_stalled.clone(), 32, 24)
        } else {
            Step::Frame(32, 24)
        }
    });
    let mut pipeline = start_quick(&clock, a);
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |_| {
        a_tally.lock().expect("tally").reads.len() == 3
    });
    let (b, b_tally) = FaultySource::new(&clock, 50.0, 2, |_, _| Step::Frame(40, 30));
    let switch = Instant::now();
    pipeline.switch_source(opener(b)).expect("switch");
    assert!(
        switch.elapsed() < Duration::from_millis(1300),
        "gave up on A"
    );
    ui.run(&pipeline, |ui| ui.results.len() >= 5);
    // A's read returns now, after B's frames: its frame must not follow them.
    drop(open_a);
    eventually("A's capture thread to end", || {
        a_tally.lock().expect("tally").ended
    });
    ui.run(&pipeline, |ui| ui.results.len() >= 10);
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
    assert_eq!(
        a_tally.lock().expect("tally").sizes.len(),
        3,
        "A made its frame"
    );

    // Shutting down while the source is stuck returns within the deadline.
    let (open_c, c_stalled) = gate();
    let (c, c_tally) = FaultySource::new(&clock, 50.0, 3, move |call, _| {
        if call == 1 {
            Step::Stall(c_stalled.clone(), 8, 8)
        } else {
            Step::Frame(8, 8)
        }
    });
    pipeline.switch_source(opener(c)).expect("switch");
    ui.run(&pipeline, |_| {
        c_tally.lock().expect("tally").reads.len() == 2
    });
    let report = pipeline.shutdown(Duration::from_millis(500));
    assert!(!report.joined, "the stuck capture thread is left behind");
    assert!(report.elapsed < Duration::from_millis(800), "{report:?}");
    let made: usize = [&a_tally, &b_tally, &c_tally]
        .iter()
        .map(|tally| tally.lock().expect("tally").sizes.len())
        .sum();
    assert_eq!(
        pipeline.stats().captured,
        made as u64 - 1,
        "every frame but A's late one captured"
    );
    drop(open_c);
    eventually("C's capture thread to end", || {
        c_tally.lock().expect("tally").ended
    });
}

#[test]
fn a_source_that_errors_every_third_frame_keeps_going() {
    let clock = Arc::new(ManualClock::new());
    let (source, tally) = FaultySource::new(&clock, 100.0, 1, |call, _| {
        if call % 3 == 2 {
            Step::Error
        } else {
            Step::Frame(48, 36)
        }
    });
    let mut pipeline = start_quick(&clock, source);
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |ui| ui.count(recovered) >= 4);
    let stats = finish(&mut ui, &mut pipeline, &tally);

    assert!(stats.source_errors >= 4, "{stats:?}");
    let failures = ui.failures();
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
    // Each failed read (2, 5, 8, ...) is followed by the first backoff.
    for failed in (2..).step_by(3).take(4) {
        assert_eq!(
            gap_before(&tally, failed + 1),
            backoff(1),
            "after read {failed}"
        );
    }
    // The last thing that happened decides the banner: a frame clears it.
    let last_was_frame = !matches!(ui.events.last(), Some(PipelineEvent::SourceFailed { .. }));
    assert_eq!(ui.state.source.error.is_none(), last_was_frame);
}

#[test]
fn a_source_that_disappears_and_comes_back_is_picked_up_again() {
    // Frames for 0.3 s, gone for 1.2 s (unplugged), then back.
    let clock = Arc::new(ManualClock::new());
    let (source, tally) = FaultySource::new(&clock, 50.0, 1, |_, elapsed| {
        if elapsed > Duration::from_millis(300) && elapsed < Duration::from_millis(1500) {
            Step::Error
        } else {
            Step::Frame(64, 48)
        }
    });
    let mut pipeline = start_quick(&clock, source);
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |ui| {
        ui.count(recovered) > 0 && ui.results.len() >= 20
    });
    let stats = finish(&mut ui, &mut pipeline, &tally);

    assert!(
        !ui.banners.is_empty(),
        "the user saw that the camera was gone"
    );
    // Reads every 20 ms until 0.3 s; the first failure at 0.32 s, the next after 250
    // and 500 ms (still gone), and after 1 s more the camera is back.
    assert_eq!(ui.failures(), vec![1, 2, 3], "failures counted in a row");
    assert_eq!(stats.source_errors, 3);
    let first_failure = tally
        .lock()
        .expect("tally")
        .reads
        .iter()
        .position(|&t| t > Duration::from_millis(300))
        .expect("a failed read");
    let waits: Vec<Duration> = (1..=3)
        .map(|n| gap_before(&tally, first_failure + n))
        .collect();
    let first = backoff(1);
    assert_eq!(waits, vec![first, first * 2, first * 4], "the waits double");
    assert_eq!(ui.count(recovered), 1);
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
    let clock = Arc::new(ManualClock::new());
    let (source, tally) = FaultySource::new(&clock, 100.0, 1, |call, _| {
        if call % 5 == 4 {
            Step::Panic
        } else {
            Step::Frame(32, 24)
        }
    });
    let processor = Box::new(FakeProcessor::panicking_every(Duration::from_millis(2), 4));
    let mut pipeline = start(&clock, source, processor);
    let mut ui = Ui::new(&clock);
    ui.run(&pipeline, |ui| ui.results.len() >= 12);
    let stats = finish(&mut ui, &mut pipeline, &tally);
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
    let result = |seq| blank_result(seq, RgbImage::new(4, 4), t0);
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
