//! The app's window and state, headless (egui_kittest without rendering): sliders and
//! checkboxes filter the boxes of the next frame, profiles round-trip, a damaged profile
//! gives a message and changes nothing, damaged settings give the defaults; the sliders
//! show the shipped model's thresholds and the app keeps the boxes `detect` prints; boxes
//! are the worker's tracks, shown at the sliders, that hold through a hovering score (T
//! shows the raw, blinking boxes), with counts in view and seen since a reset, taken off
//! the screen on a new source.

mod common;

use common::app::Dropped;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::RgbImage;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detection, ThresholdProfile, Timings};
use tinyssd::model::Corners;
use tinyssd::pipeline::{CameraEntry, FrameResult, PipelineEvent};
use tinyssd::track::{Tracker, TrackerConfig};
use tinyssd::ui::{
    App, AppState, Command, NEAR_MISS_BAND, ProfileSaved, SCORE_WINDOW, SettingsStore, bin_of,
};

const CAT: usize = 8;
const DOG: usize = 12;
const PERSON: usize = 15;

fn names() -> Vec<String> {
    tinyssd::model::Architecture::tiny_ssd().class_names.clone()
}

fn state_with(store: SettingsStore) -> AppState {
    AppState::new(names(), DetectConfig::uniform(21, 0.5), store)
}

fn detection(class_id: usize, score: f32, x: f32) -> Detection {
    Detection {
        class_id,
        label: names()[class_id].as_str().into(),
        score,
        bbox: Corners {
            x_min: x,
            y_min: 20.0,
            x_max: x + 50.0,
            y_max: 90.0,
        },
    }
}

/// The default thresholds of [`state_with`], as its worker has them.
const AT_DEFAULTS: [f32; 21] = [0.5; 21];

/// What the pipeline's worker does with each frame: its detections into the tracker, at
/// the thresholds the worker was sent.
struct Worker(Tracker);

impl Worker {
    /// The default tracker, except that any box passing its threshold begins a track (no
    /// new-track margin): the scripted scores below sit just over their thresholds, and
    /// these tests are about the window, not about which boxes begin tracks.
    fn new() -> Worker {
        Worker(Tracker::new(TrackerConfig {
            new_track_odds: 1.0,
            ..TrackerConfig::default()
        }))
    }

    /// A frame holding only `detections`, with the tracks after it.
    fn frame(&mut self, seq: u64, detections: Vec<Detection>, thresholds: &[f32]) -> FrameResult {
        self.0.update(&detections, thresholds);
        FrameResult {
            detections,
            tracks: self.0.snapshot().clone(),
            ..blank_frame(seq)
        }
    }
}

/// A frame with two people (0.6, 0.8), a cat (0.55) and a dog below the default (0.3),
/// as the first frame of a worker at the default thresholds.
fn frame(seq: u64) -> FrameResult {
    frame_of(
        seq,
        vec![
            detection(PERSON, 0.8, 10.0),
            detection(PERSON, 0.6, 70.0),
            detection(CAT, 0.55, 130.0),
            detection(DOG, 0.3, 190.0),
        ],
    )
}

/// A frame holding only `detections`, as the first frame of a worker at the defaults.
fn frame_of(seq: u64, detections: Vec<Detection>) -> FrameResult {
    Worker::new().frame(seq, detections, &AT_DEFAULTS)
}

/// A frame with nothing found.
fn blank_frame(seq: u64) -> FrameResult {
    let image = RgbImage::from_pixel(320, 240, image::Rgb([40, 80, 120]));
    FrameResult {
        timings: Timings {
            preprocess: Duration::from_millis(2),
            network: Duration::from_millis(40),
            postprocess: Duration::from_millis(1),
        },
        ..common::app::blank_result(seq, image, Instant::now())
    }
}

