//! The capture -> worker -> UI threads: every delivered frame gets its detections and
//! tracks, the detection log names each box's track (an object keeps its ID from frame
//! to frame), the tracks start afresh at a new source, scene or frame size, a slow
//! worker makes frames drop (never queue), shutdown is quick, and source failures reach
//! the app's state. Fast: a few seconds in all, no display.
//!
//! Where only the order of things matters, the pipeline runs on a [`ManualClock`]
//! that the test steps (see `common::ui_loop`); the drop, shutdown and demo tests
//! are about real time and run on it.

mod common;

use common::app::{FakeProcessor, three_class_state};
use common::golden_weights;
use common::ui_loop::{Ui, recovered};
use image::{Rgb, RgbImage};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detector};
use tinyssd::files::RunInputs;
use tinyssd::model::Corners;
use tinyssd::pipeline::{
    Clock, DemoSource, DetectionLog, FrameProcessor, FrameResult, FrameSource, ManualClock,
    Pipeline, PipelineEvent, SourceControl, SourceError, SourceOpener, SourceSpec, Waker,
    interval_for_fps, is_exact_rgb, opener,
};
use tinyssd::track::TrackerConfig;

/// Frames of a given size at a fixed rate, each a different shade.
struct SyntheticSource {
    fps: f32,
    size: (u32, u32),
    produced: u8,
}

impl SyntheticSource {
    fn new(fps: f32, size: (u32, u32)) -> SyntheticSource {
        SyntheticSource {
            fps,
            size,
            produced: 0,
        }
    }
}

impl FrameSource for SyntheticSource {
    fn name(&self) -> String {
        "synthetic".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        self.produced = self.produced.wrapping_add(1);
        let shade = self.produced;
        Ok(RgbImage::from_fn(self.size.0, self.size.1, |x, y| {
            Rgb([shade, (x % 256) as u8, (y % 256) as u8])
        }))
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(interval_for_fps(self.fps))
    }
}

fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    (
        Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }),
        wakes,
    )
}

/// A pipeline on a fresh [`ManualClock`], and the UI that steps it.
fn start_stepped(
    source: SourceOpener,
    processor: Box<dyn FrameProcessor>,
    config: DetectConfig,
    wake: Waker,
    log: Option<DetectionLog>,
) -> (Pipeline, Ui) {
    let clock = Arc::new(ManualClock::new());
    let pipeline = Pipeline::start_on_clock(source, processor, config, wake, log, clock.clone())
        .expect("threads start");
    (pipeline, Ui::new(&clock))
}

/// Takes results as a UI would (never blocking) for `how_long`.
fn collect(pipeline: &Pipeline, how_long: Duration) -> Vec<FrameResult> {
    let start = Instant::now();
    let mut results = Vec::new();
    while start.elapsed() < how_long {
        results.extend(pipeline.try_recv());
        std::thread::sleep(Duration::from_millis(1));
    }
    results
}

#[test]
fn detections_arrive_for_every_delivered_frame() {
    let detector = Detector::from_file(&golden_weights(), 1).expect("golden weights load");
    let config = DetectConfig::uniform(detector.class_names().len(), 0.5);
    let (wake, wakes) = counting_waker();
    // Each frame is detected before the clock lets the source give the next.
    let (mut pipeline, mut ui) = start_stepped(
        opener(SyntheticSource::new(5.0, (160, 120))),
        Box::new(detector),
        config,
        wake,
        None,
    );
    ui.run(&pipeline, |ui| ui.results.len() >= 6);
    let results = ui.results;
    let report = pipeline.shutdown(Duration::from_secs(1));
    assert!(report.joined);
    let stats = pipeline.stats();

    assert!(results.len() >= 6, "only {} results", results.len());
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.stale_results, 0, "{stats:?}");
    // Every captured frame was detected (the last one may have been on its way).
    assert!(stats.processed + 1 >= stats.captured, "{stats:?}");
    assert_eq!(results.len() as u64, stats.processed, "{stats:?}");
    let seqs: Vec<u64> = results.iter().map(|r| r.seq).collect();
    let expected: Vec<u64> = (1..=results.len() as u64).collect();
    assert_eq!(seqs, expected, "each frame once, in order");
    for result in &results {
        assert_eq!(result.image.dimensions(), (160, 120));
        assert!(result.timings.network > Duration::ZERO);
        assert!(result.detected_at >= result.captured_at);
        // Every box down to the tracker's floor, so that the sliders act at once.
        for d in &result.detections {
            assert!(d.score >= TrackerConfig::DEFAULT_MIN_SCORE && d.class_id > 0);
        }
    }
    assert!(
        wakes.load(Ordering::Relaxed) >= results.len(),
        "the UI is woken"
    );
}

