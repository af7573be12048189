//! Evaluation on labelled images: reading VOC annotations ([`data`]), running the
//! detector over a split ([`run`], and with the protocol's settings, [`score`]), matching and average precision the VOC2007 way
//! ([`ap`]), per-class threshold tuning ([`tune`]) and charts ([`plot`]).
//!
//! The conventions are those of `training/evaluate.py`, so both give the same numbers.

pub mod ap;
pub mod data;
pub mod plot;
pub mod protocol;
pub mod run;
pub mod score;
pub mod sequence;
pub mod tracking;
pub mod tune;

pub use ap::{GroundTruthBox, PrCurve, ScoredBox, match_detections};
pub use data::{DataOptions, Dataset, Object, Problem, ProblemKind, Problems, Sample, Source};
pub use protocol::Protocol;
pub use run::{ClassEvaluation, DetectionRun, Evaluation, detect_samples, evaluate};
pub use score::{Scored, score};
pub use tracking::{Hypothesis, TrackingScore, TrackingTally, TruthBox};
pub use tune::{ClassThreshold, TuneGoal, TuneOutcome, choose_threshold};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("no labelled data at {path}: it {reason}; expected {expected}")]
    DataNotFound {
        path: PathBuf,
        reason: String,
        expected: String,
    },
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: crate::files::ReadError,
    },
    #[error("cannot create the folder {}: {error}", path.display())]
    Folder {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the split file {path} lists no image ids")]
    EmptySplit { path: PathBuf },
    #[error(transparent)]
    Detector(#[from] crate::detect::DetectorError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot start the evaluation threads: {0}")]
    Threads(std::io::Error),
    #[error("cannot start a detector for the evaluation: {0}")]
    DetectorStart(String),
    #[error("{} exists already: pass --force to replace it, or choose another folder", .0.display())]
    Exists(PathBuf),
    #[error("cannot draw {path}: {message}")]
    Plot { path: PathBuf, message: String },
}
