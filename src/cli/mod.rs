//! Command-line arguments and the subcommands, each a thin layer over the library.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

#[cfg(feature = "app")]
mod app;
mod bench;
mod calibrate;
mod detect;
mod detect_video;
mod eval;
mod process;
mod track_eval;
mod tune;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;

pub const EXIT_ERROR: u8 = 2;

/// Real-time object detection with Tiny SSD. Without a subcommand: the live app.
#[derive(Debug, Parser)]
#[command(
    name = "tinyssd",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[cfg(feature = "app")]
    #[command(flatten)]
    app: app::AppArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect objects in image files and videos and print (or draw) what was found.
    Detect(detect::DetectArgs),
    /// Measure latency: the network alone, the whole frame, and each layer.
    Bench(bench::BenchArgs),
    /// Score the model on labelled VOC images: per-class AP and mAP (VOC2007 protocol).
    Eval(eval::EvalArgs),
    /// Choose per-class thresholds on labelled VOC images and write a threshold profile.
    Tune(tune::TuneArgs),
    /// Calibrate a model for --precision int8 on sample images: writes a copy of the
    /// model file with each convolution's input scale.
    Calibrate(calibrate::CalibrateArgs),
    /// Measure how steady tracks are against raw detections, on labelled photos filmed by a
    /// virtual camera: flicker, precision, recall, ID switches, MOTA.
    TrackEval(track_eval::TrackEvalArgs),
    /// The live window: camera (or images, or the demo) with boxes drawn (the default).
    #[cfg(feature = "app")]
    App(app::AppArgs),
}

/// The model to load, shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Model file (safetensors). Default: the shipped models/tinyssd_voc.safetensors.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
    // Commands that use the threads otherwise replace this help (`mut_arg`): eval and
    // tune with EVAL_THREADS_HELP, the app with its own.
    /// Inference threads for the network; 0 uses every core (at most 4 per core).
    #[arg(long, default_value_t = 0, value_parser = parse_threads, value_name = "N")]
    threads: usize,
    // The app replaces the default with `auto` (`mut_arg`).
    /// Arithmetic of the convolutions: int8 runs those a model calibrated by `tinyssd
    /// calibrate` has scales for in int8, the rest in fp32; auto is int8 where the model
    /// is calibrated and the CPU has VNNI, fp32 elsewhere.
    #[arg(long, value_enum, default_value_t = PrecisionArg::Fp32)]
    precision: PrecisionArg,
}

/// `--precision`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PrecisionArg {
    Fp32,
    Int8,
    Auto,
}

impl From<PrecisionArg> for tinyssd::engine::PrecisionChoice {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::Fp32 => tinyssd::engine::PrecisionChoice::Fp32,
            PrecisionArg::Int8 => tinyssd::engine::PrecisionChoice::Int8,
            PrecisionArg::Auto => tinyssd::engine::PrecisionChoice::Auto,
        }
    }
}

impl ModelArgs {
    fn path(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(tinyssd::model::shipped_model_path)
    }

    fn load_model(&self) -> anyhow::Result<tinyssd::model::Model> {
        let path = self.path();
        if self.model.is_none() && !path.exists() {
            anyhow::bail!(
                "the shipped model {} is missing: pass --model PATH, or train and export one (see training/README.md)",
                path.display()
            );
        }
        tinyssd::model::Model::load(&path).map_err(|error| {
            let hint = model_hint(&error);
            anyhow::anyhow!(
                "cannot load the model: {:#}\n  {hint}",
                anyhow::Error::new(error)
            )
        })
    }

    fn detector(&self) -> anyhow::Result<tinyssd::detect::Detector> {
        self.detector_on(self.threads)
    }

    fn detector_on(&self, threads: usize) -> anyhow::Result<tinyssd::detect::Detector> {
        let model = self.load_model()?;
        let precision = self.precision_for(&model);
        Ok(tinyssd::detect::Detector::with_precision(
            model, threads, precision,
        )?)
    }

    fn precision_choice(&self) -> tinyssd::engine::PrecisionChoice {
        self.precision.into()
    }

    /// The precision `model` runs at, as `--precision` asks.
    fn precision_for(&self, model: &tinyssd::model::Model) -> tinyssd::engine::Precision {
        self.precision_choice().resolve(model)
    }
}

/// What to do about a model that does not load.
fn model_hint(error: &tinyssd::model::ModelError) -> &'static str {
    use tinyssd::files::ReadError;
    use tinyssd::model::ModelError;
    match error {
        ModelError::Read {
            error: ReadError::TooLarge { .. },
            ..
        }
        | ModelError::NotSafetensors(_) => {
            "--model must name a .safetensors file exported by `python -m training.export`"
        }
        ModelError::Read { .. } => {
            "check the path given to --model (or leave it out for the shipped model)"
        }
        _ => {
            "this build runs Tiny SSD v1 on the 20 VOC classes: export a matching model with \
             `python -m training.export` (training/README.md), or pass --model with one"
        }
    }
}

/// `--threads` of eval and tune, which detect several images at once.
const EVAL_THREADS_HELP: &str =
    "Images detected at once, one thread each; 0 uses every core (at most 4 per core)";

/// A thread count the engine accepts (the bound is the engine's).
fn parse_threads(text: &str) -> Result<usize, String> {
    let threads: usize = text
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    tinyssd::engine::check_threads(threads).map_err(|error| error.to_string())
}

/// `--cross-class-iou`, shared by `detect`, `eval` and `tune`.
#[derive(Debug, clap::Args)]
pub struct CrossClassArgs {
    /// One object, one class: drop a box that overlaps a better box of another class by
    /// an IoU above X (0.85 is the app's); `off` (the default) keeps every class's boxes.
    #[arg(long, value_parser = parse_cross_class_iou, value_name = "X|off")]
    cross_class_iou: Option<CrossClassIou>,
}

