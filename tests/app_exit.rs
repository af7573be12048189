//! The app as a process: Ctrl-C, and a closed terminal (SIGHUP), close it as Quit does,
//! so nothing it was writing is lost. Runs the real binary under Xvfb; skipped where
//! there is none.

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
    let mut app = Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["--no-persist", "--source", "demo", "--log"])
        .arg(&log)
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
}