#[test]
fn the_detection_log_has_a_line_per_processed_frame_after_what_was_there() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.jsonl");
    // An earlier run's log, its last line cut (that run was killed mid-write).
    let earlier = "{\"seq\":7,\"time\":1.8e9,\"source\":\"earlier\",\"detections\":[]}";
    std::fs::write(&path, format!("{earlier}\n{{\"seq\":8,\"ti")).expect("written");
    let log = DetectionLog::open(&path, &RunInputs::NONE).expect("opens");
    let (mut pipeline, mut ui) = start_stepped(
        opener(SyntheticSource::new(40.0, (64, 48))),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        Arc::new(|| {}),
        Some(log),
    );
    ui.run(&pipeline, |ui| ui.results.len() >= 10);
    let results = ui.results;
    assert!(pipeline.shutdown(Duration::from_secs(1)).joined);
    let processed = pipeline.stats().processed;
    assert!(!results.is_empty() && processed >= results.len() as u64);

    let text = std::fs::read_to_string(&path).expect("the log");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(earlier), "kept");
    assert_eq!(
        lines.next(),
        Some("{\"seq\":8,\"ti"),
        "the cut line is left alone"
    );
    let records: Vec<serde_json::Value> = lines
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(
        records.len() as u64,
        processed,
        "one line per processed frame"
    );
    let mut last_seq = 0;
    for record in &records {
        let seq = record["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "in order");
        last_seq = seq;
        assert_eq!(record["source"], "synthetic");
        assert!(record["time"].as_f64().expect("time") > 1.7e9);
        let detection = &record["detections"][0];
        assert_eq!(detection["class"], "aeroplane");
        assert_eq!(detection["score"], 0.9);
        assert_eq!(detection["box"], serde_json::json!([0.0, 0.0, 32.0, 24.0]));
        assert_eq!(detection["track"], 1, "one aeroplane, one track all along");
    }

    let error = DetectionLog::open(dir.path(), &RunInputs::NONE).expect_err("a folder is refused");
    assert!(error.to_string().contains("not a regular file"), "{error}");
}

/// A box of the log: class, score, box and track.
#[derive(Debug, Clone, serde::Deserialize)]
struct LoggedBox {
    class: String,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    track: Option<u64>,
}

impl LoggedBox {
    fn corners(&self) -> Corners {
        let [x_min, y_min, x_max, y_max] = self.bbox;
        Corners::new(x_min, y_min, x_max, y_max)
    }
}