fn visible(state: &AppState) -> Vec<(usize, f32)> {
    state
        .visible_detections()
        .map(|d| (d.class_id, d.score))
        .collect()
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1200.0, 900.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

#[test]
fn moving_a_class_slider_filters_that_class_in_the_next_frame() {
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_result(frame(1), Instant::now());
    let mut harness = harness(app);
    harness.step();
    assert_eq!(
        visible(harness.state().state()),
        vec![(PERSON, 0.8), (PERSON, 0.6), (CAT, 0.55)]
    );
    assert_eq!(
        harness.state().texture_seq(),
        Some(1),
        "the frame is on screen"
    );
    assert_eq!(harness.state().state().counts()[PERSON], 2);

    harness
        .get_by_label("person threshold")
        .set_value_accesskit(0.7);
    harness.step();
    assert!((harness.state().state().thresholds[PERSON] - 0.7).abs() < 1e-6);
    assert_eq!(
        visible(harness.state().state()),
        vec![(PERSON, 0.8), (CAT, 0.55)]
    );
    assert_eq!(harness.state().state().counts()[PERSON], 1);

    // The next frame from the worker is filtered the same way.
    harness
        .state_mut()
        .state_mut()
        .on_result(frame(2), Instant::now());
    harness.step();
    assert_eq!(harness.state().texture_seq(), Some(2), "texture updated");
    assert_eq!(
        visible(harness.state().state()),
        vec![(PERSON, 0.8), (CAT, 0.55)]
    );

    // The worker tracks at the sliders and detects down to the floor, so lowering a
    // slider acts at once.
    let worker = harness.state().state().worker_config();
    assert_eq!(worker.thresholds, harness.state().state().thresholds);
    let detected = TrackerConfig::default().detection_config(&worker);
    assert!(detected.thresholds[PERSON] <= tinyssd::ui::DETECT_FLOOR);
    harness
        .get_by_label("dog threshold")
        .set_value_accesskit(0.25);
    harness.step();
    assert!(visible(harness.state().state()).contains(&(DOG, 0.3)));
}

#[test]
fn the_all_classes_slider_moves_every_class() {
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_result(frame(1), Instant::now());
    let mut harness = harness(app);
    harness.step();
    harness
        .get_by_label("all classes threshold")
        .set_value_accesskit(0.58);
    harness.step();
    let state = harness.state().state();
    assert!(
        state.thresholds[1..]
            .iter()
            .all(|t| (t - 0.58).abs() < 1e-6)
    );
    assert_eq!(
        visible(harness.state().state()),
        vec![(PERSON, 0.8), (PERSON, 0.6)]
    );
}

#[test]
fn hiding_a_class_removes_its_boxes() {
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_result(frame(1), Instant::now());
    let mut harness = harness(app);
    harness.step();
    harness.get_by_label("person").click();
    harness.step();
    assert!(!harness.state().state().shown[PERSON]);
    assert_eq!(visible(harness.state().state()), vec![(CAT, 0.55)]);
    harness.get_by_label("person").click();
    harness.step();
    assert_eq!(visible(harness.state().state()).len(), 3);
}

#[test]
fn one_class_per_object_shows_and_counts_only_the_best_class_on_an_object() {
    const COW: usize = 10;
    const HORSE: usize = 13;
    let mut state = state_with(SettingsStore::none());
    state.thresholds[COW] = 0.3;
    // A horse 0.61 and a cow 0.42 on one animal (IoU 48 / 52 = 0.92), off the others.
    let animal = vec![detection(HORSE, 0.61, 250.0), detection(COW, 0.42, 252.0)];
    let result = Worker::new().frame(1, animal, &state.thresholds);
    state.on_result(result, Instant::now());
    assert!(!state.one_class_per_object, "off by default");
    assert_eq!(visible(&state), vec![(HORSE, 0.61), (COW, 0.42)]);

    let mut harness = harness(App::headless(state));
    harness.step();
    harness.get_by_label("One class per object").click();
    harness.step();
    let state = harness.state().state();
    assert!(state.one_class_per_object);
    assert_eq!(visible(state), vec![(HORSE, 0.61)]);
    assert_eq!((state.counts()[HORSE], state.counts()[COW]), (1, 0));
    assert_eq!(state.config().cross_class_iou, Some(0.85));
    assert_eq!(
        state.worker_config().cross_class_iou,
        None,
        "the worker reports every class; the sliders decide what takes part"
    );

    let state = harness.state_mut().state_mut();
    // Under its slider, the horse suppresses nothing.
    state.thresholds[HORSE] = 0.7;
    assert_eq!(visible(state), vec![(COW, 0.42)]);
    state.thresholds[HORSE] = 0.5;
    // A hidden class suppresses nothing, and its boxes still count.
    state.shown[HORSE] = false;
    assert_eq!(visible(state), vec![(COW, 0.42)]);
    assert_eq!((state.counts()[HORSE], state.counts()[COW]), (1, 1));
    state.reset_to_defaults();
    assert!(!state.one_class_per_object, "Defaults turns it off again");
}

#[test]
fn keyboard_space_pauses_and_q_quits() {
    let mut harness = harness(App::headless(state_with(SettingsStore::none())));
    harness.step();
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(harness.state().state().paused);
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(!harness.state().state().paused);
    harness.key_press(egui::Key::S);
    harness.step();
    let notice = harness
        .state()
        .state()
        .notice
        .clone()
        .expect("S tried a snapshot");
    assert!(notice.text.contains("no frame"), "{}", notice.text);
    harness.key_press(egui::Key::Q);
    harness.step();
    assert!(harness.state().quit_requested(), "Q closes the window");
}

#[test]
fn the_camera_picker_names_the_camera_shown() {
    let mut state = state_with(SettingsStore::none());
    state.source.cameras = vec![
        CameraEntry {
            index: 0,
            name: "Integrated Webcam".into(),
        },
        CameraEntry {
            index: 2,
            name: "USB Cam".into(),
        },
    ];
    let mut harness = harness(App::headless(state));
    harness.step();
    assert!(
        harness.query_by_value("choose…").is_some(),
        "none shown yet"
    );
    harness.state_mut().state_mut().source.camera = Some(2);
    harness.step();
    assert!(harness.query_by_value("choose…").is_none());
    assert!(
        harness.query_by_value("2: USB Cam").is_some(),
        "the camera shown"
    );
}

#[test]
fn a_quit_signal_closes_the_app_as_quit_does() {
    let signal = Arc::new(AtomicBool::new(false));
    let app = App::headless(state_with(SettingsStore::none())).quit_on(Some(signal.clone()));
    let mut harness = harness(app);
    harness.step();
    assert!(!harness.state().quit_requested(), "no signal yet");
    signal.store(true, Ordering::Relaxed);
    harness.step();
    assert!(harness.state().quit_requested(), "Ctrl-C closes the window");
}

#[test]
fn tab_hides_the_panels_for_a_presentation_and_brings_them_back() {
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_result(frame(1), Instant::now());
    let mut harness = harness(app);
    harness.step();
    assert!(harness.query_by_label("person threshold").is_some());
    harness.key_press(egui::Key::Tab);
    harness.step();
    assert!(harness.state().state().presenting);
    assert!(
        harness.query_by_label("person threshold").is_none(),
        "the side panel is hidden"
    );
    assert!(
        harness.query_by_label("Snapshot").is_none(),
        "so is the top bar"
    );
    assert_eq!(visible(harness.state().state()).len(), 3, "the boxes stay");
    harness.key_press(egui::Key::Tab);
    harness.step();
    assert!(!harness.state().state().presenting);
    assert!(harness.query_by_label("person threshold").is_some());
}

#[test]
fn score_strips_count_the_candidates_of_the_last_seconds() {
    let mut state = state_with(SettingsStore::none());
    let start = Instant::now();
    for seq in 1..=3 {
        state.on_result(frame(seq), start + Duration::from_millis(100 * seq));
    }
    let now = start + Duration::from_millis(400);
    let person = state.scores.histogram(PERSON, now);
    assert_eq!(person[bin_of(0.8)], 3);
    assert_eq!(person[bin_of(0.6)], 3);
    assert_eq!(person.iter().sum::<u32>(), 6);
    let dog = state.scores.histogram(DOG, now);
    assert_eq!(dog[bin_of(0.3)], 3, "below its threshold, still counted");
    assert_eq!(state.scores.histogram(CAT, now).iter().sum::<u32>(), 3);
    // Older than the window: gone.
    let later = start + Duration::from_millis(300) + SCORE_WINDOW + Duration::from_millis(1);
    assert_eq!(state.scores.histogram(PERSON, later).iter().sum::<u32>(), 0);

    // The strips are drawn beside the sliders.
    let mut harness = harness(App::headless(state));
    harness.step();
    assert!(harness.query_by_label("person threshold").is_some());
}

#[test]
fn near_misses_are_the_boxes_just_below_their_threshold() {
    let mut state = state_with(SettingsStore::none());
    state.on_result(frame(1), Instant::now());
    let near = |state: &AppState| -> Vec<(usize, f32)> {
        state.near_misses().map(|d| (d.class_id, d.score)).collect()
    };
    // The dog (0.3) is 0.2 below 0.5: outside the band.
    assert_eq!(near(&state), vec![]);
    state.thresholds[DOG] = 0.4;
    assert_eq!(near(&state), vec![(DOG, 0.3)]);
    // The people pass 0.5; at 0.7 the 0.6 one is a near miss, the 0.8 one is shown.
    state.thresholds[PERSON] = 0.7;
    assert_eq!(near(&state), vec![(PERSON, 0.6), (DOG, 0.3)]);
    assert!(
        near(&state)
            .iter()
            .all(|(id, score)| *score < state.thresholds[*id]
                && *score >= state.thresholds[*id] - NEAR_MISS_BAND)
    );
    // A hidden class has no near misses either.
    state.shown[DOG] = false;
    assert_eq!(near(&state), vec![(PERSON, 0.6)]);

    let mut harness = harness(App::headless(state));
    harness.step();
    harness.key_press(egui::Key::N);
    harness.step();
    assert!(harness.state().state().show_near_misses, "N toggles them");
}

#[test]
fn clicking_a_box_selects_its_class_and_the_arrows_tune_it() {
    let mut state = state_with(SettingsStore::none());
    state.on_result(frame(1), Instant::now());
    // Outside every box: nothing selected.
    assert!(!state.select_at(300.0, 200.0));
    assert_eq!(state.selected_class, None);
    let mut harness = harness(App::headless(state));
    harness.step();
    // Without a selection the arrows do nothing to the thresholds.
    harness.key_press(egui::Key::ArrowUp);
    harness.step();
    assert!((harness.state().state().thresholds[CAT] - 0.5).abs() < 1e-6);

    // Click the cat's box (frame pixels 130..180 x 20..90) where the picture is drawn.
    let picture = harness.get_by_label("video").rect();
    let scale = picture.width() / 320.0;
    let cat = picture.min + egui::vec2(155.0, 55.0) * scale;
    harness.input_mut().events.extend([
        egui::Event::PointerMoved(cat),
        egui::Event::PointerButton {
            pos: cat,
            button: egui::PointerButton::Primary,
            pressed: true,
            modifiers: egui::Modifiers::NONE,
        },
        egui::Event::PointerButton {
            pos: cat,
            button: egui::PointerButton::Primary,
            pressed: false,
            modifiers: egui::Modifiers::NONE,
        },
    ]);
    harness.step();
    harness.step();
    assert_eq!(harness.state().state().selected_class, Some(CAT));

    harness.key_press(egui::Key::ArrowUp);
    harness.step();
    assert!((harness.state().state().thresholds[CAT] - 0.51).abs() < 1e-6);
    harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowDown);
    harness.step();
    assert!((harness.state().state().thresholds[CAT] - 0.46).abs() < 1e-6);
    assert!(
        (harness.state().state().thresholds[PERSON] - 0.5).abs() < 1e-6,
        "only the selected class moves"
    );
}

