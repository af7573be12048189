//! Careless and hostile inputs: nothing the user made is lost (outputs never replace an
//! input, an earlier output of the run, or an existing file nobody said to replace),
//! no special file hangs a reader or fills the memory, no image bomb is decoded, and
//! nothing wrong passes without a word (truncated or rotated photos, duplicated ids,
//! bad class names, control characters, non-UTF-8 names, repeated causes).

mod common;

use common::{
    GOLDEN, assert_fails_saying, class_names, listing, repo_path, stderr, stdout, tinyssd,
};
use image::RgbImage;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detector, ImageReadError, ThresholdProfile, decode_image};
use tinyssd::eval::{DataOptions, Dataset, ProblemKind};
use tinyssd::pipeline::{Pipeline, PipelineEvent, SourceSpec};
use tinyssd::ui::{AppState, ProfileSaved, SettingsStore};

/// Longer than any of these runs takes, far shorter than a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn picture(width: u32, height: u32) -> RgbImage {
    image::open(repo_path("assets/chelsea.png"))
        .expect("asset")
        .resize_exact(width, height, image::imageops::FilterType::Triangle)
        .to_rgb8()
}

fn encoded(image: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
    path.to_path_buf()
}

/// Writes chelsea at `width` x `height` to `path`, encoded as its extension says.
fn write_picture(path: &Path, (width, height): (u32, u32)) -> PathBuf {
    let format = image::ImageFormat::from_path(path).expect("a picture's extension");
    write(path, &encoded(&picture(width, height), format))
}

/// `tinyssd detect IMAGE` with the golden model, drawing into `out_dir`.
fn detect_drawing_into<'a>(image: &'a str, out_dir: &'a Path) -> [&'a str; 6] {
    [
        "detect",
        image,
        "--model",
        GOLDEN,
        "--out-dir",
        text(out_dir),
    ]
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the binary; a run still going after [`DEADLINE`] is killed and fails the test.
fn tinyssd_within(args: &[&std::ffi::OsStr]) -> Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Drained while it runs, so that a full pipe cannot stall it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().expect("kill");
            panic!("tinyssd {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let collect = |reader: std::thread::JoinHandle<std::io::Result<Vec<u8>>>| {
        reader.join().expect("reader").expect("read")
    };
    Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    }
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(Into::into).collect()
}

fn run_within(args: &[&str]) -> Output {
    let args = os(args);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    tinyssd_within(&refs)
}

/// Runs `f` on a thread and fails the test if it has not returned by [`DEADLINE`].
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(f()));
    receive.recv_timeout(DEADLINE).expect("returned in time")
}

fn fifo(path: &Path) -> PathBuf {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    path.to_path_buf()
}

fn app_state(store: SettingsStore) -> AppState {
    AppState::new(class_names(), DetectConfig::uniform(21, 0.5), store)
}