#[test]
fn the_log_names_each_boxs_track_and_an_object_keeps_its_id_over_the_demos_frames() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("demo.jsonl");
    let log = DetectionLog::open(&path, &RunInputs::NONE).expect("opens");
    let detector =
        Detector::from_file(&tinyssd::model::shipped_model_path(), 2).expect("the shipped model");
    let config = detector.default_config();
    let names = detector.class_names().to_vec();
    let threshold = |class: &str| {
        let id = names.iter().position(|n| n == class).expect("a class");
        config.thresholds[id]
    };
    // The demo as the app plays it: the astronaut photo panned and zoomed, frame by frame.
    let (mut pipeline, mut ui) = start_stepped(
        opener(DemoSource::new(30.0).expect("the demo's photos")),
        Box::new(detector),
        config.clone(),
        Arc::new(|| {}),
        Some(log),
    );
    ui.run(&pipeline, |ui| ui.results.len() >= 12);
    assert!(pipeline.shutdown(Duration::from_secs(5)).joined);
    let processed = pipeline.stats().processed;

    let text = std::fs::read_to_string(&path).expect("the log");
    let frames: Vec<(u64, Vec<LoggedBox>)> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("JSON");
            let boxes = record["detections"]
                .as_array()
                .expect("detections")
                .iter()
                .map(|d| {
                    assert!(d.get("track").is_some(), "every box says its track: {d}");
                    serde_json::from_value(d.clone()).expect("class, score, box, track")
                })
                .collect();
            (record["seq"].as_u64().expect("seq"), boxes)
        })
        .collect();
    assert_eq!(frames.len() as u64, processed, "a line per frame");
    assert!(frames.len() >= 12);

    for (seq, boxes) in &frames {
        // A box over its class's bar for new tracks continues a track or begins one (the
        // log rounds scores to 0.001).
        let begins = |b: &&LoggedBox| {
            b.score >= TrackerConfig::default().new_track_bar(threshold(&b.class)) + 0.001
        };
        for b in boxes.iter().filter(begins) {
            assert!(b.track.is_some(), "frame {seq}: {b:?}");
        }
        // The IDs are those of the tracks the frame's result carried to the window.
        let result = ui.results.iter().find(|r| r.seq == *seq).expect("shown");
        let live: Vec<u64> = result.tracks.tracks().iter().map(|t| t.id).collect();
        for id in boxes.iter().filter_map(|b| b.track) {
            assert!(
                live.contains(&id),
                "frame {seq}: track {id} not in {live:?}"
            );
        }
    }
    // The astronaut, the best box of every frame, is one track from the first frame on.
    let astronaut: Vec<(String, Option<u64>)> = frames
        .iter()
        .map(|(_, boxes)| {
            let best = boxes
                .iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .expect("the astronaut is found");
            (best.class.clone(), best.track)
        })
        .collect();
    assert!(
        astronaut
            .iter()
            .all(|found| *found == ("person".to_string(), astronaut[0].1)),
        "{astronaut:?}"
    );
    // And so is any box that lies on a confident box of its class of the frame before.
    for (before, (seq, after)) in frames.iter().zip(&frames[1..]) {
        let before = &before.1;
        for b in after.iter().filter(|b| b.score >= threshold(&b.class)) {
            let same_object = before.iter().find(|a| {
                a.class == b.class
                    && a.score >= threshold(&a.class)
                    && a.corners().iou(&b.corners()) >= 0.7
            });
            if let Some(a) = same_object {
                assert_eq!(a.track, b.track, "frame {seq}: {a:?} then {b:?}");
            }
        }
    }
}

/// The same frame size for `first` frames, then another.
struct ResizingSource {
    frames: u32,
    first: u32,
}

impl FrameSource for ResizingSource {
    fn name(&self) -> String {
        "resizing".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        self.frames += 1;
        let width = if self.frames <= self.first { 64 } else { 80 };
        Ok(RgbImage::new(width, 48))
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(interval_for_fps(40.0))
    }
}