#[test]
fn a_frame_longer_than_its_pixels_is_not_uploaded_and_does_not_crash() {
    let mut padded = frame(1);
    padded.image = RgbImage::from_raw(320, 240, vec![7; 320 * 240 * 3 + 100]).expect("fits");
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_result(padded, Instant::now());
    let mut harness = harness(app);
    harness.step();
    assert_eq!(harness.state().texture_seq(), None, "not uploaded");
    harness
        .state_mut()
        .state_mut()
        .on_result(frame(2), Instant::now());
    harness.step();
    assert_eq!(
        harness.state().texture_seq(),
        Some(2),
        "the next good frame is"
    );
}

#[test]
fn a_failing_source_shows_a_banner() {
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().on_event(PipelineEvent::SourceFailed {
        source: "camera 0".into(),
        message: "camera 0: Could not capture frame".into(),
        failures: 3,
        retry_in: Duration::from_secs(1),
    });
    let mut harness = harness(app);
    harness.step();
    harness.get_by_label_contains("Could not capture frame");
    harness
        .state_mut()
        .state_mut()
        .on_event(PipelineEvent::SourceRecovered {
            source: "camera 0".into(),
        });
    harness.step();
    assert!(
        harness
            .query_by_label_contains("Could not capture frame")
            .is_none()
    );
}

