//! `tinyssd detect`: run the detector on image files.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::{EXIT_ERROR, ModelArgs, parse_unit_interval};
use anyhow::Context;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tinyssd::detect::{DetectConfig, Detection, Detector, draw_detections, read_image};

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Image files (PNG or JPEG).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Confidence threshold for every class (default: the model's suggestion).
    #[arg(long, value_parser = parse_unit_interval::<f32>, value_name = "X")]
    threshold: Option<f32>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Write each image with its detections drawn to DIR/<name>.png.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

#[derive(Serialize)]
struct ImageReport<'a> {
    image: &'a Path,
    width: u32,
    height: u32,
    detections: Vec<Detection>,
}

pub fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let mut detector = args.model.detector()?;
    let mut config = detector.default_config();
    if let Some(threshold) = args.threshold {
        config.thresholds.fill(threshold);
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    }

    let mut stdout = std::io::stdout().lock();
    let mut reports = Vec::new();
    let mut failed = false;
    for path in &args.images {
        // One bad image is reported and the others still run, as grep does with files.
        match detect_one(&mut detector, &config, path, args.out_dir.as_deref()) {
            Ok(report) if args.json => reports.push(report),
            Ok(report) => print_text(&mut stdout, &report)?,
            Err(error) => {
                eprintln!("tinyssd: {error:#}");
                failed = true;
            }
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &reports)?;
        writeln!(stdout)?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

fn detect_one<'a>(
    detector: &mut Detector,
    config: &DetectConfig,
    path: &'a Path,
    out_dir: Option<&Path>,
) -> anyhow::Result<ImageReport<'a>> {
    let image = read_image(path).with_context(|| path.display().to_string())?;
    let (detections, _) = detector
        .detect(&image, config)
        .with_context(|| format!("{}: detection failed", path.display()))?;
    if let Some(dir) = out_dir {
        let mut annotated = image.clone();
        draw_detections(&mut annotated, &detections);
        let stem = path.file_stem().unwrap_or(path.as_os_str());
        let out = dir.join(stem).with_extension("png");
        annotated
            .save(&out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(ImageReport {
        image: path,
        width: image.width(),
        height: image.height(),
        detections,
    })
}

fn print_text(out: &mut impl Write, report: &ImageReport) -> std::io::Result<()> {
    let count = report.detections.len();
    writeln!(
        out,
        "{}: {count} detection{}",
        report.image.display(),
        if count == 1 { "" } else { "s" }
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
