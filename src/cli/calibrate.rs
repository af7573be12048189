//! `tinyssd calibrate`: a model's int8 calibration, measured on sample images and
//! written into a copy of the model file (the weights untouched).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::{ModelArgs, progress_bar, terminal_safe, write_error};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use tinyssd::detect::{Detector, image_files_in, read_image};
use tinyssd::engine::{Calibration, PackedModel, Precision, PrecisionChoice};
use tinyssd::files::{RunInputs, read_capped, write_file};
use tinyssd::model::weights::{INT8_INPUT_SCALES, MAX_MODEL_BYTES};
use tinyssd::model::{Architecture, Model};

#[derive(Debug, clap::Args)]
// It always measures at fp32: the shared --precision is hidden here.
#[command(mut_arg("precision", |arg| arg.hide(true)))]
pub struct CalibrateArgs {
    /// Sample images (PNG or JPEG), or folders of them: pictures like those the model
    /// will see (training images, or the user's own scene).
    #[arg(required = true, value_name = "IMAGE|DIR")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// The calibrated model to write: a copy of --model with the int8 input scales in
    /// its metadata.
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Replace --out if it exists (the model read is never replaced).
    #[arg(long)]
    force: bool,
    /// At most this many of the images, spread evenly over them.
    #[arg(long, default_value_t = 400, value_name = "N")]
    max_images: usize,
    /// The percentile of a convolution's input values (per image, the largest over the
    /// images) that becomes the top int8 level; larger values saturate.
    #[arg(long, default_value_t = 99.99, value_parser = parse_percentile, value_name = "P")]
    percentile: f64,
    /// Convolutions to keep at fp32, by name (as `bench --layers` lists them).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    keep_fp32: Vec<String>,
}

fn parse_percentile(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (50.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a percentile from 50 to 100")),
    }
}

pub fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    if args.model.precision_choice() == PrecisionChoice::Int8 {
        anyhow::bail!("calibrate measures the model at fp32: leave out --precision int8");
    }
    if args.max_images == 0 {
        anyhow::bail!("--max-images must be at least 1");
    }
    let convolutions = Architecture::tiny_ssd().convolutions();
    if let Some(unknown) =
        (args.keep_fp32.iter()).find(|name| !convolutions.iter().any(|c| c.name == **name))
    {
        anyhow::bail!(
            "--keep-fp32: '{}' is not a convolution of Tiny SSD v1 (`tinyssd bench --layers` lists them)",
            terminal_safe(unknown)
        );
    }
    let model_path = args.model.path();
    let model = args.model.load_model()?;
    let bytes = read_capped(&model_path, MAX_MODEL_BYTES, "a Tiny SSD model")
        .with_context(|| format!("cannot read {}", model_path.display()))?;
    let images = spread(sample_images(&args.inputs)?, args.max_images);
    let mut detector = Detector::new(model, args.model.threads)?;
    let config = detector.default_config();
    let mut calibration = Calibration::new(args.percentile);
    let bar = progress_bar(images.len() as u64, "calibrating", "images")?;
    for path in &images {
        match read_image(path) {
            Ok(image) => {
                detector.detect(&image, &config)?;
                calibration.observe(detector.engine());
            }
            Err(error) => bar.println(format!(
                "tinyssd: {}: {} (skipped)",
                terminal_safe(&path.display().to_string()),
                terminal_safe(&error.to_string())
            )),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if calibration.images() == 0 {
        anyhow::bail!("no image could be read: nothing to calibrate on");
    }
    let mut scales = calibration.scales();
    scales.retain(|name, _| !args.keep_fp32.contains(name));
    let entry = (
        INT8_INPUT_SCALES.to_string(),
        serde_json::to_string(&scales)?,
    );
    let calibrated = tinyssd::model::rewrite::with_metadata_entries(&bytes, [entry])?;
    // What is written must load and run at int8.
    let model = Model::from_bytes(&calibrated)?;
    let packed = PackedModel::with_precision(model, Precision::Int8)?;
    let inputs = RunInputs::of(
        std::iter::once(model_path.as_path()).chain(images.iter().map(PathBuf::as_path)),
    );
    write_file(&args.out, &calibrated, args.force, &inputs)
        .map_err(|e| write_error(&args.out, e))?;
    let fp32: Vec<&str> = (packed.plan().steps.iter().zip(0..))
        .filter(|&(planned, i)| planned.macs > 0 && !packed.step_is_int8(i))
        .map(|(planned, _)| planned.name.as_str())
        .collect();
    println!(
        "{}: {} convolutions calibrated on {} images ({}th percentile); at fp32: {}",
        args.out.display(),
        scales.len(),
        calibration.images(),
        args.percentile,
        if fp32.is_empty() {
            "none".to_string()
        } else {
            fp32.join(", ")
        }
    );
    println!(
        "check its accuracy: tinyssd eval --model {} --precision int8 --data ... --split ...",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The image files the inputs name: files as given, folders as their PNG and JPEG files.
fn sample_images(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let found = image_files_in(input)
                .with_context(|| format!("{}: cannot list the folder", input.display()))?;
            if found.is_empty() {
                anyhow::bail!("{}: no PNG or JPEG images in this folder", input.display());
            }
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            anyhow::bail!("{}: no such file or folder", input.display());
        }
    }
    Ok(files)
}

/// At most `max` of `files`, evenly spread over them.
fn spread(files: Vec<PathBuf>, max: usize) -> Vec<PathBuf> {
    if files.len() <= max {
        return files;
    }
    let step = files.len() as f64 / max as f64;
    (0..max)
        .filter_map(|i| files.get((i as f64 * step) as usize).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_spread_over_the_list() {
        let files: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(i.to_string())).collect();
        let names = |v: Vec<PathBuf>| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(spread(files.clone(), 5)), ["0", "2", "4", "6", "8"]);
        assert_eq!(spread(files.clone(), 20).len(), 10);
        assert!(parse_percentile("99.9").is_ok());
        assert!(parse_percentile("101").is_err());
        assert!(parse_percentile("x").is_err());
    }
}
