//! Opening files in the running window (issue 26), headless with egui_kittest: in a
//! folder of photos, paused, Page Down / Page Up, the arrows and the top bar's buttons
//! step to the next and previous photo, which is detected and shown; a model file
//! dropped on the window replaces the model (its classes and thresholds in the panel,
//! the paused frame detected again with it), and a damaged one is refused, changing
//! nothing. The Open buttons' dialog answers go the same way (a scripted dialog stands
//! in for the system's), and without a dialog the window says so.

mod common;

use common::app::Dropped;
use common::{golden_weights, repo_path};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::{Rgb, RgbImage};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detector};
use tinyssd::pipeline::SourceSpec;
use tinyssd::track::TrackerConfig;
use tinyssd::ui::{
    App, AppState, DialogUnavailable, FilePicker, Launch, Notice, OpenKind, SettingsStore,
};

const DOG: usize = 12;
const PERSON: usize = 15;

/// Asserts `notice` is an error whose text says each of `parts`.
#[track_caller]
fn assert_error_says(notice: &Notice, parts: &[&str]) {
    assert!(notice.is_error, "not an error: {}", notice.text);
    assert_says(notice, parts);
}

/// Asserts the text of `notice` says each of `parts`.
#[track_caller]
fn assert_says(notice: &Notice, parts: &[&str]) {
    assert!(
        parts.iter().all(|part| notice.text.contains(part)),
        "{}",
        notice.text
    );
}

fn harness(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1200.0, 900.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

/// The real app (its threads and the detector on one thread) on `source`.
fn real_app(detector: Detector, source: SourceSpec, fps: f32) -> Harness<'static, App> {
    let cc = eframe::CreationContext::_new_kittest(egui::Context::default());
    let launch = Launch {
        source: Some(source),
        fps: Some(fps),
        ..Launch::default()
    };
    harness(App::new(&cc, detector, launch, SettingsStore::none()))
}

/// Runs the window until `ready`, for at most 10 s.
fn step_until(harness: &mut Harness<'_, App>, what: &str, ready: impl Fn(&App) -> bool) {
    let start = Instant::now();
    while !ready(harness.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    harness.step();
}

/// The shade of the frame on screen (each test photo is one grey).
fn shade_shown(app: &App) -> Option<u8> {
    let frame = app.state().current.as_ref()?;
    Some(frame.image.get_pixel(0, 0)[0])
}

const PHOTOS: [(&str, u8); 3] = [("a.png", 10), ("b.png", 120), ("c.png", 230)];

/// Does `press`, then waits for photo `index` of [`PHOTOS`] on screen and in the top bar.
fn press_for(
    harness: &mut Harness<'_, App>,
    press: impl Fn(&mut Harness<'_, App>),
    index: usize,
    how: &str,
) {
    let (name, shade) = PHOTOS[index];
    press(harness);
    step_until(harness, how, |app| shade_shown(app) == Some(shade));
    harness.get_by_label(&format!("{} / 3  {name}", index + 1));
}

#[test]
fn paused_in_a_folder_the_keys_and_buttons_step_to_the_next_and_previous_photo() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, shade) in PHOTOS {
        RgbImage::from_pixel(64, 48, Rgb([shade, shade, shade]))
            .save(dir.path().join(name))
            .expect("write image");
    }
    // One photo every 20 s: nothing but the steps brings another.
    let source = SourceSpec::Images(vec![dir.path().to_path_buf()]);
    let mut harness = real_app(common::golden_detector(), source, 0.05);
    step_until(&mut harness, "the first photo", |app| {
        shade_shown(app) == Some(10)
    });
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(harness.state().state().paused);
    harness.get_by_label("1 / 3  a.png");
    // The status bar names the keys, marking's and the photos' alike.
    harness.get_by_label_contains("mark it right (R) or wrong (W)");
    harness.get_by_label_contains("Page Up/Down another photo");

    let key = |key| move |h: &mut Harness<'_, App>| h.key_press(key);
    press_for(&mut harness, key(egui::Key::PageDown), 1, "Page Down");
    press_for(&mut harness, key(egui::Key::ArrowRight), 2, "Right");
    press_for(
        &mut harness,
        key(egui::Key::PageDown),
        0,
        "Page Down, around",
    );
    press_for(&mut harness, key(egui::Key::ArrowLeft), 2, "Left, around");
    press_for(&mut harness, key(egui::Key::PageUp), 1, "Page Up");
    let click = |label| move |h: &mut Harness<'_, App>| h.get_by_label(label).click();
    press_for(&mut harness, click("next image"), 2, "the next button");
    press_for(
        &mut harness,
        click("previous image"),
        1,
        "the previous button",
    );

    // With a class selected the arrows are the class's; Page Down still steps.
    harness.state_mut().state_mut().selected_class = Some(PERSON);
    harness.key_press(egui::Key::ArrowRight);
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        shade_shown(harness.state()),
        Some(120),
        "Right is left to the class"
    );
    press_for(
        &mut harness,
        key(egui::Key::PageDown),
        2,
        "Page Down, a class selected",
    );
    assert!(harness.state().state().paused, "stepping keeps the pause");
    harness.state_mut().shutdown();
}

