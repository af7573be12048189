//! Loading a Tiny SSD model from safetensors: metadata, then every tensor checked
//! against the architecture by name, shape and dtype.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::architecture::{Architecture, ConvSpec, DefaultBoxConfig};
use crate::files::{ReadError, read_capped};
use ndarray::Array2;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Largest model file we accept; the reference model is 2.4 MB at f16.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: ReadError },
    #[error("not a safetensors file (or truncated/corrupt): {0}")]
    NotSafetensors(String),
    #[error(
        "the model has no metadata entry '{0}'; was it exported by `python -m training.export`?"
    )]
    MissingMetadata(&'static str),
    #[error("metadata entry '{key}' is invalid: {reason}")]
    BadMetadata { key: &'static str, reason: String },
    #[error("the model is a '{found}' network, expected 'tinyssd' version {expected}")]
    WrongArchitecture { found: String, expected: u32 },
    #[error(
        "the model predicts {found} classes but Tiny SSD v1 has {expected} (20 VOC classes + background)"
    )]
    ClassCount { found: usize, expected: usize },
    #[error("tensor '{0}' is missing from the model file")]
    MissingTensor(String),
    #[error("tensor '{0}' is not part of Tiny SSD v1")]
    UnexpectedTensor(String),
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor '{name}' has dtype {dtype}; only F16 and F32 are supported")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("tensor '{0}' contains NaN or infinite values")]
    NotFinite(String),
}

/// Pixel order of the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ChannelOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// Input normalisation: `x = (pixel / 255 - mean) / std`, per channel in `channel_order`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Normalization {
    pub channel_order: ChannelOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// What the model file says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetadata {
    pub class_names: Vec<String>,
    pub input_size: usize,
    pub normalization: Normalization,
    pub default_boxes: DefaultBoxConfig,
    /// Where the weights came from (training run, data, score).
    pub source: String,
    /// The confidence threshold the model's authors suggest, if any.
    pub score_threshold: Option<f32>,
    /// Per-class suggestions by class name (chosen by `tinyssd tune` when the model was
    /// shipped), over `score_threshold` for the classes they name.
    pub class_score_thresholds: BTreeMap<String, f32>,
    /// Per convolution name, the scale its input is quantised with to run at int8
    /// (written by `tinyssd calibrate`); the convolutions it leaves out stay fp32, and
    /// an empty map means the model has no int8 calibration.
    pub int8_input_scales: BTreeMap<String, f32>,
}

/// Whether `value` can be a score threshold (or an overlap): a number from 0 to 1. The
/// one range rule for model files, threshold profiles and the remembered settings.
pub fn is_unit_interval(value: f32) -> bool {
    (0.0..=1.0).contains(&value)
}

/// One convolution's parameters, the weight flattened to [out, in * k * k].
#[derive(Debug, Clone)]
pub struct ConvWeights {
    pub spec: ConvSpec,
    pub weight: Array2<f32>,
    pub bias: Vec<f32>,
}

/// A loaded, validated Tiny SSD model.
#[derive(Debug, Clone)]
pub struct Model {
    pub metadata: ModelMetadata,
    /// In the order of [`Architecture::convolutions`].
    pub convolutions: Vec<ConvWeights>,
}

impl Model {
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let bytes = read_capped(path, MAX_MODEL_BYTES, "a Tiny SSD model").map_err(|error| {
            ModelError::Read {
                path: path.to_path_buf(),
                error,
            }
        })?;
        Model::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let arch = Architecture::tiny_ssd();
        check_header_length(bytes)?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| ModelError::NotSafetensors(e.to_string()))?;
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| ModelError::NotSafetensors(e.to_string()))?;
        let empty = HashMap::new();
        let metadata = parse_metadata(header.metadata().as_ref().unwrap_or(&empty), arch)?;

        let specs = arch.convolutions();
        let expected: BTreeSet<String> = specs
            .iter()
            .flat_map(|s| [format!("{}.weight", s.name), format!("{}.bias", s.name)])
            .collect();
        if let Some(extra) = tensors.names().into_iter().find(|n| !expected.contains(*n)) {
            return Err(ModelError::UnexpectedTensor(extra.to_string()));
        }
        let convolutions = specs
            .into_iter()
            .map(|spec| {
                let weight_shape = spec.weight_shape();
                let weight =
                    read_tensor(&tensors, &format!("{}.weight", spec.name), &weight_shape)?;
                let bias = read_tensor(
                    &tensors,
                    &format!("{}.bias", spec.name),
                    &[spec.out_channels],
                )?;
                let cols = weight.len() / spec.out_channels;
                let weight = Array2::from_shape_vec((spec.out_channels, cols), weight)
                    .map_err(|e| ModelError::NotSafetensors(e.to_string()))?;
                Ok(ConvWeights { spec, weight, bias })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(Model {
            metadata,
            convolutions,
        })
    }
}