#[test]
fn the_worker_starts_its_tracks_afresh_at_a_new_scene_source_or_frame_size() {
    // The fake finds one aeroplane at the same place in every frame.
    let (mut pipeline, mut ui) = start_stepped(
        opener(ResizingSource {
            frames: 0,
            first: 3,
        }),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        Arc::new(|| {}),
        None,
    );
    let track_ids = |ui: &Ui| -> Vec<Vec<u64>> {
        ui.results
            .iter()
            .map(|r| r.tracks.shown().map(|t| t.id).collect())
            .collect()
    };
    ui.run(&pipeline, |ui| ui.results.len() >= 5);
    assert_eq!(
        track_ids(&ui)[..5],
        [[1], [1], [1], [2], [2]],
        "another frame size: another object"
    );
    // A step to another photo.
    pipeline.new_scene();
    ui.run(&pipeline, |ui| ui.results.len() >= 7);
    assert_eq!(track_ids(&ui)[5..7], [[3], [3]], "a new scene");
    // Another source, even of the same name.
    let count = ui.results.len();
    pipeline
        .switch_source(opener(ResizingSource {
            frames: 10,
            first: 0,
        }))
        .expect("switches");
    ui.run(&pipeline, |ui| ui.results.len() >= count + 2);
    let after = track_ids(&ui);
    assert_eq!(after[after.len() - 2..], [[4], [4]], "a new source");
    assert!(pipeline.shutdown(Duration::from_secs(1)).joined);
}

/// Every other frame in a page-padded buffer (longer than its pixels), as v4l gives.
struct PaddedSource {
    calls: u32,
}

impl FrameSource for PaddedSource {
    fn name(&self) -> String {
        "padded".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        self.calls += 1;
        let padding = if self.calls.is_multiple_of(2) {
            4096
        } else {
            0
        };
        RgbImage::from_raw(64, 48, vec![90; 64 * 48 * 3 + padding])
            .ok_or_else(|| SourceError::Other("too small".into()))
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(20))
    }
}

#[test]
fn frames_longer_than_their_pixels_are_dropped_before_the_worker() {
    let (mut pipeline, mut ui) = start_stepped(
        opener(PaddedSource { calls: 0 }),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        Arc::new(|| {}),
        None,
    );
    ui.run(&pipeline, |ui| {
        ui.results.len() >= 4 && ui.failures().len() >= 2
    });
    let (results, events) = (ui.results, ui.events);
    pipeline.shutdown(Duration::from_secs(1));
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| is_exact_rgb(&r.image)));
    let stats = pipeline.stats();
    assert!(stats.source_errors >= 1, "{stats:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::SourceFailed { message, .. }
            if message.contains("64 x 48 frame came with 13312 bytes, not 9216"))),
        "{events:?}"
    );
}

#[test]
fn frames_are_dropped_not_queued_when_the_worker_is_slower() {
    let delay = Duration::from_millis(40);
    let (wake, _) = counting_waker();
    let mut pipeline = Pipeline::start(
        opener(SyntheticSource::new(200.0, (64, 48))),
        Box::new(FakeProcessor::new(delay)),
        DetectConfig::uniform(21, 0.5),
        wake,
    )
    .expect("threads start");
    let results = collect(&pipeline, Duration::from_millis(1000));
    pipeline.shutdown(Duration::from_secs(1));
    let stats = pipeline.stats();

    assert!(stats.captured > 60, "the source ran fast: {stats:?}");
    assert!(stats.processed <= 27, "the worker is slow: {stats:?}");
    assert!(stats.dropped > stats.captured / 2, "{stats:?}");
    // Accounting: each frame was either detected, dropped, or the last one waiting.
    assert!(
        stats.captured - stats.processed - stats.dropped <= 2,
        "{stats:?}"
    );
    // Nothing queued: a frame waits at most for the one in progress.
    for result in &results {
        let age = result.detected_at - result.captured_at;
        assert!(age < delay * 3, "frame {} waited {age:?}", result.seq);
    }
    assert!(
        results.windows(2).any(|w| w[1].seq > w[0].seq + 1),
        "skipped frames show as gaps in the sequence"
    );
}

/// A camera-like source that blocks in `next_frame`.
struct BlockingSource;

impl FrameSource for BlockingSource {
    fn name(&self) -> String {
        "blocking".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        std::thread::sleep(Duration::from_millis(100));
        Ok(RgbImage::new(32, 24))
    }
}

