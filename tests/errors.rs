//! Every error a user meets says what happened and what to do, and ends the program
//! with exit code 2 where it ends it: wrong arguments, a missing model, a model for
//! another number of classes, an image that claims an absurd size, no display, an
//! unusable snapshot folder, and a camera busy in another program (no camera here:
//! that one goes through the mapping of the camera library's error, then the pipeline
//! and the app's banner, with a source that fails the way a busy camera does).

mod common;

use common::{GOLDEN, stderr, tinyssd};
use image::RgbImage;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::detect::DetectConfig;
use tinyssd::pipeline::{
    CameraSelector, FrameSource, Pipeline, PipelineEvent, SourceError, camera_error, opener,
};
use tinyssd::ui::{AppState, SettingsStore};

fn assert_fails(args: &[&str], wanted: &[&str]) {
    let out = tinyssd(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for text in wanted {
        assert!(err.contains(text), "{args:?}: wanted '{text}' in: {err}");
    }
}

#[test]
fn wrong_arguments_say_what_is_expected() {
    assert_fails(
        &["detect"],
        &["required arguments", "<IMAGE|VIDEO|DIR>", "--help"],
    );
    assert_fails(
        &["--source", "webcam"],
        &["'webcam' is not a source", "camera:0", "demo"],
    );
    assert_fails(
        &["--source", "holiday.mp4"],
        &["'holiday.mp4' is not a source, nor a file or folder of that name"],
    );
    assert_fails(&["--fps", "fast"], &["'fast' is not a number"]);
    assert_fails(
        &["detect", "x.png", "--threshold", "2"],
        &["not between 0 and 1"],
    );
    assert_fails(
        &["bench", "--frame", "640x"],
        &["'640x' is not WIDTHxHEIGHT", "1 to 12000"],
    );
    assert_fails(&["--no-such-flag"], &["unexpected argument", "--help"]);
    assert_fails(
        &["--source", "images:no/such/folder", "--model", GOLDEN],
        &[
            "cannot use the source",
            "no/such/folder",
            "no such file or folder",
        ],
    );
}

#[test]
fn a_missing_model_names_the_path_and_the_flag() {
    // The same message from every subcommand, the app included (before any window).
    for args in [&["detect", "assets/chelsea.png"][..], &["app"], &["bench"]] {
        assert_fails(
            &[args, &["--model", "missing.safetensors"]].concat(),
            &[
                "cannot read missing.safetensors",
                "check the path given to --model",
            ],
        );
    }
    assert_fails(
        &[
            "detect",
            "assets/chelsea.png",
            "--model",
            "assets/chelsea.png",
        ],
        &[
            "not a safetensors file",
            "exported by `python -m training.export`",
        ],
    );
}

/// The golden model with its `class_names` metadata replaced.
fn model_with_classes(names: &[&str], path: &Path) {
    let bytes = std::fs::read(common::golden_weights()).expect("golden weights");
    let (length, rest) = bytes.split_first_chunk::<8>().expect("header length");
    let length = u64::from_le_bytes(*length) as usize;
    let (header, data) = rest.split_at(length);
    let mut header: serde_json::Value = serde_json::from_slice(header).expect("JSON header");
    header["__metadata__"]["class_names"] =
        serde_json::Value::String(serde_json::to_string(names).expect("names"));
    let header = serde_json::to_vec(&header).expect("header");
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(data);
    std::fs::write(path, file).expect("write model");
}

#[test]
fn a_model_for_another_number_of_classes_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("eleven.safetensors");
    let names = [
        "background",
        "cat",
        "dog",
        "person",
        "car",
        "bus",
        "bike",
        "chair",
        "sofa",
        "tv",
        "bird",
    ];
    model_with_classes(&names, &path);
    let model = path.to_str().expect("utf-8");
    assert_fails(
        &["detect", "assets/chelsea.png", "--model", model],
        &[
            "predicts 11 classes but Tiny SSD v1 has 21",
            "export a matching model",
        ],
    );
    // The app refuses it the same way, before opening a window.
    assert_fails(
        &["--source", "demo", "--no-persist", "--model", model],
        &["predicts 11 classes"],
    );
}

#[test]
fn an_image_that_claims_an_absurd_size_is_refused_not_allocated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.png");
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/image_decode/huge_dims.png");
    std::fs::copy(seed, &path).expect("copy");
    let started = Instant::now();
    assert_fails(
        &["detect", path.to_str().expect("utf-8"), "--model", GOLDEN],
        &[
            "huge.png: the image is too large to decode",
            "at most 12000 pixels",
        ],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn no_display_says_the_app_needs_one() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["--source", "demo", "--no-persist", "--model", GOLDEN])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .expect("the binary runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot open the window"), "{err}");
    assert!(err.contains("needs a desktop session"), "{err}");
    assert!(
        err.contains("DISPLAY is set"),
        "winit's reason is kept: {err}"
    );
    assert!(
        !err.contains(".rs:") && !err.contains(".cargo"),
        "no build path: {err}"
    );
}

fn state_with_a_frame() -> AppState {
    let names = common::class_names();
    let mut state = AppState::new(
        names.clone(),
        DetectConfig::uniform(names.len(), 0.5),
        SettingsStore::none(),
    );
    let detector_free_result = common::app::blank_result(1, RgbImage::new(32, 24), Instant::now());
    state.on_result(detector_free_result, Instant::now());
    state
}

