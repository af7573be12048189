//! `tinyssd detect`: run the detector on image files, folders and videos (a video's
//! frames are [`super::detect_video`]'s job).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::detect_video::{VIDEO_SUFFIX, VideoReport, detect_video, print_video, tracks_path};
use super::{
    CrossClassArgs, EXIT_ERROR, ModelArgs, is_broken_pipe, parse_unit_interval, terminal_safe,
    write_error,
};
use anyhow::Context;
use image::{ImageFormat, RgbImage};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tinyssd::detect::{
    DetectConfig, Detection, Detector, draw_detections, image_files_in, read_image,
    serialize_detections,
};
use tinyssd::files::{AtomicOutput, FileId, RunInputs, numbered_path};

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Image files (PNG or JPEG), videos (any other file: whatever ffmpeg reads), or
    /// folders: a folder's PNG and JPEG files, sorted by name.
    #[arg(required = true, value_name = "IMAGE|VIDEO|DIR")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Confidence threshold for every class (default: the model's suggestion for each).
    #[arg(long, value_parser = parse_unit_interval::<f32>, value_name = "X")]
    threshold: Option<f32>,
    #[command(flatten)]
    cross_class: CrossClassArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Write each image with its detections drawn to DIR/<name>.png, and each video with
    /// its tracks drawn to DIR/<name>.mp4 and listed per frame in DIR/<name>.tracks.jsonl;
    /// names that two outputs (or an output and an input) would share are numbered
    /// apart: <name>-2.png, ...
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace outputs already in DIR (inputs are never replaced).
    #[arg(long, requires = "out_dir")]
    force: bool,
}

/// One image's result. Paths that are not UTF-8 are written lossily (U+FFFD for the
/// bytes that are not), so the JSON stays whole whatever the file names.
#[derive(Serialize)]
struct ImageReport {
    image: String,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    drawn_to: Option<String>,
    /// In the form the app's `--log` lines use too ([`tinyssd::detect::DetectionJson`]).
    #[serde(serialize_with = "serialize_detections")]
    detections: Vec<Detection>,
}

/// One input's result, as `--json` lists them.
#[derive(Serialize)]
#[serde(untagged)]
enum Report {
    Image(ImageReport),
    Video(VideoReport),
}

/// A file to run on, by what it is ([`tinyssd::video::is_video_file`], the rule of the
/// app's `--source PATH`).
enum Input {
    Image(PathBuf),
    Video(PathBuf),
}

impl Input {
    fn of(path: &Path) -> Input {
        if tinyssd::video::is_video_file(path) {
            Input::Video(path.to_path_buf())
        } else {
            Input::Image(path.to_path_buf())
        }
    }

    fn path(&self) -> &Path {
        match self {
            Input::Image(path) | Input::Video(path) => path,
        }
    }
}