#[test]
fn detect_never_draws_over_an_input_or_its_own_drawings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = picture(64, 48);
    let jpeg = write(
        &dir.path().join("a/photo.jpg"),
        &encoded(&small, image::ImageFormat::Jpeg),
    );
    let png = write(
        &dir.path().join("b/photo.png"),
        &encoded(&small, image::ImageFormat::Png),
    );
    let out = dir.path().join("out");
    // An input inside the output folder, under the name its drawing would take.
    let inside = write(
        &out.join("x.png"),
        &encoded(&small, image::ImageFormat::Png),
    );
    let original = read(&inside);
    let args = [
        "detect",
        text(&jpeg),
        text(&png),
        text(&inside),
        "--model",
        GOLDEN,
        "--out-dir",
        text(&out),
    ];
    let first = tinyssd(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(read(&inside), original, "the input is untouched");
    for name in ["photo.png", "photo-2.png", "x-2.png"] {
        assert!(out.join(name).is_file(), "{name}: {}", stdout(&first));
    }
    assert!(
        stdout(&first).contains(&format!("(drawn to {})", out.join("photo-2.png").display())),
        "{}",
        stdout(&first)
    );

    // A second run finds drawings there: it replaces none of them without --force.
    write(&out.join("photo.png"), b"mine");
    let again = tinyssd(&args);
    assert_fails_saying(
        &again,
        "photo.png exists already: pass --force to replace it",
    );
    assert_eq!(read(&out.join("photo.png")), b"mine");

    let forced = tinyssd(&[&args[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(read(&out.join("photo.png")), b"mine");
    assert_eq!(
        read(&inside),
        original,
        "not even --force replaces an input"
    );
}

/// A VOC root with one labelled image, `VOC2007/trainval.jsonl` listing `lines` times.
fn tiny_voc(dir: &Path, lines: usize) -> PathBuf {
    let image = picture(160, 120);
    write(
        &dir.join("VOC2007/JPEGImages/000001.jpg"),
        &encoded(&image, image::ImageFormat::Jpeg),
    );
    let line = r#"{"id": "000001", "width": 160, "height": 120, "objects": [{"name": "cat", "bbox": [20, 10, 120, 90]}]}"#;
    write(
        &dir.join("VOC2007/trainval.jsonl"),
        vec![line; lines].join("\n").as_bytes(),
    )
}

#[test]
fn tune_replaces_no_file_without_force_and_never_its_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let annotations = tiny_voc(dir.path(), 1);
    let mine = write(&dir.path().join("mine.json"), b"precious");
    let tune = |out: &Path, force: bool| {
        let mut args = vec![
            "tune",
            "--data",
            text(dir.path()),
            "--model",
            GOLDEN,
            "--out",
            text(out),
        ];
        if force {
            args.push("--force");
        }
        tinyssd(&args)
    };
    let refused = tune(&mine, false);
    assert_fails_saying(&refused, "mine.json exists already: pass --force");
    assert_eq!(read(&mine), b"precious");

    let original = read(&annotations);
    let input = tune(&annotations, true);
    assert_fails_saying(&input, "is an input of this run");
    assert_eq!(read(&annotations), original);

    let forced = tune(&mine, true);
    assert!(forced.status.success(), "{}", stderr(&forced));
    ThresholdProfile::load(&mine).expect("replaced by a profile");
}

#[test]
fn bench_keeps_an_existing_outputs_file_unless_forced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("input.safetensors");
    let zeros = vec![0_u8; 3 * 300 * 300 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 3, 300, 300], &zeros)
            .expect("a tensor");
    std::fs::write(
        &input,
        safetensors::serialize([("input", view)], None).expect("serialised"),
    )
    .expect("input written");
    let out = write(&dir.path().join("mine.safetensors"), b"precious");
    let bench = |extra: &[&str]| {
        let mut args = common::QUICK_BENCH.to_vec();
        args.extend(["--input", text(&input), "--save-outputs", text(&out)]);
        args.extend_from_slice(extra);
        tinyssd(&args)
    };
    let refused = bench(&[]);
    assert_fails_saying(&refused, "exists already: pass --force");
    assert_eq!(read(&out), b"precious");
    let forced = bench(&["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(read(&out).len() > 8, "replaced by the outputs");
}

#[test]
fn the_apps_save_asks_before_replacing_a_file_it_did_not_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir.path().join("mine.json"), b"precious");
    let mut state = app_state(SettingsStore::none());
    state.profile_path = path.display().to_string();
    assert_eq!(
        state.save_profile().expect("no error"),
        ProfileSaved::AskToReplace(path.clone())
    );
    assert_eq!(read(&path), b"precious");
    assert_eq!(
        state.save_profile().expect("saved"),
        ProfileSaved::Saved(path.clone())
    );
    ThresholdProfile::load(&path).expect("a profile now");
    // A file this run wrote is saved again without asking.
    state.thresholds[1] = 0.3;
    assert_eq!(
        state.save_profile().expect("saved"),
        ProfileSaved::Saved(path.clone())
    );
    assert_eq!(
        ThresholdProfile::load(&path).expect("loads").thresholds["aeroplane"],
        0.3
    );
}

#[test]
fn unreadable_settings_are_moved_aside_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir.path().join("settings.json"), b"{ broken but precious");
    let state = app_state(SettingsStore::at(path.clone()));
    let notice = state.notice.clone().expect("a notice").text;
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| text(p).contains("settings.json.broken-"))
        .collect();
    assert_eq!(aside.len(), 1, "{notice}");
    assert!(
        notice.contains(&format!("kept it as {}", aside[0].display())),
        "{notice}"
    );
    assert_eq!(read(&aside[0]), b"{ broken but precious");

    state.save_settings().expect("saved");
    let (_, problem) = SettingsStore::at(path).load();
    assert_eq!(problem, None, "the defaults were saved under the old name");
    assert_eq!(read(&aside[0]), b"{ broken but precious");
}

