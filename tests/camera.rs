//! The camera path against a fake V4L2 camera: `tests/fake_camera/shim.c`, compiled
//! here with the system `cc` and loaded with `LD_PRELOAD` into a child process (this
//! test binary again, running one of its ignored `child_*` tests). The child runs the
//! real `list_cameras`, `CameraSource` and pipeline (nokhwa and v4l included) and
//! checks what a user would see; the parent checks that the child passed. Skipped,
//! with a note, where there is no `cc` or the system is not Linux.

mod common;

use common::app::FakeProcessor;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tinyssd::detect::DetectConfig;
use tinyssd::pipeline::{
    CameraEntry, CameraSelector, CameraSource, FrameSource, Pipeline, PipelineEvent, SourceSpec,
    list_cameras,
};

const CAMERA_NAME: &str = "Fake HD Webcam";
/// The sizes the fake camera sends as MJPEG (its frames are these files).
const JPEG_SIZES: [(u32, u32); 2] = [(1280, 720), (1920, 1080)];
/// A child that takes longer than this is stuck.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

// ---- the parent side ----

/// The shim and the folder of MJPEG frames, built once; None (and each caller says
/// why it is skipped) where the fake camera cannot run.
fn fake_camera() -> Option<&'static (PathBuf, PathBuf)> {
    static BUILT: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    let built = BUILT.get_or_init(build_fake_camera);
    if let Err(reason) = built {
        eprintln!("skipped: {reason}");
    }
    built.as_ref().ok()
}

/// Compiles the shim and writes the MJPEG frames; Err says why the fake camera
/// cannot run here.
fn build_fake_camera() -> Result<(PathBuf, PathBuf), String> {
    if !cfg!(target_os = "linux") {
        return Err("the fake camera is a V4L2 (Linux) shim".into());
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake_camera");
    std::fs::create_dir_all(&dir).expect("a folder for the fake camera");
    let library = dir.join("libfake_camera.so");
    let compiled = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-std=gnu11", "-Wall", "-Wextra"])
        .args(["-Werror", "-Wpedantic", "-o"])
        .arg(&library)
        .arg(common::repo_path("tests/fake_camera/shim.c"))
        .args(["-ldl", "-lpthread"])
        .output();
    match compiled {
        Err(error) => {
            return Err(format!("no C compiler (`cc`: {error})"));
        }
        Ok(out) if !out.status.success() => {
            let errors = String::from_utf8_lossy(&out.stderr);
            if errors.contains("videodev2.h") {
                return Err("no linux/videodev2.h (apt install linux-libc-dev)".into());
            }
            panic!("the shim compiles: {errors}");
        }
        Ok(_) => {}
    }
    for (width, height) in JPEG_SIZES {
        quadrants(width, height)
            .save(dir.join(format!("{width}x{height}.jpg")))
            .expect("a JPEG frame");
    }
    Ok((library, dir))
}

/// Runs the ignored test `child` in a child process under the fake camera's
/// `scenario`, and fails with its output unless it passed.
fn run_child(scenario: &str, child: &str) {
    let Some((library, jpeg_dir)) = fake_camera() else {
        return;
    };
    let started = Instant::now();
    let mut process = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            child,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LD_PRELOAD", library)
        .env("FAKE_CAMERA", scenario)
        .env("FAKE_CAMERA_JPEG_DIR", jpeg_dir)
        .env("RUST_LOG", "tinyssd=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    while process.try_wait().expect("the child").is_none() {
        if started.elapsed() > CHILD_LIMIT {
            let _ = process.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = process.wait_with_output().expect("the child's output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{child} under FAKE_CAMERA={scenario} ({:?}):\n{text}",
        started.elapsed()
    );
    assert!(
        text.contains("1 passed"),
        "{child} ran (not filtered away):\n{text}"
    );
    assert!(
        !text.contains("fake camera: unknown ioctl"),
        "every ioctl the camera path issues is one the fake camera knows:\n{text}"
    );
    eprintln!("{scenario}: passed in {:?}", started.elapsed());
}

#[test]
fn a_laptop_camera_is_found_past_its_metadata_node_and_read_at_640x480() {
    run_child("laptop", "child_laptop");
}

#[test]
fn an_hd_only_camera_gives_720p_and_its_undecodable_first_frame_is_skipped() {
    run_child("hd", "child_hd");
}

#[test]
fn a_yuyv_camera_is_read_at_640x480() {
    run_child("yuyv", "child_yuyv");
}

#[test]
fn an_nv12_camera_with_padded_buffers_gives_the_right_picture() {
    run_child("nv12", "child_nv12");
}

#[test]
fn a_camera_without_a_format_we_decode_is_not_listed_and_says_what_it_offers() {
    run_child("bayer", "child_bayer");
}

#[test]
fn a_busy_camera_says_another_program_has_it() {
    run_child("busy", "child_busy");
}

#[test]
fn a_camera_we_may_not_open_says_how_to_get_access() {
    run_child("denied", "child_denied");
}

#[test]
fn an_unplugged_camera_is_reported_and_picked_up_again_when_it_returns() {
    run_child("unplug", "child_unplug");
}

#[test]
fn a_stalled_camera_is_noticed_closed_and_reopened() {
    run_child("stall", "child_stall");
}

#[test]
fn shutdown_during_a_stall_is_quick_and_releases_the_camera() {
    run_child("stall", "child_stall_shutdown");
}

/// The real app, started with no `--source` under Xvfb, opens the capture node (not
/// the metadata node nokhwa lists first) at 640x480 and runs on it without a
/// complaint, as its log says. Skipped without `Xvfb` (CI has none; `scripts/setup.sh
/// --with-screenshot` installs it).
#[test]
fn the_app_opens_the_real_camera_by_default() {
    let Some((library, _)) = fake_camera() else {
        return;
    };
    let Some(screen) = common::app::VirtualScreen::start() else {
        return;
    };
    // The interrupt closes the app as Quit does.
    let run = Command::new("timeout")
        .args(["-s", "INT", "3"])
        .arg(env!("CARGO_BIN_EXE_tinyssd"))
        .arg("--no-persist")
        .env("DISPLAY", screen.display())
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("RUST_LOG", "tinyssd=info")
        .env("LD_PRELOAD", library)
        .env("FAKE_CAMERA", "laptop")
        .current_dir(common::repo_path(""))
        .output();
    drop(screen);
    let log = String::from_utf8_lossy(&run.expect("the app runs").stderr).into_owned();
    assert!(
        log.contains("opened camera 0: Fake HD Webcam (640x480 30 fps)"),
        "{log}"
    );
    assert!(!log.contains(" WARN ") && !log.contains(" ERROR "), "{log}");
}

// ---- what the frames show ----

/// The fake camera's picture: top left red, top right green, bottom left blue,
/// bottom right white.
fn quadrants(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
        let quadrant = usize::from(y >= height / 2) * 2 + usize::from(x >= width / 2);
        Rgb(colours[quadrant])
    })
}

/// The frame is `width` x `height` and shows the quadrants the right way up.
fn assert_quadrants(image: &RgbImage, (width, height): (u32, u32)) {
    assert_eq!((image.width(), image.height()), (width, height));
    assert_eq!(image.as_raw().len(), (width * height * 3) as usize);
    let expected = quadrants(width, height);
    for (x, y) in [(1, 1), (3, 1), (1, 3), (3, 3)] {
        let (x, y) = (width * x / 4, height * y / 4);
        let got = image.get_pixel(x, y).0;
        let want = expected.get_pixel(x, y).0;
        let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 40);
        assert!(close, "pixel ({x}, {y}) is {got:?}, not about {want:?}");
    }
}

