//! `tinyssd tune`: per-class confidence thresholds chosen on a labelled split, written as
//! a threshold profile the app loads.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::eval::{DataArgs, finish};
use super::{ModelArgs, exists_error, parse_unit_interval, terminal_safe};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tinyssd::detect::{DetectConfig, ProfileError, ThresholdProfile};
use tinyssd::eval::Source;
use tinyssd::eval::tune::tune;
use tinyssd::eval::{ClassThreshold, Protocol, TuneGoal};
use tinyssd::files::{RunInputs, WriteError, same_file};

#[derive(Debug, clap::Args)]
#[command(mut_arg("threads", |arg| arg.help(super::EVAL_THREADS_HELP)))]
pub struct TuneArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Per class, the lowest threshold whose precision reaches P (default: the best F1).
    // An f64, so that 0.8 means 4 of 5 exactly.
    #[arg(long, value_parser = parse_unit_interval::<f64>, value_name = "P")]
    target_precision: Option<f64>,
    /// Where to write the threshold profile (JSON).
    #[arg(long, default_value = "threshold_profile.json", value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE if it exists (never an input of the run).
    #[arg(long)]
    force: bool,
    /// The profile's name (default: after the goal, e.g. "best F1").
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    profile: &'a ThresholdProfile,
    /// Lossy where the path is not UTF-8, so the JSON is always whole.
    out: String,
    images: usize,
    classes: &'a [ClassThreshold],
}

pub fn run(args: &TuneArgs) -> anyhow::Result<ExitCode> {
    // Checked before the run as well, not to refuse only after minutes of work.
    check_out(args, &[])?;
    let scored = args.data.score(&args.model)?;
    let annotations = match &scored.dataset.source {
        Source::JsonLines { file } => file.as_path(),
        Source::VocXml { list, .. } => list.as_path(),
    };
    check_out(args, &[annotations])?;
    let metadata = &scored.model.metadata;
    let goal = match args.target_precision {
        Some(p) => TuneGoal::MinPrecision(p),
        None => TuneGoal::MaxF1,
    };
    let mut config = DetectConfig::for_model(metadata);
    let chosen = tune(
        &scored.evaluation.classes,
        goal,
        Protocol::voc2007().score_threshold,
        &config.thresholds,
    );

    let name = args.name.clone().unwrap_or_else(|| match goal {
        TuneGoal::MaxF1 => "best F1".to_owned(),
        TuneGoal::MinPrecision(p) => format!("precision {p}"),
    });
    for class in &chosen {
        if let Some(slot) = config.thresholds.get_mut(class.class_id) {
            *slot = class.threshold;
        }
    }
    let profile = ThresholdProfile::from_config(name, &config, &metadata.class_names);
    let model = args.model.path();
    let mut inputs = args.data.inputs();
    inputs.push(&model);
    profile
        .save(&args.out, args.force, &RunInputs::of(inputs))
        .map_err(|error| match error {
            ProfileError::Write {
                error: WriteError::Exists,
                ..
            } => exists_error(&args.out),
            other => anyhow::Error::new(other),
        })
        .context("cannot save the tuned thresholds")?;

    let mut out = std::io::stdout().lock();
    if args.json {
        let report = JsonReport {
            profile: &profile,
            out: args.out.to_string_lossy().into_owned(),
            images: scored.run.samples.len(),
            classes: &chosen,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let goal_text = match goal {
            TuneGoal::MaxF1 => "best F1 per class".to_owned(),
            TuneGoal::MinPrecision(p) => format!("lowest threshold with precision >= {p}"),
        };
        writeln!(
            out,
            "thresholds for {goal_text}, on {} images ({:.1} images/s)",
            scored.run.samples.len(),
            scored.run.images_per_second()
        )?;
        print_table(&mut out, &chosen)?;
        let wrote = format!("wrote profile '{}' to {}", profile.name, args.out.display());
        writeln!(out, "{}", terminal_safe(&wrote))?;
    }
    Ok(finish(&mut out, &scored, !args.json)?)
}

/// Refuses an `--out` that is one of the run's inputs (`more` besides the data, split
/// and model files), or that exists without `--force`.
fn check_out(args: &TuneArgs, more: &[&Path]) -> anyhow::Result<()> {
    let model = args.model.path();
    let mut inputs = args.data.inputs();
    inputs.push(model.as_path());
    inputs.extend_from_slice(more);
    if let Some(input) = inputs.iter().find(|input| same_file(input, &args.out)) {
        anyhow::bail!(
            "--out {} is an input of this run ({}): choose another file",
            args.out.display(),
            input.display()
        );
    }
    if !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(exists_error(&args.out));
    }
    Ok(())
}

fn print_table(out: &mut impl Write, chosen: &[ClassThreshold]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>9} {:>9} {:>7} {:>6}  note",
        "class", "threshold", "precision", "recall", "F1"
    )?;
    for c in chosen {
        writeln!(
            out,
            "{:<12} {:>9.3} {:>9.3} {:>7.3} {:>6.3}  {}",
            c.name,
            c.threshold,
            c.precision,
            c.recall,
            c.f1,
            c.outcome.note()
        )?;
    }
    Ok(())
}