#[test]
fn saving_the_settings_never_replaces_a_file_beside_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.json");
    let mine = write(&dir.path().join("settings.json.tmp"), b"my own notes");
    let state = app_state(SettingsStore::at(path.clone()));
    state.save_settings().expect("saved");
    assert_eq!(
        read(&mine),
        b"my own notes",
        "a file of the temporary's name is kept"
    );
    let (_, problem) = SettingsStore::at(path).load();
    assert_eq!(problem, None, "the settings were saved");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| text(&e.expect("entry").path()).to_string())
        .collect();
    assert_eq!(names.len(), 2, "no temporary left behind: {names:?}");
}

#[test]
fn special_files_are_refused_at_once_not_read_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipe = fifo(&dir.path().join("pipe.json"));
    let named_pipe = "a named pipe (FIFO), not a regular file";

    let profile_pipe = pipe.clone();
    let notice = within(move || {
        let mut state = app_state(SettingsStore::none());
        state.profile_path = profile_pipe.display().to_string();
        state.load_profile();
        state.notice.map(|n| n.text)
    })
    .expect("a notice");
    assert!(notice.contains(named_pipe), "{notice}");

    let settings_pipe = fifo(&dir.path().join("settings.json"));
    let notice = within(move || {
        app_state(SettingsStore::at(settings_pipe))
            .notice
            .map(|n| n.text)
    })
    .expect("a notice");
    assert!(notice.contains(named_pipe), "{notice}");

    let voc = tempfile::tempdir().expect("temp dir");
    tiny_voc(voc.path(), 1);
    for (args, wanted) in [
        (vec!["detect", text(&pipe), "--model", GOLDEN], named_pipe),
        (
            vec!["detect", "assets/chelsea.png", "--model", "/dev/zero"],
            "cannot read /dev/zero: it is a device, not a regular file",
        ),
        (
            vec![
                "eval",
                "--data",
                text(voc.path()),
                "--model",
                GOLDEN,
                "--split",
                "/dev/zero",
            ],
            "cannot read /dev/zero: it is a device",
        ),
    ] {
        let out = run_within(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(wanted), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn error_messages_say_their_cause_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, cause) in [
        (
            vec!["detect", text(dir.path()), "--model", GOLDEN],
            "no PNG or JPEG images in this folder",
        ),
        (
            vec!["detect", "assets/chelsea.png", "--model", text(dir.path())],
            "a folder, not a regular file",
        ),
    ] {
        let out = tinyssd(&args);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert_eq!(err.matches(cause).count(), 1, "{err}");
        for line in err.lines() {
            let parts: Vec<&str> = line.split(": ").collect();
            assert!(parts.windows(2).all(|w| w[0] != w[1]), "repeated: {line}");
        }
    }
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    // 632 bytes of JPEG declaring 12000 x 12000 pixels (432 MB decoded).
    let bomb = read(&repo_path(
        "tests/fuzz/seeds/image_decode/bomb_12000x12000.jpg",
    ));
    let started = Instant::now();
    let error = decode_image(&bomb).expect_err("refused");
    assert!(
        matches!(
            error,
            ImageReadError::TooManyPixels {
                width: 12000,
                height: 12000
            }
        ),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "not decoded");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir.path().join("bomb.jpg"), &bomb);
    let out_dir = dir.path().join("out");
    let out = tinyssd(&detect_drawing_into(text(&path), &out_dir));
    assert_fails_saying(
        &out,
        "bomb.jpg: the image is too large to decode (12000 x 12000 is 144.0 megapixels; at most 50.0 are decoded)",
    );
    assert_eq!(std::fs::read_dir(&out_dir).expect("list").count(), 0);
}

