//! The app as a process: Ctrl-C, and a closed terminal (SIGHUP), close it as Quit does,
//! so nothing it was writing is lost; with `--no-persist` it writes nothing of its own.
//! Runs the real binary under Xvfb; skipped where there is none.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_closes_the_app_with_its_detection_log_whole() {
    closes_with_its_detection_log_whole("INT");
}

#[test]
fn a_closed_terminal_closes_the_app_with_its_detection_log_whole() {
    closes_with_its_detection_log_whole("HUP");
}

fn closes_with_its_detection_log_whole(signal: &str) {
    let Some(screen) = common::app::VirtualScreen::start() else {
        return;
    };
    let folder = tempfile::tempdir().expect("temp dir");
    let log = folder.path().join("detections.jsonl");
    // Where the settings and eframe's own file (app.ron) would go: --no-persist leaves
    // them untouched.
    let homes = tempfile::tempdir().expect("temp dir");
    let mut app = Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["--no-persist", "--source", "demo", "--log"])
        .arg(&log)
        .env("XDG_DATA_HOME", homes.path().join("data"))
        .env("XDG_CONFIG_HOME", homes.path().join("config"))
        .env("DISPLAY", screen.display())
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("RUST_LOG", "tinyssd=info")
        .current_dir(common::repo_path(""))
        .stderr(Stdio::piped())
        .spawn()
        .expect("the app starts");
    std::thread::sleep(Duration::from_secs(4));
    let interrupted = Command::new("kill")
        .args([&format!("-{signal}"), &app.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = app.try_wait().expect("the app's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = app.kill();
            panic!("the app did not close within 10 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = app.wait_with_output().expect("the app's log");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("threads stopped in"), "{stderr}");

    // Every frame's line is there, whole and in order: none left in a buffer.
    let text = std::fs::read_to_string(&log).expect("the log was written");
    let seqs: Vec<u64> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            record["seq"].as_u64().expect("a frame number")
        })
        .collect();
    assert!(text.ends_with('\n'), "the last line is whole");
    assert!(seqs.len() >= 10, "{} lines in 4 s of the demo", seqs.len());
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");

    let written: Vec<_> = walk(homes.path());
    assert!(written.is_empty(), "--no-persist wrote {written:?}");
}

/// Everything under `folder`, folders included.
fn walk(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder)
        .expect("a readable folder")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}
