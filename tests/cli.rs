//! `tinyssd detect` end to end, through the real binary.

mod common;

use common::{GOLDEN, assert_fails_saying, stderr, stdout, tinyssd};

/// `tinyssd detect` on chelsea.png with the golden model at threshold 0.3.
const DETECT_CHELSEA: [&str; 6] = [
    "detect",
    "assets/chelsea.png",
    "--model",
    GOLDEN,
    "--threshold",
    "0.3",
];

#[test]
fn detect_prints_detections_and_writes_an_annotated_png() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().to_str().expect("utf-8 temp path");
    let out = tinyssd(&[&DETECT_CHELSEA[..], &["--out-dir", out_dir]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().expect("a summary line");
    assert!(
        first.starts_with("assets/chelsea.png: ") && first.contains("detection"),
        "{text}"
    );
    // The golden weights are random but confident, so boxes do appear.
    assert!(text.lines().count() > 1, "{text}");

    let original = image::open(common::repo_path("assets/chelsea.png")).expect("asset");
    let annotated = image::open(dir.path().join("chelsea.png")).expect("annotated PNG written");
    assert_eq!(
        (annotated.width(), annotated.height()),
        (original.width(), original.height())
    );
    assert_ne!(annotated.to_rgb8(), original.to_rgb8(), "boxes were drawn");
}

#[test]
fn detect_json_is_machine_readable() {
    let out = tinyssd(&[
        "detect",
        "assets/astronaut.png",
        "assets/coffee.png",
        "--model",
        GOLDEN,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["image"], "assets/astronaut.png");
    assert_eq!(reports[0]["width"], 512);
    let detections = reports[0]["detections"].as_array().expect("detections");
    assert!(!detections.is_empty(), "the golden model finds boxes");
    for d in detections {
        let score = d["score"].as_f64().expect("score");
        assert!(
            (0.4..=1.0).contains(&score),
            "default threshold from the model applies: {score}"
        );
        // The form the app's --log lines use too.
        let keys: Vec<&String> = d.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["box", "class", "score"]);
        assert!(d["class"].is_string());
        let corners = d["box"].as_array().expect("[x_min, y_min, x_max, y_max]");
        assert_eq!(corners.len(), 4);
        assert!(corners[2].as_f64() <= Some(512.0));
    }
}

#[test]
fn missing_and_non_image_files_fail_clearly_but_others_still_run() {
    let out = tinyssd(&[
        "detect",
        "no_such.png",
        "Cargo.toml",
        "assets/chelsea.png",
        "--model",
        GOLDEN,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("no_such.png: cannot open"), "{err}");
    // A file whose name says no PNG or JPEG is taken for a video, as the app takes it.
    assert!(
        err.contains("Cargo.toml: not a video ffmpeg can read")
            || err.contains("Cargo.toml: ffprobe is not installed"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("assets/chelsea.png: "),
        "the good image still ran"
    );
}

/// The detections of `detect --json` on chelsea.png with the golden model, as
/// (class, score, box) and the largest IoU between boxes of different classes.
fn chelsea_detections(extra: &[&str]) -> (Vec<(String, f64, [f64; 4])>, f64) {
    let out = tinyssd(&[&DETECT_CHELSEA[..], &["--json"], extra].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    let found: Vec<(String, f64, [f64; 4])> = reports[0]["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            let at = |i: usize| d["box"][i].as_f64().expect("a coordinate");
            (
                d["class"].as_str().expect("class").to_string(),
                d["score"].as_f64().expect("score"),
                [at(0), at(1), at(2), at(3)],
            )
        })
        .collect();
    let iou = |a: &[f64; 4], b: &[f64; 4]| {
        let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
        let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
        w * h / (area(a) + area(b) - w * h)
    };
    let mut largest: f64 = 0.0;
    for (i, a) in found.iter().enumerate() {
        for b in &found[..i] {
            if a.0 != b.0 {
                largest = largest.max(iou(&a.2, &b.2));
            }
        }
    }
    (found, largest)
}

#[test]
fn cross_class_iou_drops_boxes_lying_on_a_better_box_of_another_class() {
    // The golden model's boxes of different classes overlap by up to 0.41 here.
    let (off, largest_off) = chelsea_detections(&[]);
    assert!(largest_off > 0.2, "{largest_off}");
    assert_eq!(chelsea_detections(&["--cross-class-iou", "off"]).0, off);

    let (on, largest_on) = chelsea_detections(&["--cross-class-iou", "0.2"]);
    assert!(largest_on <= 0.2, "{largest_on}");
    assert_ne!(on, off);
    assert_eq!(on[0], off[0], "the best box stays");
    // Freed places go to the next boxes: still at most 200, best first.
    assert!(on.len() <= 200 && on.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn a_corrupt_image_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.png");
    let bytes = std::fs::read(common::repo_path("assets/chelsea.png")).expect("asset");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("write");
    let out = tinyssd(&["detect", path.to_str().expect("utf-8"), "--model", GOLDEN]);
    assert_fails_saying(&out, "broken.png: not a readable PNG or JPEG image");
}

#[test]
fn bad_arguments_and_bad_models_exit_2_with_a_message() {
    let fails_with = |args: &[&str], message: &str| {
        let out = tinyssd(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    };
    let detect = |extra: &[&'static str]| [&["detect", "assets/chelsea.png"][..], extra].concat();
    for (extra, message) in [
        (["--threshold", "1.5"], "1.5 is not between 0 and 1"),
        (
            ["--cross-class-iou", "1.5"],
            "1.5 is not between 0 and 1 (or `off`)",
        ),
        (
            ["--cross-class-iou", "on"],
            "'on' is not a number (or `off`)",
        ),
        (
            ["--model", "missing.safetensors"],
            "cannot read missing.safetensors",
        ),
        (["--model", "assets/coffee.png"], "not a safetensors file"),
    ] {
        fails_with(&detect(&extra), message);
    }
}

#[test]
fn detect_runs_on_a_folders_images_in_name_order_and_reports_what_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("nested")).expect("folders");
    let asset = |name: &str| std::fs::read(common::repo_path(name)).expect("asset");
    std::fs::write(photos.join("b.png"), asset("assets/chelsea.png")).expect("write");
    std::fs::write(photos.join("a.PNG"), asset("assets/coffee.png")).expect("write");
    std::fs::write(photos.join("nested/c.png"), asset("assets/coffee.png")).expect("write");
    std::fs::write(photos.join("notes.txt"), "not an image").expect("write");
    let folder = photos.to_str().expect("utf-8 temp path");
    let summaries = |out: &std::process::Output| -> Vec<String> {
        stdout(out)
            .lines()
            .filter(|line| !line.starts_with(' '))
            .map(|line| line.split(": ").next().unwrap_or_default().to_string())
            .collect()
    };

    let out = tinyssd(&["detect", folder, "--model", GOLDEN]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = [format!("{folder}/a.PNG"), format!("{folder}/b.png")];
    assert_eq!(
        summaries(&out),
        expected,
        "its images, sorted, sub-folders not entered"
    );

    // A broken image in it and an empty folder beside it: reported, the rest still run, exit 2.
    std::fs::write(photos.join("c.jpg"), "not a JPEG").expect("write");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("folder");
    let out = tinyssd(&[
        "detect",
        folder,
        empty.to_str().expect("utf-8"),
        "assets/astronaut.png",
        "--model",
        GOLDEN,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("c.jpg: not a readable PNG or JPEG image"),
        "{err}"
    );
    assert!(
        err.contains("empty: no PNG or JPEG images in this folder"),
        "{err}"
    );
    assert_eq!(
        summaries(&out),
        [&expected[..], &["assets/astronaut.png".to_string()]].concat()
    );
}

#[test]
fn each_command_explains_its_own_threads() {
    let threads_help = |command: &str| -> String {
        let out = tinyssd(&[command, "--help"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let line = text
            .lines()
            .find(|line| line.trim_start().starts_with("--threads"))
            .unwrap_or_else(|| panic!("{command} --help lists --threads: {text}"));
        line.to_string()
    };
    for (commands, says) in [
        (["detect", "bench"], "Inference threads for the network"),
        (["eval", "tune"], "Images detected at once"),
    ] {
        for command in commands {
            let help = threads_help(command);
            assert!(help.contains(says), "{command}: {help}");
            assert!(!help.contains("window"), "{command}: {help}");
        }
    }
    if cfg!(feature = "app") {
        let help = threads_help("app");
        assert!(help.contains("every core but one"), "app: {help}");
    }
}

#[test]
fn bench_says_its_throughput_counts_the_work_winograd_saves() {
    let bench = |extra: &[&str]| {
        let out = tinyssd(&[&common::QUICK_BENCH[..], extra].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let text = bench(&[]);
    assert!(
        text.contains("GMAC/s and % of peak are effective")
            && text.contains("the multiplications Winograd saves count as work done"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_str(&bench(&["--json"])).expect("JSON");
    assert!(
        report["macs_counted"]
            .as_str()
            .is_some_and(|s| s.contains("Winograd")),
        "{report}"
    );
}

/// `--fp32-kernel` times the kernel asked for, which the report names, and refuses one
/// this CPU lacks.
#[test]
fn bench_times_the_fp32_kernel_asked_for() {
    let out = tinyssd(&[&common::QUICK_BENCH[..], &["--fp32-kernel", "portable"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("fp32 (Portable kernel)"),
        "{}",
        stdout(&out)
    );
    let lacking = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx512"
    };
    let out = tinyssd(&[&common::QUICK_BENCH[..], &["--fp32-kernel", lacking]].concat());
    common::assert_fails_saying(&out, "this CPU cannot run the");
}
