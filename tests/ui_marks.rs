//! Marking in the window, headless (egui_kittest): on a paused frame a box clicked is
//! judged in its popup or with R / W, a box dragged out gets its class from a popup,
//! Ctrl+Z takes a mark back, *Suggest* gives a class with enough marks its threshold,
//! *Apply* moves the slider there and *Undo apply* moves it back. The marks land in the
//! folder the side panel names.

mod common;

use common::repo_path;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use std::time::Instant;
use tinyssd::detect::Detector;
use tinyssd::pipeline::FrameResult;
use tinyssd::scene::{MIN_MARKS_PER_CLASS, Verdict};
use tinyssd::ui::{App, AppState, DETECT_FLOOR, SettingsStore};

const PERSON: usize = 15;

fn shipped_detector() -> Detector {
    Detector::from_file(&repo_path("models/tinyssd_voc.safetensors"), 1).expect("the shipped model")
}

/// `photo` as frame `seq`, with its boxes down to the app's floor.
fn frame_of(photo: &str, seq: u64, detector: &mut Detector) -> FrameResult {
    let image = image::open(repo_path(&format!("assets/{photo}")))
        .expect("bundled photo")
        .to_rgb8();
    let mut config = detector.default_config();
    config.thresholds.fill(DETECT_FLOOR);
    let (detections, _) = detector.detect(&image, &config).expect("detects");
    FrameResult {
        detections,
        ..common::app::blank_result(seq, image, Instant::now())
    }
}

