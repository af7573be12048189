//! `tinyssd eval`: VOC2007-protocol mAP of the model on a labelled split.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::{CrossClassArgs, EXIT_ERROR, ModelArgs, progress_bar, terminal_safe};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tinyssd::eval::{
    DataOptions, Dataset, Evaluation, ProblemKind, Problems, Protocol, Scored, score,
};
use tinyssd::files::RunInputs;

/// Where the labelled images are; shared by `eval` and `tune`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// VOC data: a root holding VOC2007/trainval.jsonl (or VOCdevkit's
    /// VOC2007/ImageSets/Main/trainval.txt, Annotations/, JPEGImages/), a year folder,
    /// or a .jsonl file.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Only these image ids (one per line), e.g. training/val_split.txt. Default: every
    /// image present.
    #[arg(long, value_name = "FILE")]
    split: Option<PathBuf>,
    /// The year folder under the root.
    #[arg(long, default_value = "VOC2007", value_name = "YEAR")]
    year: String,
    /// The image set: <SET>.jsonl or ImageSets/Main/<SET>.txt.
    #[arg(long, default_value = "trainval", value_name = "SET")]
    image_set: String,
    #[command(flatten)]
    cross_class: CrossClassArgs,
}

#[derive(Debug, clap::Args)]
#[command(mut_arg("threads", |arg| arg.help(super::EVAL_THREADS_HELP)))]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Write a precision-recall curve per class and a summary chart (PNG) into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Replace charts already in the --plots folder.
    #[arg(long, requires = "plots")]
    force: bool,
}

impl DataArgs {
    /// `config` with `--cross-class-iou` applied, when given.
    pub fn apply_cross_class(&self, config: &mut tinyssd::detect::DetectConfig) {
        self.cross_class.apply(config);
    }

    /// The files this run reads (for the outputs never to replace them).
    pub fn inputs(&self) -> Vec<&Path> {
        std::iter::once(self.data.as_path())
            .chain(self.split.as_deref())
            .collect()
    }

    /// The labelled images for these classes; an error when none is left to run.
    pub fn load(&self, class_names: &[String]) -> anyhow::Result<Dataset> {
        let options = DataOptions {
            year: self.year.clone(),
            image_set: self.image_set.clone(),
            split: self.split.clone(),
        };
        let dataset = Dataset::load(&self.data, &options, class_names)?;
        if dataset.samples.is_empty() {
            report_problems(&dataset.problems);
            if let Some(summary) = dataset.problems.summary() {
                eprintln!("tinyssd: problems: {summary}");
            }
            anyhow::bail!(
                "no image to evaluate in {}{}",
                dataset.source,
                self.split
                    .as_ref()
                    .map(|s| format!(" for the ids of {}", s.display()))
                    .unwrap_or_default()
            );
        }
        Ok(dataset)
    }

    /// Loads the model and the data, and scores the model on them with a progress bar.
    pub fn score(&self, model_args: &ModelArgs) -> anyhow::Result<Scored> {
        let model = model_args.load_model()?;
        let dataset = self.load(&model.metadata.class_names)?;
        let bar = progress_bar(dataset.samples.len() as u64, "evaluating", "images")?;
        let precision = model_args.precision_for(&model);
        let scored = score(
            model,
            precision,
            dataset,
            self.cross_class.iou(),
            model_args.threads,
            &|| bar.inc(1),
        )?;
        bar.finish_and_clear();
        Ok(scored)
    }