#[test]
fn a_saved_profile_loads_back_identical() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profiles/evening.json");
    let mut state = state_with(SettingsStore::none());
    state.thresholds[PERSON] = 0.37;
    state.thresholds[CAT] = 0.81;
    state.thresholds[DOG] = 0.123_456_79;
    state.nms_iou = 0.6;
    state.profile_path = path.display().to_string();
    let saved_thresholds = state.thresholds.clone();
    let saved = state.profile("evening");
    assert_eq!(
        state.save_profile().expect("saved"),
        ProfileSaved::Saved(path.clone())
    );

    state.reset_to_defaults();
    assert_ne!(state.thresholds, saved_thresholds);
    state.load_profile();
    assert_eq!(state.thresholds, saved_thresholds);
    assert_eq!(state.nms_iou, 0.6);
    assert_eq!(state.profile("evening"), saved);
    assert_eq!(
        ThresholdProfile::load(&path).expect("a valid profile"),
        saved,
        "the file is the shared profile format (tinyssd tune writes it too)"
    );
    assert!(state.notice.as_ref().is_some_and(|n| !n.is_error));
}

#[test]
fn a_corrupt_profile_gives_a_message_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut state = state_with(SettingsStore::none());
    for (file, text) in [
        ("truncated.json", r#"{"thresholds": {"person": 0.4"#),
        ("wrong.json", r#"{"thresholds": {"person": "high"}}"#),
        ("range.json", r#"{"thresholds": {"person": 7.0}}"#),
        ("binary.json", "\u{0}\u{1}garbage"),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, text).expect("write");
        state.thresholds[PERSON] = 0.9;
        state.shown[DOG] = false;
        let before = (state.thresholds.clone(), state.shown.clone());
        state.profile_path = path.display().to_string();
        state.load_profile();
        assert_eq!(
            (state.thresholds.clone(), state.shown.clone()),
            before,
            "{file}: the user's values kept"
        );
        let notice = state.notice.as_ref().expect("a message");
        assert!(notice.is_error, "{file}: {}", notice.text);
        assert!(notice.text.contains(file), "{file}: {}", notice.text);
    }
    // A file that is not there.
    state.profile_path = dir.path().join("nope.json").display().to_string();
    state.load_profile();
    assert!(state.notice.as_ref().is_some_and(|n| n.is_error));
}

#[test]
fn settings_are_remembered_between_runs_and_survive_damage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config/settings.json");
    let mut state = state_with(SettingsStore::at(path.clone()));
    assert!(state.notice.is_none(), "no settings yet is normal");
    state.thresholds[CAT] = 0.25;
    state.shown[DOG] = false;
    state.snapshot_dir = "/tmp/shots".into();
    state.save_settings().expect("saved");

    let again = state_with(SettingsStore::at(path.clone()));
    assert_eq!(again.thresholds[CAT], 0.25);
    assert!(!again.shown[DOG]);
    assert_eq!(again.snapshot_dir, "/tmp/shots");

    std::fs::write(&path, "{ not json").expect("write");
    let damaged = state_with(SettingsStore::at(path));
    assert_eq!(damaged.thresholds, vec![0.5; 21]);
    assert!(damaged.notice.as_ref().is_some_and(|n| n.is_error));

    // Settings written by an older version (fewer fields) still load.
    let old = dir.path().join("old.json");
    std::fs::write(&old, r#"{"snapshot_dir": "/tmp/old"}"#).expect("write");
    let state = state_with(SettingsStore::at(old));
    assert_eq!(state.snapshot_dir, "/tmp/old");
    assert!(state.notice.is_none());
}

#[test]
fn a_snapshot_is_the_annotated_frame_as_png() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = App::headless(state_with(SettingsStore::none()));
    app.state_mut().snapshot_dir = dir.path().join("shots").display().to_string();
    let ctx = egui::Context::default();
    app.run(Command::Snapshot, &ctx);
    assert!(
        app.state().notice.as_ref().is_some_and(|n| n.is_error),
        "no frame yet"
    );

    app.state_mut().on_result(frame(1), Instant::now());
    app.run(Command::Snapshot, &ctx);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("shots"))
        .expect("folder made")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let saved = image::open(&files[0]).expect("a PNG").to_rgb8();
    assert_eq!(saved.dimensions(), (320, 240));
    // The person box (class colour) is drawn on the plain frame.
    let [r, g, b] = tinyssd::detect::class_color(PERSON);
    assert_eq!(*saved.get_pixel(10, 50), image::Rgb([r, g, b]));
    // The dog, below its threshold, is not.
    assert_eq!(*saved.get_pixel(190, 50), image::Rgb([40, 80, 120]));
}