/// The astronaut photo as the paused frame, its boxes down to the app's floor shown raw.
fn paused_app(marks_dir: &std::path::Path) -> App {
    let mut detector = shipped_detector();
    let frame = frame_of("astronaut.png", 1, &mut detector);
    let mut state = AppState::new(
        detector.class_names().to_vec(),
        detector.default_config(),
        SettingsStore::none(),
    );
    state.set_marking_detector(detector);
    state.marking.dir = marks_dir.display().to_string();
    state.show_tracks = false;
    state.set_all_thresholds(DETECT_FLOOR);
    let now = Instant::now();
    state.on_result(frame, now);
    state.set_paused(true, now);
    App::headless(state)
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1200.0, 900.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

fn pointer(harness: &mut Harness<'_, App>, at: egui::Pos2, pressed: Option<bool>) {
    harness
        .input_mut()
        .events
        .push(egui::Event::PointerMoved(at));
    if let Some(pressed) = pressed {
        harness.input_mut().events.push(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    harness.step();
}

fn verdicts(harness: &Harness<'_, App>) -> Vec<(Verdict, usize)> {
    harness
        .state()
        .state()
        .marks_on_screen()
        .iter()
        .map(|m| (m.verdict, m.class_id))
        .collect()
}

#[test]
fn marking_drawing_undo_suggest_and_apply_in_the_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scene = dir.path().join("desk");
    let mut harness = harness(paused_app(&scene));
    harness.step();
    let picture = harness.get_by_label("video").rect();
    let scale = picture.width() / 512.0;
    let at = |x: f32, y: f32| picture.min + egui::vec2(x, y) * scale;

    // A click on the astronaut opens the verdict popup; its button marks the box right.
    // (On his chest: the smallest box under the pointer is taken, and at his shoulder the
    // shipped model also finds a faint potted plant, lower on his body a bottle.)
    pointer(&mut harness, at(300.0, 150.0), Some(true));
    pointer(&mut harness, at(300.0, 150.0), Some(false));
    harness.step();
    harness.get_by_label("Right (R)").click();
    harness.step();
    assert_eq!(verdicts(&harness), vec![(Verdict::Right, PERSON)]);
    assert!(scene.join("JPEGImages/frame-0001.jpg").is_file());
    assert!(scene.join("Annotations/frame-0001.xml").is_file());

    // A drag draws a box; the class popup names it.
    pointer(&mut harness, at(20.0, 140.0), Some(true));
    pointer(&mut harness, at(40.0, 180.0), None);
    pointer(&mut harness, at(100.0, 320.0), None);
    pointer(&mut harness, at(100.0, 320.0), Some(false));
    harness.step();
    let chair = harness
        .query_all_by_label("chair")
        .find(|node| node.accesskit_node().role() == egui::accesskit::Role::Button)
        .expect("the class popup offers chair");
    chair.click();
    harness.step();
    assert_eq!(
        verdicts(&harness),
        vec![(Verdict::Right, PERSON), (Verdict::Missed, 9)]
    );

    // Ctrl+Z takes the drawn box back.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.step();
    assert_eq!(verdicts(&harness), vec![(Verdict::Right, PERSON)]);

    // The person boxes judged with the keys: right from 0.2 up, wrong below.
    let people: Vec<_> = harness
        .state()
        .state()
        .current
        .as_ref()
        .expect("a frame")
        .detections
        .iter()
        .filter(|d| d.class_id == PERSON)
        .take(MIN_MARKS_PER_CLASS + 2)
        .cloned()
        .collect();
    for person in people {
        let right = person.score >= 0.2;
        harness.state_mut().state_mut().marking.judging = Some((person, [0.0, 0.0]));
        harness.step();
        harness.key_press(if right { egui::Key::R } else { egui::Key::W });
        harness.step();
    }
    let marks = verdicts(&harness);
    assert!(marks.len() > MIN_MARKS_PER_CLASS, "{marks:?}");
    assert!(marks.contains(&(Verdict::Wrong, PERSON)), "{marks:?}");

    // The section opens from its header, which counts the marks.
    harness
        .get_by_label_contains(&format!("Your marks: {} on 1 frame", marks.len()))
        .click();
    harness.step();
    harness.get_by_label("Suggest").click();
    harness.step();
    let suggested = harness
        .state()
        .state()
        .marking
        .suggestions
        .iter()
        .flatten()
        .find(|s| s.class_id == PERSON)
        .and_then(|s| s.suggested.clone())
        .expect("person has enough marks");
    assert!(suggested.threshold > DETECT_FLOOR, "{suggested:?}");
    harness.get_by_label("Apply").click();
    harness.step();
    assert_eq!(
        harness.state().state().thresholds[PERSON],
        suggested.threshold
    );
    harness.get_by_label("Undo apply").click();
    harness.step();
    assert_eq!(harness.state().state().thresholds[PERSON], DETECT_FLOOR);
}

#[test]
fn nothing_is_marked_while_the_video_plays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut app = paused_app(&dir.path().join("desk"));
    app.state_mut().set_paused(false, Instant::now());
    let mut harness = harness(app);
    harness.step();
    let picture = harness.get_by_label("video").rect();
    let center = picture.center();
    pointer(&mut harness, center, Some(true));
    pointer(&mut harness, center, Some(false));
    harness.step();
    assert!(harness.query_by_label("Right (R)").is_none());
    assert!(harness.state().state().marking.judging.is_none());
    assert!(!dir.path().join("desk").exists());
}

#[test]
fn marks_stay_with_the_frame_they_were_made_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scene = dir.path().join("desk");
    let mut harness = harness(paused_app(&scene));
    harness.step();
    let first = harness
        .state()
        .state()
        .current
        .as_ref()
        .expect("a frame")
        .detections[0]
        .clone();
    harness.state_mut().state_mut().marking.judging = Some((first, [0.0, 0.0]));
    harness.key_press(egui::Key::R);
    harness.step();
    assert_eq!(verdicts(&harness).len(), 1);

    // Resume: a new frame comes, and is paused on.
    harness.key_press(egui::Key::Space);
    harness.step();
    let mut detector = shipped_detector();
    let second = frame_of("chelsea.png", 2, &mut detector);
    let cat = second.detections[0].clone();
    let now = Instant::now();
    let state = harness.state_mut().state_mut();
    state.on_result(second, now);
    state.set_paused(true, now);
    harness.step();
    assert_eq!(
        verdicts(&harness),
        vec![],
        "the first frame's marks stay with it"
    );
    harness.state_mut().state_mut().marking.judging = Some((cat.clone(), [0.0, 0.0]));
    harness.key_press(egui::Key::W);
    harness.step();
    assert_eq!(verdicts(&harness), vec![(Verdict::Wrong, cat.class_id)]);
    assert_eq!(harness.state().state().marking.counts(), (2, 2));
    let list = std::fs::read_to_string(scene.join("ImageSets/Main/trainval.txt")).expect("list");
    assert_eq!(list, "frame-0001\nframe-0002\n");
}