#[test]
fn without_an_image_list_there_are_no_step_buttons() {
    let mut harness = harness(App::headless(AppState::new(
        common::class_names(),
        DetectConfig::uniform(21, 0.5),
        SettingsStore::none(),
    )));
    harness.step();
    assert!(harness.query_by_label("next image").is_none());
    assert!(harness.query_by_label_contains("another photo").is_none());
    harness.key_press(egui::Key::PageDown);
    harness.step();
    assert_eq!(harness.state().state().notice, None);
}

/// The golden model with "person" renamed "visitor": a model with other classes (and
/// other thresholds than the shipped one: 0.4 for every class).
fn renamed_golden_model(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(golden_weights()).expect("the golden model");
    let (length, rest) = bytes.split_at(8);
    let length = u64::from_le_bytes(length.try_into().expect("8 bytes")) as usize;
    let (header, data) = rest.split_at(length);
    let mut header: serde_json::Value = serde_json::from_slice(header).expect("a JSON header");
    let names = &mut header["__metadata__"]["class_names"];
    let renamed = names
        .as_str()
        .expect("the class names, as JSON text")
        .replace("\"person\"", "\"visitor\"");
    *names = serde_json::Value::String(renamed);
    let header = serde_json::to_vec(&header).expect("JSON");
    let path = dir.join("visitors.safetensors");
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(data);
    std::fs::write(&path, file).expect("write the model");
    path
}

/// (class id, score) of each box.
fn boxes(detections: &[tinyssd::detect::Detection]) -> Vec<(usize, f32)> {
    detections.iter().map(|d| (d.class_id, d.score)).collect()
}

#[test]
fn a_model_dropped_on_the_window_replaces_the_classes_the_thresholds_and_the_workers_model() {
    let shipped = Detector::from_file(&repo_path("models/tinyssd_voc.safetensors"), 1)
        .expect("the shipped model");
    let shipped_thresholds = shipped.default_config().thresholds;
    let photo = repo_path("assets/astronaut.png");
    let mut harness = real_app(shipped, SourceSpec::Image(photo.clone()), 0.05);
    step_until(&mut harness, "the photo", |app| {
        app.state().current.is_some()
    });
    harness.key_press(egui::Key::Space);
    harness.step();
    let before = harness.state().state().current.clone().expect("a frame");
    {
        let state = harness.state_mut().state_mut();
        assert_eq!(state.thresholds, shipped_thresholds);
        state.shown[DOG] = false;
        state.shown[PERSON] = false;
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let model = renamed_golden_model(dir.path());
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(Dropped(model.clone())));
    step_until(
        &mut harness,
        "the frame detected with the new model",
        |app| {
            app.state()
                .current
                .as_ref()
                .is_some_and(|f| f.seq > before.seq)
        },
    );

    let state = harness.state().state();
    let notice = state.notice.clone().expect("a notice");
    assert!(!notice.is_error, "{}", notice.text);
    assert_says(&notice, &["visitors.safetensors"]);
    assert_eq!(state.class_names[PERSON], "visitor");
    assert_eq!(
        state.thresholds[1..],
        [0.4; 20],
        "the new model's suggestion"
    );
    assert!(!state.shown[DOG], "a class hidden before stays hidden");
    assert!(state.shown[PERSON], "visitor is a class of its own");
    assert!(state.inputs.contains(&model), "nothing is written over it");
    harness.get_by_label("visitor threshold");

    // The worker found on the paused frame what the new model finds there.
    let mut reference = Detector::from_file(&model, 1).expect("the renamed model");
    let (expected, _) = reference
        .detect(
            &before.image,
            &TrackerConfig::default().detection_config(&state.worker_config()),
        )
        .expect("detects");
    let after = state.current.as_ref().expect("a frame");
    assert!(!expected.is_empty(), "the new model finds boxes to compare");
    assert_eq!(boxes(&after.detections), boxes(&expected));
    assert_ne!(
        boxes(&after.detections),
        boxes(&before.detections),
        "the shipped model's boxes are gone"
    );
    harness.state_mut().shutdown();
}

