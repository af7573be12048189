//! The network as data: the layer table, default boxes, box coding and weights.

pub mod anchors;
pub mod architecture;
pub mod box_coder;
pub mod rewrite;
pub mod weights;

pub use anchors::{CenterBox, default_boxes};
pub use architecture::{Architecture, ConvSpec, LayerOp};
pub use box_coder::Corners;
pub use weights::{
    ChannelOrder, ConvWeights, Model, ModelError, ModelMetadata, Normalization, is_unit_interval,
};

use std::path::{Path, PathBuf};

/// Where the shipped model lives, relative to the repository root.
pub const SHIPPED_MODEL: &str = "models/tinyssd_voc.safetensors";

/// The shipped model (see [`crate::bundled_path`]).
pub fn shipped_model_path() -> PathBuf {
    crate::bundled_path(SHIPPED_MODEL)
}

/// Whether the file's name says it is a model (`.safetensors`, any case): a file the
/// window is given is then loaded as the model, not played.
pub fn is_model_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(MODEL_EXTENSION))
}

/// A model file's extension.
pub const MODEL_EXTENSION: &str = "safetensors";