/// A `--cross-class-iou` value: an IoU, or none for `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossClassIou(Option<f32>);

impl CrossClassArgs {
    /// `config` with the flag applied, when given.
    pub fn apply(&self, config: &mut tinyssd::detect::DetectConfig) {
        if let Some(CrossClassIou(iou)) = self.cross_class_iou {
            config.cross_class_iou = iou;
        }
    }

    /// The IoU asked for; None when off or not given (the protocol's way).
    pub fn iou(&self) -> Option<f32> {
        self.cross_class_iou.and_then(|CrossClassIou(iou)| iou)
    }
}

fn parse_cross_class_iou(text: &str) -> Result<CrossClassIou, String> {
    if text == "off" {
        return Ok(CrossClassIou(None));
    }
    parse_unit_interval::<f32>(text)
        .map(|iou| CrossClassIou(Some(iou)))
        .map_err(|error| format!("{error} (or `off`)"))
}

/// Refuses to replace `path` (an existing file the user did not name for replacing).
/// The progress bar of a long run over `len` items: "{action} [=====>   ] 12/500 {items}, rate, time left".
pub fn progress_bar(len: u64, action: &str, items: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let template =
        format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {items}, {{per_sec}}, {{eta}} left");
    let style = indicatif::ProgressStyle::with_template(&template)
        .context("progress bar template")?
        .progress_chars("=> ");
    let bar = indicatif::ProgressBar::new(len).with_style(style);
    bar.set_message(action.to_string());
    Ok(bar)
}

pub fn exists_error(path: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} exists already: pass --force to replace it, or choose another name",
        path.display()
    )
}

/// An output that could not be written, in words that say what to do.
pub fn write_error(path: &std::path::Path, error: tinyssd::files::WriteError) -> anyhow::Error {
    use tinyssd::files::WriteError;
    match error {
        WriteError::Exists => exists_error(path),
        WriteError::Input => anyhow::anyhow!(
            "{} is one of this run's inputs: choose another name for the output",
            path.display()
        ),
        WriteError::Folder | WriteError::Io(_) => {
            anyhow::Error::new(error).context(format!("cannot write {}", path.display()))
        }
    }
}

/// `text` for the terminal, its control characters (which can move the cursor, clear
/// the screen or retitle the window when a file name carries them) written escaped as
/// `\u{1b}`; line breaks kept.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `message` without the source locations some libraries put in their errors (winit:
/// `os error at /root/.cargo/registry/src/.../linux/mod.rs:765: ...`): a build path says
/// nothing to the user. A location is ` at ` and a `.rs` file with `:LINE` (and
/// `:COLUMN`).
pub fn without_source_locations(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some((before, after)) = rest.split_once(" at ") {
        out.push_str(before);
        let token = after
            .split(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .trim_end_matches(':');
        match after.strip_prefix(token) {
            Some(remaining) if is_source_location(token) => rest = remaining,
            _ => {
                out.push_str(" at ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `FILE.rs:LINE` or `FILE.rs:LINE:COLUMN`.
fn is_source_location(token: &str) -> bool {
    let mut file = token;
    let mut numbers = 0;
    while let Some((head, tail)) = file.rsplit_once(':') {
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        file = head;
        numbers += 1;
    }
    (1..=2).contains(&numbers) && file.ends_with(".rs")
}

/// A probability in 0..=1, for threshold and precision flags (f32 or f64).
pub fn parse_unit_interval<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + From<u8>,
{
    let value: T = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if value >= T::from(0) && value <= T::from(1) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    process::report_file_size_limits();
    let Some(command) = cli.command else {
        #[cfg(feature = "app")]
        return app::run(&cli.app);
        #[cfg(not(feature = "app"))]
        anyhow::bail!(
            "this tinyssd was built without the live app (cargo feature `app`): \
             use tinyssd detect, eval, tune, track-eval or bench"
        );
    };
    #[cfg(feature = "app")]
    let prints = !matches!(command, Command::App(_));
    #[cfg(not(feature = "app"))]
    let prints = true;
    if prints && process::stdout_is_closed() {
        anyhow::bail!(
            "standard output is closed, so the results could not be printed \
             (to discard them, send them to /dev/null)"
        );
    }
    match command {
        Command::Detect(args) => detect::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Tune(args) => tune::run(&args),
        Command::TrackEval(args) => track_eval::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        #[cfg(feature = "app")]
        Command::App(args) => app::run(&args),
    }
}

/// Output cut short by a closed pipe (`tinyssd detect ... | head`) is not an error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::without_source_locations;

    #[test]
    fn source_locations_are_left_out_of_messages_and_nothing_else() {
        let winit = "winit EventLoopError: os error at /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/winit-0.30.13/src/platform_impl/linux/mod.rs:765: neither WAYLAND_DISPLAY nor WAYLAND_SOCKET nor DISPLAY is set.";
        assert_eq!(
            without_source_locations(winit),
            "winit EventLoopError: os error: neither WAYLAND_DISPLAY nor WAYLAND_SOCKET nor \
             DISPLAY is set."
        );
        assert_eq!(
            without_source_locations("panicked at src/main.rs:3:7 then at x.rs:1"),
            "panicked then"
        );
        for kept in [
            "cannot read photo.png at /home/me/pictures",
            "the image at a.rs is not one",
            "stopped at 12:30:00",
            "ends with at ",
        ] {
            assert_eq!(without_source_locations(kept), kept);
        }
    }
}