pub fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let mut detector = args.model.detector()?;
    let mut config = detector.default_config();
    if let Some(threshold) = args.threshold {
        config.thresholds.fill(threshold);
    }
    args.cross_class.apply(&mut config);
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    }

    let (files, mut failed) = files_of(&args.inputs);
    let outputs = match &args.out_dir {
        Some(dir) => output_paths(dir, &files),
        None => Vec::new(),
    };
    let model = args.model.path();
    let inputs = RunInputs::of(files.iter().map(Input::path).chain([model.as_path()]));

    let mut stdout = std::io::stdout().lock();
    let mut reports = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let drawing = outputs.get(index).map(|out| Drawing {
            path: out,
            replace: args.force,
            inputs: &inputs,
        });
        let path = match file {
            Input::Image(path) => path,
            Input::Video(path) => {
                // A video fails as a whole: its outputs are complete or not written.
                match detect_video(
                    &mut detector,
                    &config,
                    path,
                    drawing,
                    &mut stdout,
                    args.json,
                ) {
                    Ok(report) if args.json => reports.push(Report::Video(report)),
                    Ok(report) => print_video(&mut stdout, &report)?,
                    // Frames printed to a closed pipe (`| head`): the end, not a fault.
                    Err(error) if is_broken_pipe(&error) => return Err(error),
                    Err(error) => {
                        report_error(&error);
                        failed = true;
                    }
                }
                continue;
            }
        };
        // One bad image is reported and the others still run, as grep does with files.
        match detect_one(&mut detector, &config, path, drawing) {
            Ok((report, drawing_failed)) => {
                // The detections are printed even when their drawing could not be written.
                if let Some(error) = drawing_failed {
                    report_error(&error);
                    failed = true;
                }
                if args.json {
                    reports.push(Report::Image(report));
                } else {
                    print_text(&mut stdout, &report)?;
                }
            }
            Err(error) => {
                report_error(&error);
                failed = true;
            }
        }
    }
    if args.json {
        // Encoded whole before anything is printed: an error cannot leave half a document.
        let text = serde_json::to_string_pretty(&reports)?;
        writeln!(stdout, "{text}")?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

/// One input that could not be used, on stderr; the others still run.
fn report_error(error: &anyhow::Error) {
    eprintln!("tinyssd: {}", terminal_safe(&format!("{error:#}")));
}

/// The files to run on, and whether some input could not be used: files as given,
/// folders as their PNG and JPEG files sorted by name (the list the app's `images:DIR`
/// plays). A folder that cannot be listed or holds no image is reported, as ripgrep
/// reports a path it cannot search, and the rest still run.
fn files_of(inputs: &[PathBuf]) -> (Vec<Input>, bool) {
    let mut files = Vec::new();
    let mut failed = false;
    for input in inputs {
        if !input.is_dir() {
            files.push(Input::of(input));
            continue;
        }
        match image_files_in(input) {
            Ok(found) if !found.is_empty() => files.extend(found.into_iter().map(Input::Image)),
            Ok(_) => {
                report_error(&anyhow::anyhow!(
                    "{}: no PNG or JPEG images in this folder",
                    input.display()
                ));
                failed = true;
            }
            Err(error) => {
                report_error(
                    &anyhow::Error::new(error)
                        .context(format!("{}: cannot list the folder", input.display())),
                );
                failed = true;
            }
        }
    }
    (files, failed)
}

/// Where each file's drawing goes: `DIR/<stem>.png` for an image, `DIR/<stem>.mp4` for
/// a video (its tracks beside it, [`tracks_path`]), numbered apart from the other
/// outputs of this run and from the inputs themselves.
fn output_paths(dir: &Path, files: &[Input]) -> Vec<PathBuf> {
    let inputs: HashSet<FileId> = files.iter().filter_map(|f| FileId::of(f.path())).collect();
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut planned: Vec<PathBuf> = Vec::with_capacity(files.len());
    for file in files {
        let stem = file
            .path()
            .file_stem()
            .map_or_else(|| "image".into(), |s| s.to_string_lossy());
        // A video's outputs are one name in two files: both must be free.
        let outputs_for = |path: &Path| match file {
            Input::Image(_) => vec![path.to_path_buf()],
            Input::Video(_) => vec![path.to_path_buf(), tracks_path(path)],
        };
        let suffix = match file {
            Input::Image(_) => ".png",
            Input::Video(_) => VIDEO_SUFFIX,
        };
        let path = numbered_path(dir, &stem, suffix, |candidate| {
            outputs_for(candidate).iter().any(|output| {
                taken.contains(output) || FileId::of(output).is_some_and(|id| inputs.contains(&id))
            })
        });
        taken.extend(outputs_for(&path));
        planned.push(path);
    }
    planned
}

/// Where one file's drawing goes, and what it may replace.
pub struct Drawing<'a> {
    pub path: &'a Path,
    pub replace: bool,
    pub inputs: &'a RunInputs,
}

/// One image's report, and why its drawing could not be written if it could not.
fn detect_one(
    detector: &mut Detector,
    config: &DetectConfig,
    path: &Path,
    drawing: Option<Drawing<'_>>,
) -> anyhow::Result<(ImageReport, Option<anyhow::Error>)> {
    let mut image = read_image(path).with_context(|| path.display().to_string())?;
    let (detections, _) = detector
        .detect(&image, config)
        .with_context(|| format!("{}: detection failed", path.display()))?;
    let (width, height) = image.dimensions();
    let (drawn_to, drawing_failed) = match drawing {
        Some(drawing) => {
            draw_detections(&mut image, &detections);
            match write_png(&image, &drawing) {
                Ok(()) => (Some(drawing.path.to_string_lossy().into_owned()), None),
                Err(error) => (None, Some(error)),
            }
        }
        None => (None, None),
    };
    let report = ImageReport {
        image: path.to_string_lossy().into_owned(),
        width,
        height,
        drawn_to,
        detections,
    };
    Ok((report, drawing_failed))
}

fn write_png(image: &RgbImage, drawing: &Drawing<'_>) -> anyhow::Result<()> {
    let path = drawing.path;
    let mut out = AtomicOutput::create(path, drawing.replace, drawing.inputs)
        .map_err(|error| write_error(path, error))?;
    image
        .write_to(&mut std::io::BufWriter::new(&mut out), ImageFormat::Png)
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.commit().map_err(|error| write_error(path, error))
}

fn print_text(out: &mut impl Write, report: &ImageReport) -> std::io::Result<()> {
    let count = report.detections.len();
    let drawn = match &report.drawn_to {
        Some(path) => format!(" (drawn to {path})"),
        None => String::new(),
    };
    writeln!(
        out,
        "{}",
        terminal_safe(&format!(
            "{}: {count} detection{}{drawn}",
            report.image,
            if count == 1 { "" } else { "s" }
        ))
    )?;
    for d in &report.detections {
        let b = &d.bbox;
        writeln!(
            out,
            "  {:<12} {:.3}  [{:.0}, {:.0}, {:.0}, {:.0}]",
            d.label, d.score, b.x_min, b.y_min, b.x_max, b.y_max
        )?;
    }
    Ok(())
}
