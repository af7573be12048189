//! A labelled split scored by a model: every image run with the protocol's settings
//! ([`super::Protocol`]), the detections matched and averaged ([`super::evaluate`]).
//! What `tinyssd eval` and `tinyssd tune` both start from; they only add the reporting.

use super::data::{Dataset, Problems};
use super::run::{DetectionRun, detect_samples};
use super::{EvalError, Evaluation, Protocol, evaluate};
use crate::detect::DetectConfig;
use crate::engine::Precision;
use crate::model::Model;

/// A labelled split run through the model.
pub struct Scored {
    pub model: Model,
    /// What the detections were made with.
    pub config: DetectConfig,
    pub dataset: Dataset,
    pub run: DetectionRun,
    pub evaluation: Evaluation,
    /// The data's problems and the run's (images that could not be read).
    pub problems: Problems,
    /// Images run at a time.
    pub threads: usize,
    /// What the network ran in.
    pub precision: Precision,
}

/// Runs `model` at `precision` on every image of `dataset`, `threads` at a time (0: one per core, at
/// most one per image), with the protocol's settings and, when given, the class-agnostic
/// suppression at `cross_class_iou`; `on_image` is called after each image (from the
/// workers, for a progress bar). Then scores the detections.
pub fn score(
    model: Model,
    precision: Precision,
    dataset: Dataset,
    cross_class_iou: Option<f32>,
    threads: usize,
    on_image: &(dyn Fn() + Sync),
) -> Result<Scored, EvalError> {
    let class_names = model.metadata.class_names.clone();
    let threads = crate::engine::resolve_threads(threads)?.min(dataset.samples.len());
    let protocol = Protocol::voc2007();
    let mut config = protocol.detect_config(class_names.len());
    config.cross_class_iou = cross_class_iou;
    let run = detect_samples(
        &model,
        precision,
        dataset.samples.clone(),
        &config,
        threads,
        on_image,
    )?;
    let evaluation = evaluate(
        &class_names,
        &run.samples,
        &run.detections,
        protocol.match_iou,
    );
    let mut problems = dataset.problems.clone();
    problems.extend(run.problems.clone());
    Ok(Scored {
        model,
        config,
        dataset,
        run,
        evaluation,
        problems,
        threads,
        precision,
    })
}
