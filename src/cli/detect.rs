//! `tinyssd detect`: run the detector on image files and folders.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::{
    CrossClassArgs, EXIT_ERROR, ModelArgs, parse_unit_interval, terminal_safe, write_error,
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
    /// Image files (PNG or JPEG), or folders: a folder's PNG and JPEG files, sorted by name.
    #[arg(required = true, value_name = "IMAGE|DIR")]
    images: Vec<PathBuf>,
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
    /// Write each image with its detections drawn to DIR/<name>.png; names that two
    /// images (or an image itself) would share are numbered apart: <name>-2.png, ...
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace drawings already in DIR (input images are never replaced).
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

    let (images, mut failed) = images_of(&args.images);
    let outputs = match &args.out_dir {
        Some(dir) => drawing_paths(dir, &images),
        None => Vec::new(),
    };
    let model = args.model.path();
    let inputs = RunInputs::of(images.iter().map(PathBuf::as_path).chain([model.as_path()]));

    let mut stdout = std::io::stdout().lock();
    let mut reports = Vec::new();
    for (index, path) in images.iter().enumerate() {
        let drawing = outputs.get(index).map(|out| Drawing {
            path: out,
            replace: args.force,
            inputs: &inputs,
        });
        // One bad image is reported and the others still run, as grep does with files.
        match detect_one(&mut detector, &config, path, drawing) {
            Ok((report, drawing_failed)) => {
                // The detections are printed even when their drawing could not be written.
                if let Some(error) = drawing_failed {
                    report_error(&error);
                    failed = true;
                }
                if args.json {
                    reports.push(report);
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

/// The images to run on, and whether some input could not be used: files as given,
/// folders as their PNG and JPEG files sorted by name (the list the app's `images:DIR`
/// plays). A folder that cannot be listed or holds no image is reported, as ripgrep
/// reports a path it cannot search, and the rest still run.
fn images_of(inputs: &[PathBuf]) -> (Vec<PathBuf>, bool) {
    let mut images = Vec::new();
    let mut failed = false;
    for input in inputs {
        if !input.is_dir() {
            images.push(input.clone());
            continue;
        }
        match image_files_in(input) {
            Ok(found) if !found.is_empty() => images.extend(found),
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
    (images, failed)
}

/// Where each image's drawing goes: `DIR/<stem>.png`, numbered apart from the other
/// drawings of this run and from the input images themselves.
fn drawing_paths(dir: &Path, images: &[PathBuf]) -> Vec<PathBuf> {
    let inputs: HashSet<FileId> = images.iter().filter_map(|p| FileId::of(p)).collect();
    let mut taken: HashSet<PathBuf> = HashSet::new();
    let mut planned: Vec<PathBuf> = Vec::with_capacity(images.len());
    for image in images {
        let stem = image
            .file_stem()
            .map_or_else(|| "image".into(), |s| s.to_string_lossy());
        let path = numbered_path(dir, &stem, ".png", |candidate| {
            taken.contains(candidate)
                || FileId::of(candidate).is_some_and(|id| inputs.contains(&id))
        });
        taken.insert(path.clone());
        planned.push(path);
    }
    planned
}

/// Where one image's drawing goes, and what it may replace.
struct Drawing<'a> {
    path: &'a Path,
    replace: bool,
    inputs: &'a RunInputs,
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