#[test]
fn an_image_the_app_cannot_decode_is_reported_once_then_shown_when_it_changes() {
    let bomb = read(&repo_path(
        "tests/fuzz/seeds/image_decode/bomb_12000x12000.jpg",
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir.path().join("bomb.jpg"), &bomb);
    let detector = Detector::from_file(&repo_path(GOLDEN), 1).expect("golden weights");
    let mut pipeline = Pipeline::start(
        SourceSpec::Image(path.clone()).opener(Some(50.0)),
        Box::new(detector),
        DetectConfig::uniform(class_names().len(), 0.5),
        Arc::new(|| {}),
    )
    .expect("threads start");
    let mut events = Vec::new();
    let watch = |events: &mut Vec<PipelineEvent>,
                 how_long: Duration,
                 done: &dyn Fn(&[PipelineEvent]) -> bool| {
        let start = Instant::now();
        while start.elapsed() < how_long && !done(events) {
            events.extend(pipeline.events());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // At 50 fps with the old backoff this is five failed decodes; now one, then a wait.
    watch(&mut events, Duration::from_millis(1500), &|_| false);
    let failed = events
        .iter()
        .filter(|e| matches!(e, PipelineEvent::SourceFailed { .. }))
        .count();
    let waiting: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::SourceWaiting { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(failed, 1, "{events:?}");
    assert_eq!(waiting.len(), 1, "{events:?}");
    assert!(
        waiting[0].contains("too large to decode") && waiting[0].contains("once the file changes"),
        "{}",
        waiting[0]
    );

    // The user mends the file: it is read again and frames flow.
    std::fs::write(&path, encoded(&picture(64, 48), image::ImageFormat::Jpeg)).expect("mend");
    watch(&mut events, Duration::from_secs(10), &|events| {
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::SourceRecovered { .. }))
    });
    let mut shown = pipeline.try_recv();
    let start = Instant::now();
    while shown.is_none() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
        shown = pipeline.try_recv();
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::SourceRecovered { .. })),
        "{events:?}"
    );
    let shown = shown.expect("a frame of the mended file");
    assert_eq!(shown.image.dimensions(), (64, 48));
    pipeline.shutdown(Duration::from_secs(1));
}