#[test]
fn the_real_app_starts_plays_and_stops_within_a_second() {
    let detector = common::golden_detector();
    let cc = eframe::CreationContext::_new_kittest(egui::Context::default());
    let app = App::new(
        &cc,
        detector,
        tinyssd::ui::Launch::default(),
        SettingsStore::none(),
    );
    let no_camera = tinyssd::pipeline::list_cameras().is_ok_and(|c| c.is_empty());
    let mut harness = harness(app);
    let start = Instant::now();
    while harness.state().texture_seq().is_none() && start.elapsed() < Duration::from_secs(5) {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = harness.state().state();
    assert!(harness.state().texture_seq().is_some(), "a frame is shown");
    if no_camera {
        // The default start says there is no camera and plays the demo.
        assert!(
            state
                .source
                .note
                .as_deref()
                .is_some_and(|n| n.contains("No camera")),
            "{:?}",
            state.source.note
        );
        assert_eq!(state.source.name, "demo");
        assert_eq!(
            state.current.as_ref().map(|f| f.image.dimensions()),
            Some((640, 480))
        );
        harness.get_by_label_contains("No camera found");
    }
    let report = harness.state_mut().shutdown().expect("a pipeline ran");
    assert!(
        report.joined && report.elapsed < Duration::from_secs(1),
        "{report:?}"
    );
}

/// The shipped model's class names and its per-class thresholds, as `detect` uses them.
fn shipped_model_defaults() -> (Vec<String>, DetectConfig) {
    let model = tinyssd::model::Model::load(&tinyssd::model::shipped_model_path())
        .expect("the shipped model loads");
    let defaults = DetectConfig::for_model(&model.metadata);
    (model.metadata.class_names, defaults)
}

/// The value each class's slider shows, by class id (background: none).
fn slider_values(harness: &Harness<'_, App>, names: &[String]) -> Vec<Option<f32>> {
    use egui_kittest::kittest::NodeT;
    names
        .iter()
        .skip(1)
        .map(|name| {
            harness
                .get_by_label(&format!("{name} threshold"))
                .accesskit_node()
                .numeric_value()
                .map(|v| v as f32)
        })
        .collect()
}

fn assert_sliders_show(harness: &Harness<'_, App>, names: &[String], expected: &[f32], when: &str) {
    let expected: Vec<Option<f32>> = expected.iter().skip(1).map(|&t| Some(t)).collect();
    assert_eq!(
        slider_values(harness, names),
        expected,
        "{when}: the sliders"
    );
    assert_eq!(
        harness.state().state().thresholds[1..],
        expected.iter().flatten().copied().collect::<Vec<_>>(),
        "{when}: the thresholds"
    );
}

#[test]
fn the_sliders_show_the_models_thresholds_at_start_after_defaults_and_after_a_failed_load() {
    let (names, defaults) = shipped_model_defaults();
    let model = &defaults.thresholds;
    assert!(
        model[1..].iter().any(|&t| t != model[1]),
        "the shipped model has per-class thresholds: {model:?}"
    );
    let state = AppState::new(names.clone(), defaults.clone(), SettingsStore::none());
    let mut harness = harness(App::headless(state));
    for _ in 0..5 {
        harness.step();
    }
    assert_sliders_show(&harness, &names, model, "a fresh start");
    assert!(
        harness.query_by_value("mixed").is_some(),
        "All classes says the classes differ"
    );

    // The user tunes one class and hides another; Defaults brings the model's values back.
    harness
        .get_by_label("person threshold")
        .set_value_accesskit(0.7);
    harness.get_by_label("dog").click();
    harness.step();
    assert!(!harness.state().state().shown[DOG]);
    harness.get_by_label("Defaults").click();
    for _ in 0..5 {
        harness.step();
    }
    assert_sliders_show(&harness, &names, model, "after Defaults");
    assert!(
        harness.state().state().shown[DOG],
        "Defaults shows every class"
    );

    // A Load that fails leaves what the user made as it was.
    harness
        .get_by_label("person threshold")
        .set_value_accesskit(0.7);
    harness.get_by_label("dog").click();
    harness.step();
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"thresholds": {"person": "high"}}"#).expect("write");
    harness.state_mut().state_mut().profile_path = broken.display().to_string();
    harness.get_by_label("Load").click();
    for _ in 0..5 {
        harness.step();
    }
    let mut tuned = model.clone();
    tuned[PERSON] = 0.7;
    assert_sliders_show(&harness, &names, &tuned, "after a failed Load");
    assert!(
        !harness.state().state().shown[DOG],
        "the hidden class stays hidden"
    );
    let notice = harness.state().state().notice.clone().expect("a message");
    assert!(
        notice.is_error && notice.text.contains("broken.json"),
        "{}",
        notice.text
    );

    // All classes acts when the user moves it, and then no longer reads mixed.
    harness
        .get_by_label("all classes threshold")
        .set_value_accesskit(0.3);
    harness.step();
    harness.step();
    assert_sliders_show(&harness, &names, &[0.3; 21], "after All classes");
    assert!(harness.query_by_value("mixed").is_none());
}