// ---- the children (run only by the tests above, under the fake camera) ----

fn camera_zero() -> CameraSource {
    CameraSource::new(CameraSelector::Index(0))
}

/// The fake camera's nodes this process has open (/proc/self/fd).
fn held_nodes() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("/memfd:fake-video") && !target.contains("-name"))
        .collect()
}

fn start_pipeline(spec: &str) -> Pipeline {
    let spec: SourceSpec = spec.parse().expect("a source");
    Pipeline::start(
        spec.opener(None),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        Arc::new(|| {}),
    )
    .expect("threads start")
}

/// Reads the pipeline until `done` says so (given the frames and events so far) or
/// `limit` passes; checks every frame shown.
fn watch(
    pipeline: &Pipeline,
    size: (u32, u32),
    limit: Duration,
    done: impl Fn(usize, &[PipelineEvent]) -> bool,
) -> (usize, Vec<PipelineEvent>) {
    let start = Instant::now();
    let mut frames = 0;
    let mut events = Vec::new();
    while start.elapsed() < limit && !done(frames, &events) {
        if let Some(result) = pipeline.try_recv() {
            assert_quadrants(&result.image, size);
            frames += 1;
        }
        events.extend(pipeline.events());
        std::thread::sleep(Duration::from_millis(2));
    }
    (frames, events)
}