#[test]
fn a_truncated_jpeg_is_reported_not_padded_with_grey() {
    let full = encoded(&picture(160, 120), image::ImageFormat::Jpeg);
    let cut = &full[..full.len() * 2 / 3];
    assert!(
        matches!(decode_image(cut), Err(ImageReadError::Truncated)),
        "{:?}",
        decode_image(cut).map(|i| i.dimensions())
    );
    // What follows the end marker (phones append videos) is no truncation.
    let trailing = [&full[..], b"\xFF\xDAappended data"].concat();
    assert_eq!(
        decode_image(&trailing).expect("decodes").dimensions(),
        (160, 120)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(&dir.path().join("cut.jpg"), cut);
    let out = tinyssd(&["detect", text(&path), "--model", GOLDEN]);
    assert_fails_saying(&out, "cut.jpg: the image data ends early");
}

#[test]
fn exif_orientation_turns_the_picture_upright() {
    let plain = encoded(&picture(40, 20), image::ImageFormat::Jpeg);
    // APP1 Exif, little-endian TIFF, one IFD entry: Orientation (0x0112) = 6, "rotate
    // 90 degrees clockwise to display".
    let mut exif = b"\xFF\xE1\x00\x22Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00".to_vec();
    exif.extend_from_slice(b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00");
    let rotated = [&plain[..2], &exif, &plain[2..]].concat();
    let upright = decode_image(&rotated).expect("decodes");
    assert_eq!(upright.dimensions(), (20, 40));
    let expected = image::imageops::rotate90(&decode_image(&plain).expect("decodes"));
    assert_eq!(upright, expected);
}

#[test]
fn a_thread_count_beyond_the_machine_is_refused_with_the_bound() {
    let out = run_within(&[
        "detect",
        "assets/chelsea.png",
        "--model",
        GOLDEN,
        "--threads",
        "100000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("100000 threads is too many: at most"), "{err}");
    assert!(err.contains("per core"), "{err}");
}

#[test]
fn control_characters_in_file_names_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shown = write_picture(&dir.path().join("title\u{1b}]0;pwned\u{7}.png"), (64, 48));
    let missing = dir.path().join("clear\u{1b}[2J.png");
    let out = tinyssd(&["detect", text(&shown), text(&missing), "--model", GOLDEN]);
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    assert!(
        stdout.contains("title\\u{1b}]0;pwned\\u{7}.png: "),
        "{stdout}"
    );
    assert!(
        stderr.contains("clear\\u{1b}[2J.png: cannot open"),
        "{stderr}"
    );
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'));
}

// A name that is not UTF-8 is made of bytes on Unix; Windows names are UTF-16.
#[cfg(unix)]
#[test]
fn json_output_is_whole_whatever_the_file_names() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let latin1 = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xE9.png"));
    write_picture(&latin1, (64, 48));
    let out = tinyssd_within(&[
        "detect".as_ref(),
        latin1.as_os_str(),
        "assets/coffee.png".as_ref(),
        "--model".as_ref(),
        GOLDEN.as_ref(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("whole JSON");
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 2);
    let name = reports[0]["image"].as_str().expect("a string");
    assert!(name.ends_with("caf\u{FFFD}.png"), "{name}");
    assert_eq!(reports[1]["image"], "assets/coffee.png");
}

#[test]
fn a_duplicated_image_id_counts_once_and_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    tiny_voc(dir.path(), 2);
    let dataset =
        Dataset::load(dir.path(), &DataOptions::default(), &class_names()).expect("loads");
    assert_eq!(dataset.samples.len(), 1);
    assert_eq!(dataset.problems.count(ProblemKind::DuplicateId), 1);
    assert_eq!(dataset.problems.len(), 1);
}

/// Runs the binary from `sh` after `setup` (a limit, a closed descriptor).
fn tinyssd_after(setup: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("{setup}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tinyssd"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sh runs")
}

#[cfg(unix)]
#[test]
fn forced_outputs_replace_links_in_the_folder_never_what_they_point_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photo = write_picture(&dir.path().join("photo.png"), (64, 48));
    let precious = write(&dir.path().join("notes.txt"), b"my notes");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::os::unix::fs::symlink(&precious, out.join("photo.png")).expect("link");
    let run = tinyssd(&[&detect_drawing_into(text(&photo), &out)[..], &["--force"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        read(&precious),
        b"my notes",
        "the link's target is untouched"
    );
    let drawn = out.join("photo.png");
    assert!(!drawn.symlink_metadata().expect("there").is_symlink());
    image::open(&drawn).expect("the link was replaced by the drawing");
}

#[test]
fn a_write_cut_by_a_file_size_limit_leaves_no_file_and_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photo = write_picture(&dir.path().join("photo.png"), (640, 480));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    // Tens of KiB (sh counts blocks): the model and the photo are read, the drawing
    // (~500 KB) cannot be written.
    let run = tinyssd_after("ulimit -f 32", &detect_drawing_into(text(&photo), &out));
    assert_fails_saying(&run, "cannot write");
    assert_eq!(
        listing(&out),
        (vec![], vec![]),
        "no half drawing, no temporary"
    );
}

#[test]
fn a_killed_run_leaves_only_whole_drawings_under_their_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bytes = encoded(&picture(1280, 960), image::ImageFormat::Png);
    let images: Vec<PathBuf> = (0..60)
        .map(|i| write(&dir.path().join(format!("in/{i:02}.png")), &bytes))
        .collect();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["detect", "--model", GOLDEN, "--out-dir", text(&out)])
        .args(&images)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let started = Instant::now();
    while !(out.is_dir() && listing(&out).0.len() >= 3) && started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("ends");
    assert!(!status.success(), "killed before the 60 drawings were done");
    let (drawn, _) = listing(&out);
    assert!(drawn.len() < images.len(), "{drawn:?}");
    for name in &drawn {
        image::open(out.join(name)).unwrap_or_else(|e| panic!("{name} is cut short: {e}"));
    }
}

#[test]
fn the_detection_log_never_appends_to_a_file_that_is_not_a_log_of_ours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = write(
        &dir.path().join("model.safetensors"),
        &read(Path::new(GOLDEN)),
    );
    let notes = write(&dir.path().join("notes.jsonl"), b"{\"mine\": true}\n");
    let run = |log: &Path| {
        let args = [
            "--no-persist",
            "--source",
            "demo",
            "--model",
            text(&model),
            "--log",
            text(log),
        ];
        tinyssd_after("unset DISPLAY WAYLAND_DISPLAY", &args)
    };
    let into_model = run(&model);
    assert_fails_saying(&into_model, "it is one of this run's inputs");
    let into_notes = run(&notes);
    assert_fails_saying(&into_notes, "its first line is not a tinyssd log line");
    assert_eq!(read(&model), read(Path::new(GOLDEN)));
    assert_eq!(read(&notes), b"{\"mine\": true}\n");
    #[cfg(unix)]
    {
        let link = dir.path().join("log.jsonl");
        std::os::unix::fs::symlink(&notes, &link).expect("link");
        let through_link = run(&link);
        common::assert_stderr_says(&through_link, "it is a symbolic link");
        assert_eq!(read(&notes), b"{\"mine\": true}\n");
    }
}

#[test]
fn printing_to_a_closed_stdout_is_an_error_and_a_closed_pipe_is_not() {
    let args = ["detect", "assets/coffee.png", "--model", GOLDEN];
    let closed = tinyssd_after("exec >&-", &args);
    assert_fails_saying(&closed, "standard output is closed");
    // A reader that stops early (`| head -c 1`) is not an error: the pipe's writer
    // stops quietly, as ripgrep does.
    let piped = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" \"$@\" | head -c 1 >/dev/null")
        .arg(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["detect", "--model", GOLDEN])
        .args(vec!["assets/coffee.png"; 40])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sh runs");
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(stderr(&piped), "", "no message for a reader that stopped");
}