#[test]
fn shutdown_completes_within_a_second() {
    for paused in [false, true] {
        let (wake, _) = counting_waker();
        let mut pipeline = Pipeline::start(
            opener(BlockingSource),
            Box::new(FakeProcessor::new(Duration::from_millis(150))),
            DetectConfig::uniform(21, 0.5),
            wake,
        )
        .expect("threads start");
        pipeline.set_paused(paused);
        // Both threads mid-work (or the capture thread paused).
        std::thread::sleep(Duration::from_millis(200));
        let report = pipeline.shutdown(Duration::from_secs(1));
        assert!(report.joined, "paused {paused}: {report:?}");
        assert!(report.elapsed < Duration::from_secs(1), "{report:?}");
    }
    // Dropping the pipeline shuts it down too.
    let (wake, _) = counting_waker();
    let pipeline = Pipeline::start(
        opener(SyntheticSource::new(30.0, (32, 24))),
        Box::new(FakeProcessor::new(Duration::from_millis(100))),
        DetectConfig::uniform(21, 0.5),
        wake,
    )
    .expect("threads start");
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    drop(pipeline);
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Gives two frames, fails twice ("unplugged"), then works again.
struct FlakySource {
    calls: u32,
}

impl FrameSource for FlakySource {
    fn name(&self) -> String {
        "flaky camera".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        self.calls += 1;
        match self.calls {
            3 | 4 => Err(SourceError::Camera {
                camera: "0".into(),
                message: "the camera was unplugged".into(),
            }),
            _ => Ok(RgbImage::new(32, 24)),
        }
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(20))
    }
}

#[test]
fn a_source_error_reaches_the_ui_state_and_clears_on_recovery() {
    let (wake, _) = counting_waker();
    let (mut pipeline, mut ui) = start_stepped(
        opener(FlakySource { calls: 0 }),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        wake,
        None,
    );
    // Failures back off 250 ms then 500 ms (on the clock); recovery follows.
    ui.run(&pipeline, |ui| ui.count(recovered) > 0);
    pipeline.shutdown(Duration::from_secs(1));
    let events = ui.events;

    assert!(
        matches!(&events[0], PipelineEvent::SourceOpened { source, .. } if source == "flaky camera")
    );
    let failures: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::SourceFailed { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    assert_eq!(failures, vec![1, 2], "{events:?}");
    assert!(
        ui.banners.iter().any(|b| b.contains("unplugged")),
        "{:?}",
        ui.banners
    );
    // The events alone take the banner down, without a frame clearing it.
    let mut state = three_class_state();
    events.into_iter().for_each(|e| state.on_event(e));
    assert_eq!(state.source.error, None, "the banner goes once frames flow");
    assert_eq!(pipeline.stats().source_errors, 2);
}

#[test]
fn a_source_that_cannot_open_is_reported_not_fatal() {
    let (wake, _) = counting_waker();
    let mut pipeline = Pipeline::start(
        Box::new(|| Err(SourceError::NoCamera)),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        wake,
    )
    .expect("threads start");
    let mut state = three_class_state();
    let start = Instant::now();
    while state.source.error.is_none() && start.elapsed() < Duration::from_secs(1) {
        pipeline
            .events()
            .into_iter()
            .for_each(|e| state.on_event(e));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        state
            .source
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no camera")),
        "{:?}",
        state.source.error
    );
    assert!(pipeline.shutdown(Duration::from_secs(1)).joined);
}

#[test]
fn a_missing_camera_is_retried_without_panicking() {
    // This machine has no camera: opening camera 0 fails, is reported and retried.
    let (wake, _) = counting_waker();
    let spec: SourceSpec = "camera:0".parse().expect("valid spec");
    let (mut pipeline, mut ui) = start_stepped(
        spec.opener(None),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        wake,
        None,
    );
    ui.run(&pipeline, |ui| {
        ui.failures().len() >= 2 || !ui.results.is_empty()
    });
    let events = ui.events;
    let stats = pipeline.stats();
    assert!(pipeline.shutdown(Duration::from_secs(1)).joined);
    if stats.captured == 0 {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, PipelineEvent::SourceFailed { .. })),
            "{events:?}"
        );
        assert!(stats.source_errors >= 2, "retried: {stats:?}");
    }
}