/// A safetensors file starts with the length of its JSON header (u64, little-endian).
/// A length the file cannot hold (a corrupt or hostile file claiming terabytes) is
/// refused before anything is parsed or allocated.
fn check_header_length(bytes: &[u8]) -> Result<(), ModelError> {
    let Some((length, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(ModelError::NotSafetensors(format!(
            "the file has {} bytes, too few for a safetensors header",
            bytes.len()
        )));
    };
    let claimed = u64::from_le_bytes(*length);
    if claimed > rest.len() as u64 {
        return Err(ModelError::NotSafetensors(format!(
            "the header claims {claimed} bytes but only {} follow",
            rest.len()
        )));
    }
    Ok(())
}

fn read_tensor(tensors: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
    let view = tensors
        .tensor(name)
        .map_err(|_| ModelError::MissingTensor(name.to_string()))?;
    if view.shape() != shape {
        return Err(ModelError::ShapeMismatch {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let values =
        decode_floats(view.dtype(), view.data()).ok_or_else(|| ModelError::UnsupportedDtype {
            name: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
        })?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::NotFinite(name.to_string()));
    }
    Ok(values)
}

/// Little-endian F16 or F32 bytes as f32; `None` for any other dtype.
pub fn decode_floats(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F16 => Some(
            data.as_chunks::<2>()
                .0
                .iter()
                .map(|&b| half::f16::from_le_bytes(b).to_f32())
                .collect(),
        ),
        Dtype::F32 => Some(
            data.as_chunks::<4>()
                .0
                .iter()
                .map(|&b| f32::from_le_bytes(b))
                .collect(),
        ),
        _ => None,
    }
}

/// The longest class name (in characters): a label on a box, a row in the panel.
pub const MAX_CLASS_NAME_CHARS: usize = 64;
/// The longest `source` description (in characters).
pub const MAX_SOURCE_CHARS: usize = 4096;

/// Whether `c` draws nothing (a zero-width space or joiner, a byte-order mark, a
/// variation selector: Unicode's default-ignorable characters, which the confusable
/// skeleton drops).
fn is_invisible(c: char) -> bool {
    let mut buffer = [0; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buffer))
        .next()
        .is_none()
}

/// Class names label every box: each must say something, be printable, visible and
/// short, and look different from the others (a duplicate would report a cat as
/// "person"). Names are compared as they look: spaces around them trimmed, and by their
/// Unicode confusable skeleton, so "cat", "cat " and "сat" (a Cyrillic с) are one name.
fn check_class_names(names: &[String]) -> Result<(), ModelError> {
    let mut seen = BTreeMap::new();
    for name in names {
        let looks = || unicode_security::skeleton(name.trim()).collect::<String>();
        let reason = if name.trim().is_empty() {
            "a class name is empty".to_owned()
        } else if name.chars().any(char::is_control) {
            format!("the class name {name:?} holds control characters")
        } else if name.chars().any(is_invisible) {
            format!("the class name {name:?} holds invisible characters")
        } else if name.chars().count() > MAX_CLASS_NAME_CHARS {
            format!("a class name is longer than {MAX_CLASS_NAME_CHARS} characters")
        } else if let Some(earlier) = seen.insert(looks(), name) {
            if earlier == name {
                format!("the class name '{name}' appears more than once")
            } else {
                format!("the class names {earlier:?} and {name:?} look the same")
            }
        } else {
            continue;
        };
        return Err(ModelError::BadMetadata {
            key: "class_names",
            reason,
        });
    }
    Ok(())
}

/// The `source` description, if it is printable and not over [`MAX_SOURCE_CHARS`].
fn checked_source(text: &str) -> Result<String, ModelError> {
    let bad = |reason: String| ModelError::BadMetadata {
        key: "source",
        reason,
    };
    if text.chars().count() > MAX_SOURCE_CHARS {
        return Err(bad(format!("longer than {MAX_SOURCE_CHARS} characters")));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(bad("it holds control characters".to_owned()));
    }
    Ok(text.to_owned())
}