#[test]
fn an_unusable_snapshot_folder_says_to_pick_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").expect("write");
    let mut state = state_with_a_frame();
    // A folder that cannot be created (its parent is a file).
    state.snapshot_dir = file.join("snaps").display().to_string();
    let error = state
        .save_snapshot()
        .expect_err("cannot save there")
        .to_string();
    assert!(
        error.contains("cannot create the snapshot folder"),
        "{error}"
    );
    assert!(error.contains("type another folder"), "{error}");
    // A "folder" that is a file.
    state.snapshot_dir = file.display().to_string();
    let error = state
        .save_snapshot()
        .expect_err("cannot save there")
        .to_string();
    assert!(error.contains("type another folder"), "{error}");
    // No frame yet.
    let names = common::class_names();
    let empty = AppState::new(
        names.clone(),
        DetectConfig::uniform(names.len(), 0.5),
        SettingsStore::none(),
    );
    let error = empty.save_snapshot().expect_err("no frame").to_string();
    assert!(error.contains("wait for the first picture"), "{error}");
}

/// What nokhwa's V4L2 backend returns for a camera another program holds.
fn busy() -> nokhwa::NokhwaError {
    nokhwa::NokhwaError::OpenStreamError("Device or resource busy (os error 16)".into())
}

#[test]
fn camera_errors_say_what_to_do() {
    let camera = CameraSelector::Index(0);
    let message = camera_error(&camera, &busy()).to_string();
    assert!(message.starts_with("camera 0: "), "{message}");
    assert!(message.contains("in use by another program"), "{message}");
    assert!(message.contains("close that program"), "{message}");
    assert!(
        message.contains("os error 16"),
        "the original cause stays: {message}"
    );

    let denied = nokhwa::NokhwaError::OpenDeviceError(
        "/dev/video0".into(),
        "Permission denied (os error 13)".into(),
    );
    let message = camera_error(&camera, &denied).to_string();
    assert!(message.contains("`video` group"), "{message}");

    let gone = nokhwa::NokhwaError::ReadFrameError("No such device (os error 19)".into());
    let message = camera_error(&CameraSelector::Name("HD".into()), &gone).to_string();
    assert!(message.contains("unplugged?"), "{message}");

    let other = nokhwa::NokhwaError::GeneralError("something else".into());
    assert_eq!(
        camera_error(&camera, &other).to_string(),
        "camera 0: Error: something else"
    );
}

/// A camera another program holds: every read fails as nokhwa's would.
struct BusyCamera;

impl FrameSource for BusyCamera {
    fn name(&self) -> String {
        "camera 0".into()
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        Err(camera_error(&CameraSelector::Index(0), &busy()))
    }
}

#[test]
fn a_busy_camera_shows_a_banner_that_says_what_to_do_and_is_retried() {
    let names = common::class_names();
    let mut pipeline = Pipeline::start(
        opener(BusyCamera),
        Box::new(NeverCalled),
        DetectConfig::uniform(names.len(), 0.5),
        Arc::new(|| {}),
    )
    .expect("threads start");
    let mut state = state_with_a_frame();
    let mut failures = 0;
    let start = Instant::now();
    while failures < 2 && start.elapsed() < Duration::from_secs(3) {
        for event in pipeline.events() {
            failures += usize::from(matches!(event, PipelineEvent::SourceFailed { .. }));
            state.on_event(event);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(pipeline.shutdown(Duration::from_secs(1)).joined);
    assert_eq!(failures, 2, "retried after the backoff");
    let banner = state.source.error.expect("a banner");
    assert!(banner.contains("in use by another program"), "{banner}");
    assert!(banner.contains("trying again in"), "{banner}");
}

struct NeverCalled;

impl tinyssd::pipeline::FrameProcessor for NeverCalled {
    fn process(
        &mut self,
        _image: &RgbImage,
        _config: &DetectConfig,
        _detections: &mut Vec<tinyssd::detect::Detection>,
    ) -> Result<tinyssd::detect::Timings, tinyssd::detect::DetectorError> {
        Err(tinyssd::detect::DetectorError::Panicked)
    }
}

#[test]
fn a_profile_that_cannot_be_used_is_reported_and_the_defaults_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut state = state_with_a_frame();
    let cases = [
        (
            "huge.json",
            vec![b' '; 2 * 1024 * 1024],
            "more than the 1048576 a threshold profile can be",
        ),
        (
            "bad.json",
            b"{\"thresholds\": [1, 2]}".to_vec(),
            "is not a threshold profile",
        ),
        (
            "range.json",
            b"{\"nms_iou\": 7}".to_vec(),
            "nms_iou is 7, not between 0 and 1",
        ),
    ];
    for (name, bytes, wanted) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        state.profile_path = path.display().to_string();
        state.thresholds[1] = 0.99;
        state.load_profile();
        let notice = state.notice.clone().expect("a notice");
        assert!(notice.is_error, "{name}");
        assert!(notice.text.contains(wanted), "{name}: {}", notice.text);
        assert!(
            notice.text.contains("the thresholds are unchanged"),
            "{}",
            notice.text
        );
        assert_eq!(state.thresholds[1], 0.99, "{name}: the user's value kept");
    }
}