#[test]
fn the_demo_source_runs_through_the_real_detector() {
    let detector = Detector::from_file(&golden_weights(), 0).expect("golden weights load");
    let config = DetectConfig::uniform(detector.class_names().len(), 0.5);
    let (wake, _) = counting_waker();
    let spec: SourceSpec = "demo".parse().expect("valid spec");
    let mut pipeline =
        Pipeline::start(spec.opener(None), Box::new(detector), config, wake).expect("start");
    let window = Duration::from_secs(1);
    let results = collect(&pipeline, window);
    pipeline.shutdown(Duration::from_secs(1));
    let stats = pipeline.stats();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r.image.dimensions() == (640, 480)));
    // What a user would see, printed with --nocapture: rates and capture-to-result time.
    let latency: Vec<f32> = results
        .iter()
        .map(|r| (r.detected_at - r.captured_at).as_secs_f32() * 1000.0)
        .collect();
    let mean = latency.iter().sum::<f32>() / latency.len() as f32;
    println!(
        "demo 640x480, {window:?}: captured {} ({:.1} fps), detected {} ({:.1} fps), \
         dropped {}, capture-to-result {mean:.1} ms mean",
        stats.captured,
        stats.captured as f32 / window.as_secs_f32(),
        stats.processed,
        stats.processed as f32 / window.as_secs_f32(),
        stats.dropped
    );
}

#[test]
fn a_folder_of_images_loops_and_a_bad_file_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, shade) in [("a.png", 10u8), ("b.jpg", 200)] {
        RgbImage::from_pixel(40, 30, Rgb([shade, shade, shade]))
            .save(dir.path().join(name))
            .expect("write image");
    }
    std::fs::write(dir.path().join("c.png"), b"not a png").expect("write");
    std::fs::write(dir.path().join("notes.txt"), b"ignored").expect("write");
    let spec: SourceSpec = format!("images:{}", dir.path().display())
        .parse()
        .expect("valid spec");
    spec.check().expect("the folder has images");
    let (wake, _) = counting_waker();
    let (mut pipeline, mut ui) = start_stepped(
        spec.opener(Some(50.0)),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(21, 0.5),
        wake,
        None,
    );
    // a.png, b.jpg, c.png fails (and is skipped from then on), a.png, b.jpg.
    ui.run(&pipeline, |ui| {
        ui.results.len() >= 4 && !ui.failures().is_empty()
    });
    pipeline.shutdown(Duration::from_secs(1));
    let results = ui.results;
    let shades: Vec<u8> = results.iter().map(|r| r.image.get_pixel(0, 0)[0]).collect();
    assert!(
        shades.contains(&10) && shades.iter().any(|&s| s > 150),
        "{shades:?}"
    );
    assert!(pipeline.stats().source_errors >= 1, "c.png is not an image");

    let empty = tempfile::tempdir().expect("temp dir");
    let spec: SourceSpec = format!("images:{}", empty.path().display())
        .parse()
        .expect("valid spec");
    assert!(matches!(spec.check(), Err(SourceError::NoImages(_))));
}