#[cfg(unix)]
#[test]
fn a_settings_file_that_is_a_link_is_updated_through_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dotfiles = dir.path().join("dotfiles");
    std::fs::create_dir(&dotfiles).expect("mkdir");
    let target = dotfiles.join("tinyssd.json");
    let link = dir.path().join("settings.json");
    std::os::unix::fs::symlink(&target, &link).expect("link");
    let mut state = app_state(SettingsStore::at(link.clone()));
    state.thresholds[1] = 0.42;
    state.save_settings().expect("saved");
    assert!(
        link.symlink_metadata().expect("there").is_symlink(),
        "still a link"
    );
    let (settings, problem) = SettingsStore::at(target).load();
    assert_eq!(problem, None);
    assert_eq!(settings.profile.thresholds["aeroplane"], 0.42);
    assert_eq!(
        listing(&dotfiles).1,
        Vec::<String>::new(),
        "no temporary left"
    );
}

#[test]
fn tune_keeps_the_models_own_value_for_a_class_it_cannot_judge() {
    let dir = tempfile::tempdir().expect("temp dir");
    tiny_voc(dir.path(), 1); // one photo, one cat: no bicycle to judge
    let out = dir.path().join("tuned.json");
    let model = "models/tinyssd_voc.safetensors";
    let run = tinyssd(&[
        "tune",
        "--data",
        text(dir.path()),
        "--model",
        model,
        "--out",
        text(&out),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let shipped = tinyssd::model::Model::load(&repo_path(model)).expect("the shipped model");
    let own = shipped.metadata.class_score_thresholds["bicycle"];
    let tuned = ThresholdProfile::load(&out).expect("a profile");
    assert_eq!(tuned.thresholds["bicycle"], own, "{}", stdout(&run));
    assert!(
        stdout(&run).contains("the model's value kept"),
        "{}",
        stdout(&run)
    );
}

#[test]
fn an_image_id_cannot_reach_outside_the_data_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("voc");
    tiny_voc(&root, 1);
    // A photo outside the data root, which an id with ".." would name.
    write_picture(&dir.path().join("secret.jpg"), (160, 120));
    let escaping = r#"{"id": "../../../secret", "width": 160, "height": 120, "objects": []}"#;
    let listed = std::fs::read_to_string(root.join("VOC2007/trainval.jsonl")).expect("read");
    write(
        &root.join("VOC2007/trainval.jsonl"),
        format!("{listed}\n{escaping}\n").as_bytes(),
    );
    let dataset = Dataset::load(&root, &DataOptions::default(), &class_names()).expect("loads");
    assert_eq!(dataset.samples.len(), 1, "only the plain id");
    assert_eq!(dataset.problems.count(ProblemKind::MalformedRecord), 1);
}

#[test]
fn detections_are_printed_even_when_their_drawing_cannot_be_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    // A folder where the drawing should go: nothing can be written there.
    std::fs::create_dir_all(out.join("coffee.png")).expect("mkdir");
    let args = detect_drawing_into("assets/coffee.png", &out);
    let run = tinyssd(&[&args[..], &["--json", "--force"]].concat());
    assert_fails_saying(&run, "it is a folder");
    let reports: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("whole JSON");
    assert_eq!(reports[0]["image"], "assets/coffee.png");
    assert!(reports[0].get("drawn_to").is_none());
}
