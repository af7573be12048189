//! Stand-ins for the app's tests: a fake detector and a small app state.

use image::RgbImage;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::detect::{DetectConfig, Detection, DetectorError, Timings};
use tinyssd::model::Corners;
use tinyssd::pipeline::{FrameProcessor, FrameResult, Waker};
use tinyssd::ui::{AppState, SettingsStore};

/// A fake detector: takes `delay`, then finds one aeroplane over the top-left quarter.
/// It refuses empty frames as the real one does, and can be told to panic on every
/// `panic_every`th frame.
pub struct FakeProcessor {
    pub delay: Duration,
    pub panic_every: Option<u64>,
    calls: u64,
}

impl FakeProcessor {
    pub fn new(delay: Duration) -> FakeProcessor {
        FakeProcessor {
            delay,
            panic_every: None,
            calls: 0,
        }
    }

    pub fn panicking_every(delay: Duration, frames: u64) -> FakeProcessor {
        FakeProcessor {
            panic_every: Some(frames),
            ..FakeProcessor::new(delay)
        }
    }
}

impl FrameProcessor for FakeProcessor {
    fn process(
        &mut self,
        image: &RgbImage,
        _config: &DetectConfig,
        detections: &mut Vec<Detection>,
    ) -> Result<Timings, DetectorError> {
        self.calls += 1;
        if self
            .panic_every
            .is_some_and(|n| self.calls.is_multiple_of(n))
        {
            panic!("injected detector panic");
        }
        if image.width() == 0 || image.height() == 0 {
            return Err(DetectorError::EmptyImage {
                width: image.width(),
                height: image.height(),
            });
        }
        std::thread::sleep(self.delay);
        let detection = Detection {
            class_id: 1,
            label: "aeroplane".into(),
            score: 0.9,
            bbox: Corners {
                x_min: 0.0,
                y_min: 0.0,
                x_max: image.width() as f32 / 2.0,
                y_max: image.height() as f32 / 2.0,
            },
        };
        let timings = Timings {
            network: self.delay,
            ..Timings::default()
        };
        detections.clear();
        detections.push(detection);
        Ok(timings)
    }
}

/// App state for a three-class model (background, aeroplane, bicycle) at 0.5, with
/// nothing remembered.
pub fn three_class_state() -> AppState {
    let names: Vec<String> = ["background", "aeroplane", "bicycle"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    AppState::new(names, DetectConfig::uniform(3, 0.5), SettingsStore::none())
}

/// The worker's result for `image` with nothing found, captured and detected at `at`;
/// tests set the fields they need with `..blank_result(...)`.
pub fn blank_result(seq: u64, image: RgbImage, at: Instant) -> FrameResult {
    FrameResult {
        seq,
        image,
        detections: Vec::new(),
        tracks: Default::default(),
        timings: Timings::default(),
        captured_at: at,
        detected_at: at,
    }
}

/// A waker that does nothing (no window to repaint).
pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

/// An Xvfb screen for running the real app, stopped when dropped.
pub struct VirtualScreen {
    xvfb: std::process::Child,
    display: String,
}

impl VirtualScreen {
    /// `None`, with a note, where there is no Xvfb (CI has none; `scripts/setup.sh
    /// --with-screenshot` installs it).
    pub fn start() -> Option<VirtualScreen> {
        use std::process::{Command, Stdio};
        // Xvfb picks a free display and writes its number once it is ready.
        let spawned = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1120x720x24"])
            .args(["-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut xvfb) = spawned else {
            eprintln!("skipped: no Xvfb (scripts/setup.sh --with-screenshot installs it)");
            return None;
        };
        let mut number = String::new();
        let mut ready = std::io::BufReader::new(xvfb.stdout.take().expect("Xvfb's output"));
        std::io::BufRead::read_line(&mut ready, &mut number).expect("Xvfb's display number");
        Some(VirtualScreen {
            xvfb,
            display: format!(":{}", number.trim()),
        })
    }

    /// The value for `DISPLAY`.
    pub fn display(&self) -> &str {
        &self.display
    }
}

impl Drop for VirtualScreen {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// A file as the window system hands a dropped one to egui.
#[derive(Debug)]
pub struct Dropped(pub std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|error| error.to_string())
    }
}