    fn describe(&self, scored: &Scored) -> String {
        match &self.split {
            Some(split) => format!("{}, ids of {}", scored.dataset.source, split.display()),
            None => scored.dataset.source.to_string(),
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    data: String,
    /// Lossy where the path is not UTF-8, so the JSON is always whole.
    split: Option<String>,
    model: String,
    images: usize,
    seconds: f64,
    images_per_second: f64,
    threads: usize,
    /// fp32 or int8 (`--precision`).
    precision: String,
    score_threshold: f32,
    iou_threshold: f32,
    /// The class-agnostic suppression's IoU; null when off (the protocol's way).
    cross_class_iou: Option<f32>,
    #[serde(flatten)]
    evaluation: &'a Evaluation,
    /// Annotated images the data marks as absent (image_present: false).
    absent_images: usize,
    problems: BTreeMap<ProblemKind, usize>,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let scored = args.data.score(&args.model)?;
    let evaluation = &scored.evaluation;
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = JsonReport {
            data: scored.dataset.source.to_string(),
            split: args
                .data
                .split
                .as_ref()
                .map(|s| s.to_string_lossy().into_owned()),
            model: args.model.path().display().to_string(),
            images: scored.run.samples.len(),
            seconds: scored.run.elapsed.as_secs_f64(),
            images_per_second: scored.run.images_per_second(),
            threads: scored.threads,
            precision: scored.precision.to_string(),
            score_threshold: Protocol::voc2007().score_threshold,
            iou_threshold: Protocol::voc2007().match_iou,
            cross_class_iou: scored.config.cross_class_iou,
            evaluation,
            absent_images: scored.dataset.absent,
            problems: scored.problems.counts(),
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "VOC2007 protocol on {}: {} images in {:.1} s, {:.1} images/s ({} thread{}, {})",
            terminal_safe(&args.data.describe(&scored)),
            scored.run.samples.len(),
            scored.run.elapsed.as_secs_f64(),
            scored.run.images_per_second(),
            scored.threads,
            if scored.threads == 1 { "" } else { "s" },
            scored.precision
        )?;
        if let Some(iou) = scored.config.cross_class_iou {
            writeln!(
                out,
                "boxes on a better box of another class (IoU above {iou}) dropped"
            )?;
        }
        print_table(&mut out, evaluation)?;
    }
    if let Some(dir) = &args.plots {
        let title = format!("{} images", scored.run.samples.len());
        let model = args.model.path();
        let mut inputs = args.data.inputs();
        inputs.push(&model);
        let inputs = RunInputs::of(inputs);
        let written = tinyssd::eval::plot::write_all(dir, evaluation, &title, args.force, &inputs)?;
        eprintln!(
            "tinyssd: wrote {} charts to {}",
            written.len(),
            dir.display()
        );
    }
    Ok(finish(&mut out, &scored, !args.json)?)
}

/// AP in percent with 2 decimals, to compare with training/evaluate.py line by line.
fn print_table(out: &mut impl Write, evaluation: &Evaluation) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>10}",
        "class", "AP11 %", "AP all %", "objects", "detections"
    )?;
    for c in &evaluation.classes {
        writeln!(
            out,
            "{:<12} {:>8.2} {:>8.2} {:>8} {:>10}",
            c.name,
            100.0 * c.ap11,
            100.0 * c.ap_all,
            c.num_gt,
            c.num_detections
        )?;
    }
    writeln!(
        out,
        "{:<12} {:>8.2} {:>8.2}",
        "mAP",
        100.0 * evaluation.map11,
        100.0 * evaluation.map_all
    )
}

/// Reports data problems (each on stderr, then one summary line) and picks the exit code:
/// 2 when some input had to be skipped, as `detect` does with unreadable files.
pub fn finish(out: &mut impl Write, scored: &Scored, text: bool) -> std::io::Result<ExitCode> {
    report_problems(&scored.problems);
    if scored.dataset.absent > 0 && text {
        writeln!(
            out,
            "note: {} annotated image{} marked absent in the data (image_present: false) not evaluated",
            scored.dataset.absent,
            if scored.dataset.absent == 1 { "" } else { "s" }
        )?;
    }
    match scored.problems.summary() {
        Some(summary) => {
            let line = format!("problems: {summary} (details above; the run went on without them)");
            if text {
                writeln!(out, "{line}")?;
            } else {
                eprintln!("tinyssd: {line}");
            }
            Ok(ExitCode::from(EXIT_ERROR))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Each problem on stderr, at most `PER_KIND` of a kind.
fn report_problems(problems: &Problems) {
    const PER_KIND: usize = 10;
    let mut shown: BTreeMap<ProblemKind, usize> = BTreeMap::new();
    for problem in problems.iter() {
        let n = shown.entry(problem.kind).or_default();
        *n += 1;
        if *n <= PER_KIND {
            eprintln!("tinyssd: {}", terminal_safe(&problem.to_string()));
        }
    }
    for (kind, n) in shown {
        if n > PER_KIND {
            let more = n - PER_KIND;
            eprintln!("tinyssd: ... and {more} more {}", kind.noun(more));
        }
    }
}