/// `tinyssd detect --json` on one image, with one thread: (class, score, box) per box.
fn detect_command_boxes(image: &str) -> Vec<(String, f32, [f32; 4])> {
    let output = common::tinyssd(&["detect", "--json", "--threads", "1", image]);
    assert!(output.status.success(), "{output:?}");
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let number = |v: &serde_json::Value| v.as_f64().expect("a number") as f32;
    reports[0]["detections"]
        .as_array()
        .expect("a list of detections")
        .iter()
        .map(|d| {
            let b = &d["box"];
            (
                d["class"].as_str().expect("a class").to_string(),
                number(&d["score"]),
                [0, 1, 2, 3].map(|k| number(&b[k])),
            )
        })
        .collect()
}

#[test]
fn the_app_shows_the_boxes_detect_prints_for_the_same_image() {
    const IMAGE: &str = "assets/astronaut.png";
    let expected = detect_command_boxes(IMAGE);
    assert!(!expected.is_empty(), "the photo has something to find");

    // The app's path: its state on the same model after a few frames of its window, the
    // worker detecting with the app's settings and the panel filtering the result.
    let mut detector =
        tinyssd::detect::Detector::from_file(&tinyssd::model::shipped_model_path(), 1)
            .expect("the shipped model loads");
    let state = AppState::new(
        detector.class_names().to_vec(),
        detector.default_config(),
        SettingsStore::none(),
    );
    let mut harness = harness(App::headless(state));
    for _ in 0..3 {
        harness.step();
    }
    let image = tinyssd::detect::read_image(&common::repo_path(IMAGE)).expect("the photo reads");
    let worker = harness.state().state().worker_config();
    let detected = TrackerConfig::default().detection_config(&worker);
    let (detections, timings) = detector.detect(&image, &detected).expect("detects");
    let now = Instant::now();
    harness.state_mut().state_mut().on_result(
        FrameResult {
            image,
            timings,
            ..Worker::new().frame(1, detections, &worker.thresholds)
        },
        now,
    );
    harness.step();
    let shown: Vec<(String, f32, [f32; 4])> = harness
        .state()
        .state()
        .visible_detections()
        .map(|d| {
            let b = &d.bbox;
            (
                d.label.to_string(),
                d.score,
                [b.x_min, b.y_min, b.x_max, b.y_max],
            )
        })
        .collect();
    assert_eq!(shown, expected);
}