#[test]
fn stepping_through_a_folder_shows_the_next_and_previous_images_and_wraps_around() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shades = [("a.png", 10u8), ("b.png", 120), ("c.png", 230)];
    for (name, shade) in shades {
        RgbImage::from_pixel(40, 30, Rgb([shade, shade, shade]))
            .save(dir.path().join(name))
            .expect("write image");
    }
    let spec = SourceSpec::Images(vec![dir.path().to_path_buf()]);
    let (opener, control) = spec.opener_with_control(Some(10.0));
    let Some(SourceControl::Images(cursor)) = control else {
        panic!("an image folder is stepped with a cursor: {control:?}");
    };
    let (wake, _) = counting_waker();
    let (mut pipeline, mut ui) = start_stepped(
        opener,
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        wake,
        None,
    );
    let shade_shown = |ui: &Ui| ui.results.last().map(|r| r.image.get_pixel(0, 0)[0]);
    let file_shown = || {
        cursor
            .shown()
            .map(|(index, file)| (index, file.to_path_buf()))
    };
    let expect = |ui: &Ui, index: usize, when: &str| {
        let (name, shade) = shades[index];
        assert_eq!(shade_shown(ui), Some(shade), "{when}: the picture");
        assert_eq!(
            file_shown(),
            Some((index, dir.path().join(name))),
            "{when}: the position"
        );
    };
    ui.run(&pipeline, |ui| !ui.results.is_empty());
    pipeline.set_paused(true);
    expect(&ui, 0, "at the start");
    assert_eq!(cursor.count(), 3);
    // Paused, each step reads one image: on, on, on around to the first, back around
    // to the last, back.
    for (steps, index) in [(1, 1), (1, 2), (1, 0), (-1, 2), (-1, 1)] {
        let shown = ui.results.len();
        cursor.step(steps);
        ui.run(&pipeline, |ui| ui.results.len() > shown);
        expect(&ui, index, &format!("after a step of {steps}"));
    }
    // Steps asked for before the source reads add up.
    let shown = ui.results.len();
    cursor.step(1);
    cursor.step(1);
    ui.run(&pipeline, |ui| ui.results.len() > shown);
    expect(&ui, 0, "after two steps at once");
    ui.clock.advance(Duration::from_secs(1));
    ui.settle(&pipeline);
    assert_eq!(ui.results.len(), shown + 1, "paused, nothing else is read");
    // Playing, the loop goes on from the image stepped to.
    pipeline.set_paused(false);
    ui.run(&pipeline, |ui| ui.results.len() >= shown + 3);
    let played: Vec<Option<u8>> = ui.results[shown..shown + 3]
        .iter()
        .map(|r| Some(r.image.get_pixel(0, 0)[0]))
        .collect();
    assert_eq!(played, vec![Some(10), Some(120), Some(230)]);
    pipeline.shutdown(Duration::from_secs(1));
}

/// Frames with no pixels, which the detector refuses.
struct EmptyFrames;

impl FrameSource for EmptyFrames {
    fn name(&self) -> String {
        "empty".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        Ok(RgbImage::new(0, 0))
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(10))
    }
}

#[test]
fn detector_errors_are_reported_once_a_second_not_per_frame() {
    let detector = Detector::from_file(&golden_weights(), 1).expect("golden weights load");
    let (wake, _) = counting_waker();
    let (mut pipeline, mut ui) = start_stepped(
        opener(EmptyFrames),
        Box::new(detector),
        DetectConfig::uniform(21, 0.5),
        wake,
        None,
    );
    let detect_failed = |e: &PipelineEvent| matches!(e, PipelineEvent::DetectFailed { .. });
    let start = ui.clock.now();
    // Half a second of frames, every one refused: said once.
    ui.run(&pipeline, |_| pipeline.stats().detect_errors >= 50);
    assert_eq!(ui.count(detect_failed), 1, "{:?}", ui.events);
    assert!(pipeline.stats().detect_errors > 10);
    // Said again once a second has passed.
    ui.run(&pipeline, |ui| ui.count(detect_failed) >= 2);
    let again = ui.clock.now() - start;
    assert!(
        again >= Duration::from_secs(1) && again <= Duration::from_millis(1020),
        "{again:?}"
    );
    pipeline.shutdown(Duration::from_secs(1));
    let mut state = three_class_state();
    ui.events.into_iter().for_each(|e| state.on_event(e));
    let notice = state.notice.expect("a message");
    assert!(
        notice.is_error && notice.text.contains("empty"),
        "{}",
        notice.text
    );
}