fn parse_metadata(
    entries: &HashMap<String, String>,
    arch: &Architecture,
) -> Result<ModelMetadata, ModelError> {
    let get = |key: &'static str| {
        entries
            .get(key)
            .map(String::as_str)
            .ok_or(ModelError::MissingMetadata(key))
    };
    let json = |key: &'static str| -> Result<serde_json::Value, ModelError> {
        serde_json::from_str(get(key)?).map_err(|e| ModelError::BadMetadata {
            key,
            reason: e.to_string(),
        })
    };
    let typed = |key: &'static str, value: serde_json::Value| ModelError::BadMetadata {
        key,
        reason: format!("unexpected value {value}"),
    };

    let name = get("architecture")?;
    let version = get("architecture_version")?;
    if name != arch.name || version != arch.version.to_string() {
        return Err(ModelError::WrongArchitecture {
            found: format!("{name} v{version}"),
            expected: arch.version,
        });
    }
    let value = json("class_names")?;
    let class_names: Vec<String> =
        serde_json::from_value(value.clone()).map_err(|_| typed("class_names", value))?;
    if class_names.len() != arch.num_classes() {
        return Err(ModelError::ClassCount {
            found: class_names.len(),
            expected: arch.num_classes(),
        });
    }
    check_class_names(&class_names)?;
    let value = json("input_size")?;
    let input_size: usize =
        serde_json::from_value(value.clone()).map_err(|_| typed("input_size", value))?;
    if input_size != arch.input_size {
        return Err(ModelError::BadMetadata {
            key: "input_size",
            reason: format!("{input_size}, but Tiny SSD v1 takes {}", arch.input_size),
        });
    }
    let value = json("normalization")?;
    let normalization: Normalization =
        serde_json::from_value(value.clone()).map_err(|_| typed("normalization", value))?;
    if normalization
        .std
        .iter()
        .any(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(ModelError::BadMetadata {
            key: "normalization",
            reason: "std must be positive".into(),
        });
    }
    let value = json("default_boxes")?;
    let default_boxes: DefaultBoxConfig =
        serde_json::from_value(value.clone()).map_err(|_| typed("default_boxes", value))?;
    if default_boxes != arch.default_boxes {
        return Err(ModelError::BadMetadata {
            key: "default_boxes",
            reason: "differs from the Tiny SSD v1 default-box configuration".into(),
        });
    }
    let score_threshold = match entries.get("score_threshold") {
        None => None,
        Some(text) => Some(
            text.parse::<f32>()
                .ok()
                .filter(|&t| is_unit_interval(t))
                .ok_or_else(|| ModelError::BadMetadata {
                    key: "score_threshold",
                    reason: format!("'{text}' is not a number between 0 and 1"),
                })?,
        ),
    };
    let class_score_thresholds = match entries.get("class_score_thresholds") {
        None => BTreeMap::new(),
        Some(text) => {
            let bad = |reason: String| ModelError::BadMetadata {
                key: "class_score_thresholds",
                reason,
            };
            let thresholds: BTreeMap<String, f32> = serde_json::from_str(text)
                .map_err(|e| bad(format!("not an object of class names and scores: {e}")))?;
            for (name, &threshold) in &thresholds {
                if !class_names.iter().skip(1).any(|known| known == name) {
                    return Err(bad(format!("'{name}' is not one of the model's classes")));
                }
                if !is_unit_interval(threshold) {
                    return Err(bad(format!("{name}: {threshold} is not between 0 and 1")));
                }
            }
            thresholds
        }
    };
    let int8_input_scales = match entries.get(INT8_INPUT_SCALES) {
        None => BTreeMap::new(),
        Some(text) => parse_int8_input_scales(text, arch)?,
    };
    Ok(ModelMetadata {
        int8_input_scales,
        class_names,
        input_size,
        normalization,
        default_boxes,
        source: checked_source(get("source")?)?,
        score_threshold,
        class_score_thresholds,
    })
}

/// The metadata entry of the int8 calibration.
pub const INT8_INPUT_SCALES: &str = "int8_input_scales";

/// The int8 calibration: a JSON object of convolution names and input scales, each a
/// convolution of the architecture and a positive, finite scale.
fn parse_int8_input_scales(
    text: &str,
    arch: &Architecture,
) -> Result<BTreeMap<String, f32>, ModelError> {
    let bad = |reason: String| ModelError::BadMetadata {
        key: INT8_INPUT_SCALES,
        reason,
    };
    let scales: BTreeMap<String, f32> = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not an object of convolution names and scales: {e}"
        ))
    })?;
    let convolutions = arch.convolutions();
    for (name, &scale) in &scales {
        if !convolutions.iter().any(|spec| spec.name == *name) {
            return Err(bad(format!("'{name}' is not a convolution of Tiny SSD v1")));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(bad(format!("{name}: {scale} is not a positive scale")));
        }
    }
    Ok(scales)
}