/// Boxes of `class_id` on screen (tracks or raw, as the app shows them).
fn on_screen_of(state: &AppState, class_id: usize) -> usize {
    state
        .on_screen()
        .iter()
        .filter(|b| b.detection.class_id == class_id)
        .count()
}

#[test]
fn a_score_hovering_at_its_threshold_stays_as_a_track_and_blinks_raw() {
    // The person's threshold is 0.5; its score goes 0.53, 0.47, 0.53, ...
    let score = |seq: u64| if seq % 2 == 1 { 0.53 } else { 0.47 };
    let mut harness = harness(App::headless(state_with(SettingsStore::none())));
    let mut worker = Worker::new();
    let mut feed = |harness: &mut Harness<'static, App>, seq: u64| {
        let person = vec![detection(PERSON, score(seq), 40.0)];
        let result = worker.frame(seq, person, &AT_DEFAULTS);
        harness
            .state_mut()
            .state_mut()
            .on_result(result, Instant::now());
        harness.step();
        let state = harness.state().state();
        (on_screen_of(state, PERSON), state.counts()[PERSON])
    };
    assert!(harness.state().state().show_tracks, "tracks by default");
    for seq in 1..=12 {
        assert_eq!(feed(&mut harness, seq), (1, 1), "tracks view, frame {seq}");
    }
    let track = &harness.state().state().on_screen()[0];
    assert_eq!(track.track_id, Some(1), "one object, one track all along");
    assert!(
        track.detection.score < 0.5,
        "shown below the threshold, within the hysteresis: {}",
        track.detection.score
    );
    let text = format!("person {:.2}", track.detection.score);
    assert_eq!(track.tag_text(false), text);
    assert_eq!(track.tag_text(true), format!("{text} #1"));

    harness.key_press(egui::Key::T);
    harness.step();
    assert!(!harness.state().state().show_tracks, "T switches to raw");
    for seq in 13..=21 {
        let expected = if score(seq) > 0.5 { (1, 1) } else { (0, 0) };
        assert_eq!(feed(&mut harness, seq), expected, "raw view, frame {seq}");
    }
    assert_eq!(
        harness.state().state().on_screen()[0].tag_text(true),
        "person 0.53",
        "raw boxes have no ID"
    );
    harness.key_press(egui::Key::T);
    harness.step();
    assert!(harness.state().state().show_tracks, "and back");
}

#[test]
fn tracks_are_drawn_only_for_shown_classes_and_clicks_pick_their_class_in_both_views() {
    let mut state = state_with(SettingsStore::none());
    for seq in 1..=3 {
        state.on_result(frame(seq), Instant::now());
    }
    assert_eq!(on_screen_of(&state, PERSON), 2);
    state.shown[PERSON] = false;
    assert_eq!(
        on_screen_of(&state, PERSON),
        0,
        "a hidden class's tracks are hidden"
    );
    assert_eq!(state.counts()[PERSON], 2, "and still counted");
    state.shown[PERSON] = true;
    for show_tracks in [true, false] {
        state.show_tracks = show_tracks;
        state.selected_class = None;
        assert!(state.select_at(155.0, 55.0), "tracks view: {show_tracks}");
        assert_eq!(state.selected_class, Some(CAT));
    }
}