#[test]
fn a_damaged_model_file_is_refused_and_changes_nothing() {
    let shipped = Detector::from_file(&repo_path("models/tinyssd_voc.safetensors"), 1)
        .expect("the shipped model");
    let state = AppState::new(
        shipped.class_names().to_vec(),
        shipped.default_config(),
        SettingsStore::none(),
    );
    let mut harness = harness(App::headless(state));
    harness.step();
    harness
        .get_by_label("person threshold")
        .set_value_accesskit(0.7);
    harness.step();
    let thresholds = harness.state().state().thresholds.clone();
    let names = harness.state().state().class_names.clone();

    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(
        &garbage,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all",
    )
    .expect("write");
    harness.state_mut().state_mut().open_path = garbage.display().to_string();
    harness.step();
    harness.get_by_label("Play").click();
    harness.step();

    let state = harness.state().state();
    let notice = state.notice.clone().expect("a message");
    assert_error_says(&notice, &["cannot use the model", "garbage.safetensors"]);
    assert_eq!(state.thresholds, thresholds, "the thresholds stay");
    assert_eq!(state.class_names, names, "the classes stay");
}

/// Answers the Open buttons as the system's dialog would, and records what was asked.
struct ScriptedDialog {
    answer: Result<Option<PathBuf>, DialogUnavailable>,
    asked: Rc<RefCell<Vec<OpenKind>>>,
}

impl FilePicker for ScriptedDialog {
    fn pick(&mut self, kind: OpenKind) -> Result<Option<PathBuf>, DialogUnavailable> {
        self.asked.borrow_mut().push(kind);
        self.answer.clone()
    }
}

/// A dialog answering `answer` to every button; the kinds asked for come in the list.
fn scripted(
    answer: Result<Option<PathBuf>, DialogUnavailable>,
) -> (Box<ScriptedDialog>, Rc<RefCell<Vec<OpenKind>>>) {
    let asked = Rc::new(RefCell::new(Vec::new()));
    let dialog = ScriptedDialog {
        answer,
        asked: Rc::clone(&asked),
    };
    (Box::new(dialog), asked)
}

#[test]
fn a_photo_chosen_in_the_dialog_plays_as_a_typed_or_dropped_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photo = dir.path().join("grey.png");
    RgbImage::from_pixel(64, 48, Rgb([77, 77, 77]))
        .save(&photo)
        .expect("write image");
    let (dialog, asked) = scripted(Ok(Some(photo.clone())));
    let cc = eframe::CreationContext::_new_kittest(egui::Context::default());
    let launch = Launch {
        source: Some(SourceSpec::Demo),
        fps: Some(30.0),
        ..Launch::default()
    };
    let app = App::new(
        &cc,
        common::golden_detector(),
        launch,
        SettingsStore::none(),
    );
    let mut harness = harness(app.with_picker(dialog));
    step_until(&mut harness, "the demo", |app| {
        app.state().current.is_some()
    });

    harness.get_by_label("Photo…").click();
    step_until(&mut harness, "the chosen photo", |app| {
        shade_shown(app) == Some(77)
    });
    assert_eq!(*asked.borrow(), [OpenKind::Photo]);
    let state = harness.state().state();
    assert!(
        state.source.name.contains("grey.png"),
        "{}",
        state.source.name
    );
    assert!(state.inputs.contains(&photo), "nothing is written over it");
    harness.state_mut().shutdown();
}

/// Clicks `kind`'s button in the app (without threads, on the shipped model's classes)
/// with the dialog answering `answer`; checks the dialog was asked for that kind, and
/// gives the window's message after it.
fn choose(
    kind: OpenKind,
    answer: Result<Option<PathBuf>, DialogUnavailable>,
) -> (Harness<'static, App>, Notice) {
    let (dialog, asked) = scripted(answer);
    let state = AppState::new(
        common::class_names(),
        DetectConfig::uniform(21, 0.5),
        SettingsStore::none(),
    );
    let mut harness = harness(App::headless(state).with_picker(dialog));
    harness.step();
    harness.get_by_label(kind.button()).click();
    harness.run_steps(2);
    assert_eq!(*asked.borrow(), [kind]);
    let notice = harness.state().state().notice.clone().expect("a message");
    (harness, notice)
}

#[test]
fn a_damaged_model_chosen_in_the_dialog_is_refused_as_a_dropped_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a model").expect("write");
    let (harness, notice) = choose(OpenKind::Model, Ok(Some(garbage)));
    assert_error_says(&notice, &["cannot use the model"]);
    let state = harness.state().state();
    assert_eq!(state.class_names, common::class_names(), "the classes stay");
}

#[test]
fn without_a_dialog_or_with_it_cancelled_the_window_says_so() {
    let missing = DialogUnavailable("no D-Bus session".to_string());
    let (harness, notice) = choose(OpenKind::Folder, Err(missing));
    assert_error_says(&notice, &["no file dialog", "drop the file"]);
    // In the status bar.
    harness.get_by_label_contains("no file dialog on this desktop");

    let (_, notice) = choose(OpenKind::Video, Ok(None));
    assert!(
        !notice.is_error && notice.text.starts_with("no file chosen"),
        "{}",
        notice.text
    );
}