fn failures(events: &[PipelineEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|event| match event {
            PipelineEvent::SourceFailed { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

fn recovered(events: &[PipelineEvent]) -> bool {
    events
        .iter()
        .any(|event| matches!(event, PipelineEvent::SourceRecovered { .. }))
}

/// Shuts the pipeline down within a second and leaves no camera node open.
fn assert_quick_clean_shutdown(mut pipeline: Pipeline) {
    let report = pipeline.shutdown(Duration::from_secs(1));
    assert!(report.joined, "every thread stopped in time: {report:?}");
    assert!(report.elapsed < Duration::from_secs(1), "{report:?}");
    drop(pipeline);
    assert_eq!(held_nodes(), Vec::<String>::new(), "the camera is released");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_laptop() {
    // nokhwa lists the metadata node first, as /dev on tmpfs does.
    let listed: Vec<String> = nokhwa::query(nokhwa::utils::ApiBackend::Auto)
        .expect("nokhwa lists the fake nodes")
        .iter()
        .map(|info| info.index().to_string())
        .collect();
    assert_eq!(listed, ["1", "0"]);
    let only_capture = vec![CameraEntry {
        index: 0,
        name: CAMERA_NAME.into(),
    }];
    assert_eq!(list_cameras().expect("a list"), only_capture);

    // By name (both nodes have it) and by index: the capture node, at 640x480 YUYV
    // rather than its first format (720p MJPEG); its buffers are page-padded.
    for selector in [
        CameraSelector::Name("hd webcam".into()),
        CameraSelector::Index(0),
    ] {
        let mut camera = CameraSource::new(selector);
        for _ in 0..3 {
            assert_quadrants(&camera.next_frame().expect("a frame"), (640, 480));
        }
        let name = camera.name();
        assert!(
            name.starts_with("camera 0: Fake HD Webcam (640x480"),
            "{name}"
        );
    }
    assert_eq!(held_nodes(), Vec::<String>::new(), "closed when dropped");

    // Through the pipeline, as the app's default camera.
    let pipeline = start_pipeline("camera");
    let (frames, events) = watch(&pipeline, (640, 480), Duration::from_secs(3), |n, _| {
        n >= 10
    });
    assert!(frames >= 10, "frames shown: {frames}; {events:?}");
    assert_eq!(failures(&events), Vec::<&str>::new());
    assert_quick_clean_shutdown(pipeline);
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_hd() {
    // The first frame of the stream is zeros: skipped without an error.
    let mut camera = camera_zero();
    for _ in 0..3 {
        assert_quadrants(&camera.next_frame().expect("a frame"), (1280, 720));
    }
    assert!(
        camera.name().contains("(1280x720 30 fps)"),
        "{}",
        camera.name()
    );
    drop(camera);
    let pipeline = start_pipeline("camera:0");
    let (frames, events) = watch(&pipeline, (1280, 720), Duration::from_secs(3), |n, _| {
        n >= 5
    });
    assert!(frames >= 5, "frames shown: {frames}; {events:?}");
    assert_eq!(failures(&events), Vec::<&str>::new(), "no banner");
    assert_quick_clean_shutdown(pipeline);
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_yuyv() {
    let mut camera = camera_zero();
    assert_quadrants(&camera.next_frame().expect("a frame"), (640, 480));
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_nv12() {
    let mut camera = camera_zero();
    for _ in 0..3 {
        assert_quadrants(&camera.next_frame().expect("a frame"), (640, 480));
    }
}

/// The camera cannot be opened: the error says why and what to do, every try.
fn assert_open_fails_with(advice: &str) {
    let mut camera = camera_zero();
    for _ in 0..2 {
        let message = camera.next_frame().expect_err("no frame").to_string();
        assert!(message.contains(advice), "{message}");
    }
    assert_eq!(list_cameras().expect("a list").len(), 1, "still listed");
    assert_eq!(held_nodes(), Vec::<String>::new(), "nothing left open");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_bayer() {
    // A raw sensor node (as Intel IPU6 laptops have) is not listed, so the app
    // starts on the demo; asked for by index, it says what it offers.
    assert_eq!(list_cameras().expect("a list"), Vec::new());
    let mut camera = camera_zero();
    let message = camera.next_frame().expect_err("no frame").to_string();
    let offers = "it offers no format this app can decode (it offers: RGGB)";
    assert!(message.contains(offers), "{message}");
    drop(camera);
    assert_eq!(held_nodes(), Vec::<String>::new(), "nothing left open");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_busy() {
    assert_open_fails_with("in use by another program");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_denied() {
    assert_open_fails_with("join the `video` group");
}

/// Frames flow, then the camera fails with `failure` in the banner, then frames flow
/// again (within `limit`); then a quick, clean shutdown.
fn assert_fails_and_recovers(limit: Duration, failure: &str) {
    let pipeline = start_pipeline("camera:0");
    let (frames, events) = watch(&pipeline, (640, 480), limit, |n, events| {
        n >= 8 && recovered(events)
    });
    let failed = failures(&events);
    assert!(
        failed.iter().any(|m| m.contains(failure)),
        "reported as '{failure}': {failed:?}"
    );
    assert!(recovered(&events), "picked up again: {events:?}");
    assert!(frames >= 8, "frames before and after: {frames}");
    assert_quick_clean_shutdown(pipeline);
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_unplug() {
    assert_fails_and_recovers(Duration::from_secs(5), "it is not there (unplugged?)");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_stall() {
    assert_fails_and_recovers(Duration::from_secs(8), "it stopped sending frames");
}

#[test]
#[ignore = "run by the test above it under the fake camera"]
fn child_stall_shutdown() {
    let pipeline = start_pipeline("camera:0");
    let (frames, _) = watch(&pipeline, (640, 480), Duration::from_secs(3), |n, _| n >= 5);
    assert!(frames >= 3, "frames before the stall: {frames}");
    // The fifth frame was the last; the capture thread now waits on the camera.
    std::thread::sleep(Duration::from_millis(300));
    assert_quick_clean_shutdown(pipeline);
}