#[test]
fn counts_in_view_and_seen_since_a_reset() {
    let mut harness = harness(App::headless(state_with(SettingsStore::none())));
    let mut worker = Worker::new();
    let mut feed = |harness: &mut Harness<'static, App>, seq: u64, xs: &[f32]| {
        let people = xs.iter().map(|&x| detection(PERSON, 0.8, x)).collect();
        let result = worker.frame(seq, people, &AT_DEFAULTS);
        harness
            .state_mut()
            .state_mut()
            .on_result(result, Instant::now());
        harness.step();
    };
    let in_view_and_seen = |harness: &Harness<'static, App>| {
        let state = harness.state().state();
        (state.counts()[PERSON], state.seen(PERSON))
    };
    // Two people for five frames, then one leaves, then a third comes.
    for seq in 1..=5 {
        feed(&mut harness, seq, &[10.0, 150.0]);
    }
    assert_eq!(in_view_and_seen(&harness), (2, 2));
    for seq in 6..=10 {
        feed(&mut harness, seq, &[10.0]);
    }
    assert_eq!(in_view_and_seen(&harness), (1, 2));
    for seq in 11..=15 {
        feed(&mut harness, seq, &[10.0, 250.0]);
    }
    assert_eq!(in_view_and_seen(&harness), (2, 3));
    assert_eq!(harness.state().state().seen(CAT), 0);

    harness.get_by_label("Reset counts").click();
    harness.step();
    assert_eq!(in_view_and_seen(&harness), (2, 0), "the tracks go on");
    // The people in view are not seen again; a new one is.
    for seq in 16..=18 {
        feed(&mut harness, seq, &[10.0, 250.0, 190.0]);
    }
    assert_eq!(in_view_and_seen(&harness), (3, 1));
}

#[test]
fn a_new_source_takes_the_tracks_off_the_screen_at_once() {
    // (The worker starts its tracks afresh itself: tests/pipeline.rs.)
    let mut state = state_with(SettingsStore::none());
    let mut worker = Worker::new();
    for seq in 1..=3 {
        let person = vec![detection(PERSON, 0.8, 40.0)];
        state.on_result(worker.frame(seq, person, &AT_DEFAULTS), Instant::now());
    }
    let ids: Vec<u64> = state.tracks().iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![1]);
    assert_eq!(state.seen(PERSON), 1);
    state.on_event(PipelineEvent::SourceOpened {
        source: "demo".into(),
        description: String::new(),
    });
    assert!(state.tracks().is_empty(), "a new source's objects are new");
    assert!(state.on_screen().is_empty());
    assert_eq!(state.seen(PERSON), 1, "the counts go on");
}

/// Where the profile's buttons are, and whether they are on screen.
fn profile_buttons(harness: &Harness<'_, App>, size: [f32; 2]) -> Vec<(egui::Rect, bool)> {
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, size.into());
    ["Save", "Load", "Defaults"]
        .map(|label| {
            let rect = harness.get_by_label(label).rect();
            (rect, screen.contains_rect(rect))
        })
        .to_vec()
}

#[test]
fn a_notice_moves_nothing_and_the_profile_buttons_stay_in_reach_of_a_small_window() {
    for size in [[1200.0, 900.0], [800.0, 500.0]] {
        let mut app = App::headless(state_with(SettingsStore::none()));
        app.state_mut().on_result(frame(1), Instant::now());
        let mut harness = Harness::builder()
            .with_size(size)
            .build_ui_state(|ui, app: &mut App| app.show(ui), app);
        harness.step();
        let before = profile_buttons(&harness, size);
        assert!(before.iter().all(|&(_, seen)| seen), "{size:?}: {before:?}");
        harness.state_mut().state_mut().notify("loaded desk.json");
        harness.step();
        assert_eq!(
            profile_buttons(&harness, size),
            before,
            "{size:?}: nothing moved"
        );
        harness.get_by_label_contains("loaded desk.json");
    }
}

#[test]
fn a_dropped_or_typed_file_that_cannot_play_says_why_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "milk, eggs").expect("write");
    let mut harness = harness(App::headless(state_with(SettingsStore::none())));
    harness.step();
    let source_before = harness.state().state().source.name.clone();
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(notes.clone())));
    harness.step();
    let notice = harness.state().state().notice.clone().expect("a message");
    assert!(notice.is_error, "{}", notice.text);
    assert!(
        notice.text.contains("cannot play") && notice.text.contains("notes.txt"),
        "{}",
        notice.text
    );

    harness.state_mut().state_mut().open_path = dir.path().join("gone.mp4").display().to_string();
    harness.step();
    harness.get_by_label("Play").click();
    harness.step();
    let notice = harness.state().state().notice.clone().expect("a message");
    assert!(
        notice
            .text
            .contains("gone.mp4: there is no such file or folder"),
        "{}",
        notice.text
    );
    assert_eq!(harness.state().state().source.name, source_before);
}
