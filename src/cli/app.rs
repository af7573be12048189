//! `tinyssd` (or `tinyssd app`): the live window. Only options and start-up here;
//! the app itself is [`tinyssd::ui::App`].
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::ModelArgs;
use anyhow::{Context, anyhow};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tinyssd::files::RunInputs;
use tinyssd::pipeline::SourceSpec;
use tinyssd::ui::{App, Launch, SettingsStore};

#[derive(Debug, clap::Args)]
#[command(mut_arg("threads", |arg| arg.help(
    "Inference threads; 0 uses every core but one, which the window draws on"
)))]
#[command(mut_arg("precision", |arg| arg.default_value("auto")))]
pub struct AppArgs {
    /// Where frames come from: camera:0, camera:NAME, images:DIR (or images:a.png,b.jpg),
    /// image:FILE, video:FILE (played with ffmpeg, in a loop) or demo; or just a path: a
    /// folder, a PNG/JPEG file or a video. Default: the first camera, else the demo.
    #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
    source: Option<SourceSpec>,
    /// Frames per second for image sources (default 2) and the demo (default 30).
    #[arg(long, value_name = "N", value_parser = parse_fps)]
    fps: Option<f32>,
    #[command(flatten)]
    model: ModelArgs,
    /// Start full screen (F11 toggles it; Tab hides the panels).
    #[arg(long)]
    fullscreen: bool,
    /// Neither restore nor save the remembered settings (thresholds, folders).
    #[arg(long)]
    no_persist: bool,
    /// Append one JSON line per processed frame (its number, time, source and every
    /// box found down to a score of 0.1) to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<std::path::PathBuf>,
}

fn parse_source(text: &str) -> Result<SourceSpec, String> {
    text.parse()
        .map_err(|e: tinyssd::pipeline::SourceError| e.to_string())
}

fn parse_fps(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(fps) if fps.is_finite() && (0.1..=240.0).contains(&fps) => Ok(fps),
        Ok(fps) => Err(format!("{fps} is not between 0.1 and 240")),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// Inference threads for the live window: `--threads`, or for 0 every core but one. The
/// UI's drawing and the capture need a core: on 2 cores with the UI drawing in software
/// (`scripts/app_threads.sh`, 2026-12-02) 1 inference thread ran the network in 23-24 ms
/// at 31-37 ms latency, 2 threads (whose helper spins between steps) in 33 ms at 57-61 ms.
fn live_threads(requested: usize) -> usize {
    match requested {
        0 => tinyssd::engine::cores().saturating_sub(1).max(1),
        n => n,
    }
}

pub fn run(args: &AppArgs) -> anyhow::Result<ExitCode> {
    // Start-up problems end the program with a message; later ones show in the window.
    if let Some(source) = &args.source {
        source
            .check()
            .with_context(|| format!("cannot use the source {source}"))?;
    }
    let detector = args.model.detector_on(live_threads(args.model.threads))?;
    let store = if args.no_persist {
        SettingsStore::none()
    } else {
        SettingsStore::platform()
    };
    let model = args.model.path();
    let source_files = args.source.as_ref().map_or(&[][..], SourceSpec::files);
    let inputs = RunInputs::of(
        std::iter::once(model.as_path()).chain(source_files.iter().map(PathBuf::as_path)),
    );
    let log = match &args.log {
        Some(path) => Some(tinyssd::pipeline::DetectionLog::open(path, &inputs)?),
        None => None,
    };
    let launch = Launch {
        source: args.source.clone(),
        fps: args.fps,
        log,
        quit_signal: None,
        inputs,
        precision: args.model.precision_choice(),
    };
    // eframe keeps a file of its own (the window's place, the panels' widths) beside
    // the settings. With --no-persist it is pointed into an empty temporary folder and
    // given nothing to save (no window place, no egui memory: see
    // `App::persist_egui_memory`), so nothing of the user's is read or written.
    let scratch = if args.no_persist {
        Some(tempfile::tempdir().context("cannot make a temporary folder")?)
    } else {
        None
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("tinyssd")
            .with_inner_size([1120.0, 720.0])
            .with_min_inner_size([640.0, 420.0])
            .with_fullscreen(args.fullscreen),
        persist_window: !args.no_persist,
        persistence_path: scratch.as_ref().map(|folder| folder.path().join("app.ron")),
        ..Default::default()
    };
    eframe::run_native(
        "tinyssd",
        options,
        Box::new(move |cc| {
            let launch = Launch {
                quit_signal: quit_on_signals(cc.egui_ctx.clone()),
                ..launch
            };
            Ok(Box::new(App::new(cc, detector, launch, store)))
        }),
    )
    .map_err(|e| {
        anyhow!(
            "cannot open the window: {e}\n  the app needs a desktop session (X11 or Wayland); \
             for image files without a window use `tinyssd detect`"
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, SIGTERM and SIGHUP (the terminal closed) close the window as Quit does, so
/// that the detection log is flushed and the settings are saved; a second one ends the
/// process at once.
#[cfg(unix)]
fn quit_on_signals(ctx: egui::Context) -> Option<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::sync::atomic::Ordering;
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(signals) => signals,
        Err(error) => {
            log::warn!("Ctrl-C will end the app without saving: {error}");
            return None;
        }
    };
    let asked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&asked);
    let watcher = std::thread::Builder::new()
        .name("tinyssd-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if flag.swap(true, Ordering::Relaxed) {
                    std::process::exit(128 + signal);
                }
                ctx.request_repaint();
            }
        });
    match watcher {
        Ok(_) => Some(asked),
        Err(error) => {
            log::warn!("Ctrl-C will end the app without saving: {error}");
            None
        }
    }
}

#[cfg(not(unix))]
fn quit_on_signals(_ctx: egui::Context) -> Option<Arc<AtomicBool>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_leaves_a_core_to_the_ui_unless_told_otherwise() {
        let cores = tinyssd::engine::cores();
        assert_eq!(live_threads(0), (cores - 1).max(1));
        assert_eq!(live_threads(2), 2, "an explicit --threads is kept");
    }

    #[test]
    fn source_and_fps_flags_are_checked() {
        assert_eq!(parse_source("demo"), Ok(SourceSpec::Demo));
        assert!(parse_source("webcam").is_err_and(|e| e.contains("camera:0")));
        assert_eq!(parse_fps("12.5"), Ok(12.5));
        for bad in ["0", "-3", "NaN", "inf", "fast", "1000"] {
            assert!(parse_fps(bad).is_err(), "{bad}");
        }
    }
}
