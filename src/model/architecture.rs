//! The Tiny SSD layer table, read from `architecture.json`.
//!
//! The JSON file is the single description of the network: the Rust loader and engine
//! and the PyTorch twin in `training/` are all built from it.

use serde::Deserialize;
use std::sync::OnceLock;

/// Spatial size of every max pooling window, and its stride.
pub const POOL_KERNEL: usize = 3;
pub const POOL_STRIDE: usize = 2;

/// Kernel size of the `loc` and `conf` predictor convolutions (padding 1, stride 1).
pub const PREDICTOR_KERNEL: usize = 3;

/// Coordinates per box offset (cx, cy, w, h).
pub const BOX_COORDS: usize = 4;

const ARCHITECTURE_JSON: &str = include_str!("architecture.json");

/// The whole network: its feature layers in order and the SSD default-box sources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Architecture {
    pub name: String,
    pub version: u32,
    pub input_size: usize,
    pub in_channels: usize,
    pub class_names: Vec<String>,
    pub layers: Vec<Layer>,
    pub default_boxes: DefaultBoxConfig,
}

/// One feature layer; every convolution in it is followed by ReLU.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Layer {
    pub name: String,
    #[serde(flatten)]
    pub op: LayerOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum LayerOp {
    Conv {
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    /// 3x3 stride-2 max pooling, output size rounded up (Caffe semantics).
    Maxpool,
    /// SqueezeNet Fire module: 1x1 squeeze, then 1x1 and 3x3 expands concatenated.
    Fire {
        squeeze: usize,
        expand1x1: usize,
        expand3x3: usize,
    },
}

/// Where default boxes sit and how big they are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DefaultBoxConfig {
    pub variances: [f32; 4],
    pub sources: Vec<BoxSource>,
}

/// One feature map that feeds a pair of predictor convolutions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BoxSource {
    pub layer: String,
    pub feature_size: usize,
    pub min_size: f32,
    pub max_size: f32,
    /// Ratios other than 1; each also adds its reciprocal.
    pub aspect_ratios: Vec<f32>,
    pub step: f32,
}

impl BoxSource {
    /// Default boxes per feature-map cell: two squares, then each ratio and its flip.
    pub fn boxes_per_cell(&self) -> usize {
        2 + 2 * self.aspect_ratios.len()
    }

    pub fn box_count(&self) -> usize {
        self.feature_size * self.feature_size * self.boxes_per_cell()
    }
}

impl Architecture {
    /// The reference Tiny SSD (version 1), parsed once.
    pub fn tiny_ssd() -> &'static Architecture {
        static ARCH: OnceLock<Architecture> = OnceLock::new();
        ARCH.get_or_init(|| {
            serde_json::from_str(ARCHITECTURE_JSON)
                .unwrap_or_else(|e| panic!("built-in architecture.json is invalid: {e}"))
        })
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    pub fn total_boxes(&self) -> usize {
        self.default_boxes
            .sources
            .iter()
            .map(BoxSource::box_count)
            .sum()
    }

    /// Every convolution of the network with its input channels, in execution order:
    /// feature layers first, then `loc` and `conf` for each box source.
    pub fn convolutions(&self) -> Vec<ConvSpec> {
        let mut specs = Vec::new();
        let mut channels = self.in_channels;
        let mut source_channels = Vec::new();
        for layer in &self.layers {
            match layer.op {
                LayerOp::Conv {
                    out,
                    kernel,
                    stride,
                    pad,
                } => {
                    specs.push(ConvSpec {
                        name: layer.name.clone(),
                        in_channels: channels,
                        out_channels: out,
                        kernel,
                        stride,
                        pad,
                    });
                    channels = out;
                }
                LayerOp::Maxpool => {}
                LayerOp::Fire {
                    squeeze,
                    expand1x1,
                    expand3x3,
                } => {
                    let fire_conv = |name: &str, cin, cout, kernel| ConvSpec {
                        name: format!("{}.{name}", layer.name),
                        in_channels: cin,
                        out_channels: cout,
                        kernel,
                        stride: 1,
                        pad: kernel / 2,
                    };
                    specs.push(fire_conv("squeeze", channels, squeeze, 1));
                    specs.push(fire_conv("expand1x1", squeeze, expand1x1, 1));
                    specs.push(fire_conv("expand3x3", squeeze, expand3x3, 3));
                    channels = expand1x1 + expand3x3;
                }
            }
            if self.is_source(&layer.name) {
                source_channels.push((layer.name.clone(), channels));
            }
        }
        for source in &self.default_boxes.sources {
            let cin = source_channels
                .iter()
                .find(|(name, _)| *name == source.layer)
                .map_or(0, |(_, c)| *c);
            let k = source.boxes_per_cell();
            for (head, per_box) in [("loc", BOX_COORDS), ("conf", self.num_classes())] {
                specs.push(ConvSpec {
                    name: format!("{head}.{}", source.layer),
                    in_channels: cin,
                    out_channels: k * per_box,
                    kernel: PREDICTOR_KERNEL,
                    stride: 1,
                    pad: PREDICTOR_KERNEL / 2,
                });
            }
        }
        specs
    }

    pub fn is_source(&self, layer: &str) -> bool {
        self.default_boxes.sources.iter().any(|s| s.layer == layer)
    }
}

/// One convolution: the tensors `{name}.weight` [out, in, k, k] and `{name}.bias` [out].
/// All but the `loc` and `conf` predictors are followed by ReLU (the engine's
/// `Step::Conv` against `Step::Predict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvSpec {
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel,
            self.kernel,
        ]
    }
}

/// Output size of a convolution along one side (the last partial window dropped).
pub fn conv_output_size(input: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    (input + 2 * pad - kernel) / stride + 1
}

/// Output size of a 3x3 stride-2 max pool with ceil rounding and no padding.
pub fn pooled_size(input: usize) -> usize {
    (input - POOL_KERNEL).div_ceil(POOL_STRIDE) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_network_has_8030_boxes_and_21_classes() {
        let arch = Architecture::tiny_ssd();
        assert_eq!(arch.total_boxes(), 8030);
        assert_eq!(arch.num_classes(), 21);
        assert_eq!(arch.class_names[0], "background");
    }

    #[test]
    fn parameter_count_matches_reference() {
        let params: usize = Architecture::tiny_ssd()
            .convolutions()
            .iter()
            .map(|c| c.weight_shape().iter().product::<usize>() + c.out_channels)
            .sum();
        assert_eq!(params, 1_187_921);
    }

    #[test]
    fn conv_output_sizes_round_down() {
        assert_eq!(conv_output_size(300, 3, 2, 0), 149);
        assert_eq!(conv_output_size(18, 3, 1, 1), 18);
        assert_eq!(conv_output_size(4, 3, 2, 3), 4);
    }

    #[test]
    fn ceil_pooling_sizes_follow_caffe() {
        assert_eq!(pooled_size(149), 74);
        assert_eq!(pooled_size(74), 37);
        assert_eq!(pooled_size(37), 18);
        assert_eq!(pooled_size(18), 9);
        assert_eq!(pooled_size(9), 4);
    }
}
