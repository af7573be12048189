//! The forward pass as a fixed list of steps over numbered buffers, derived once
//! from the architecture: every shape is known before the first frame.

use super::ops::columns::ConvGeometry;
use super::ops::layout::BufferLayout;
use crate::model::architecture::{BOX_COORDS, pooled_size};
use crate::model::{Architecture, ConvSpec, LayerOp};

pub type BufferId = usize;

/// Which output tensor a predictor writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    Loc,
    Conf,
}

#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// A ReLU convolution writing channels `channel_offset..` of `output`
    /// (a Fire module's expands write side by side into one buffer).
    Conv {
        conv: usize,
        input: BufferId,
        output: BufferId,
        channel_offset: usize,
        geometry: ConvGeometry,
    },
    MaxPool {
        input: BufferId,
        output: BufferId,
    },
    /// A `loc` or `conf` predictor writing its rows of the output, starting at `first_box`.
    Predict {
        conv: usize,
        input: BufferId,
        head: Head,
        first_box: usize,
        geometry: ConvGeometry,
    },
}

impl Step {
    /// A convolution's index in the architecture, its input and its geometry; `None`
    /// for pooling.
    pub fn convolution(&self) -> Option<(usize, BufferId, ConvGeometry)> {
        match *self {
            Step::Conv {
                conv,
                input,
                geometry,
                ..
            }
            | Step::Predict {
                conv,
                input,
                geometry,
                ..
            } => Some((conv, input, geometry)),
            Step::MaxPool { .. } => None,
        }
    }

    /// The buffer it reads.
    pub fn input(&self) -> BufferId {
        match *self {
            Step::Conv { input, .. }
            | Step::MaxPool { input, .. }
            | Step::Predict { input, .. } => input,
        }
    }
}

/// A step with what a profile reports about it.
#[derive(Debug, Clone)]
pub struct PlannedStep {
    /// The layer or convolution it computes, e.g. `fire3.expand3x3` or `pool5`.
    pub name: String,
    pub macs: usize,
    pub step: Step,
}

/// Shape (C, H, W) of a buffer.
pub type Shape = [usize; 3];

#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
    pub shapes: Vec<Shape>,
    /// Zero border of each buffer: the largest padding of a stride-1 convolution reading it.
    pub borders: Vec<usize>,
    /// Layer name to the buffer holding its output.
    pub layer_outputs: Vec<(String, BufferId)>,
    pub total_boxes: usize,
    pub num_classes: usize,
}

pub const INPUT: BufferId = 0;

impl Plan {
    pub fn new(arch: &Architecture) -> Plan {
        let mut plan = Plan {
            steps: Vec::new(),
            shapes: vec![[arch.in_channels, arch.input_size, arch.input_size]],
            borders: Vec::new(),
            layer_outputs: Vec::new(),
            total_boxes: arch.total_boxes(),
            num_classes: arch.num_classes(),
        };
        let specs = arch.convolutions();
        let mut conv_index = 0;
        let mut current = INPUT;
        for layer in &arch.layers {
            let [c, h, w] = plan.shapes[current];
            current = match layer.op {
                LayerOp::Conv { .. } => {
                    let spec = &specs[conv_index];
                    let g = ConvGeometry::new(c, h, w, spec.kernel, spec.stride, spec.pad);
                    let out = plan.buffer([spec.out_channels, g.out_h, g.out_w]);
                    plan.conv(&specs, conv_index, current, out, 0, g);
                    conv_index += 1;
                    out
                }
                LayerOp::Maxpool => {
                    let out = plan.buffer([c, pooled_size(h), pooled_size(w)]);
                    plan.steps.push(PlannedStep {
                        name: layer.name.clone(),
                        macs: 0,
                        step: Step::MaxPool {
                            input: current,
                            output: out,
                        },
                    });
                    out
                }
                LayerOp::Fire {
                    squeeze,
                    expand1x1,
                    expand3x3,
                } => {
                    let squeezed = plan.buffer([squeeze, h, w]);
                    let out = plan.buffer([expand1x1 + expand3x3, h, w]);
                    plan.conv(
                        &specs,
                        conv_index,
                        current,
                        squeezed,
                        0,
                        ConvGeometry::new(c, h, w, 1, 1, 0),
                    );
                    plan.conv(
                        &specs,
                        conv_index + 1,
                        squeezed,
                        out,
                        0,
                        ConvGeometry::new(squeeze, h, w, 1, 1, 0),
                    );
                    plan.conv(
                        &specs,
                        conv_index + 2,
                        squeezed,
                        out,
                        expand1x1,
                        ConvGeometry::new(squeeze, h, w, 3, 1, 1),
                    );
                    conv_index += 3;
                    out
                }
            };
            plan.layer_outputs.push((layer.name.clone(), current));
        }

        let mut first_box = 0;
        for source in &arch.default_boxes.sources {
            let input = plan.layer_output(&source.layer).unwrap_or(current);
            let [c, h, w] = plan.shapes[input];
            let geometry = ConvGeometry::new(c, h, w, 3, 1, 1);
            for head in [Head::Loc, Head::Conf] {
                let step = Step::Predict {
                    conv: conv_index,
                    input,
                    head,
                    first_box,
                    geometry,
                };
                plan.steps
                    .push(conv_step(&specs, conv_index, step, &geometry));
                conv_index += 1;
            }
            first_box += source.box_count();
        }
        plan.borders = vec![0; plan.shapes.len()];
        for planned in &plan.steps {
            if let Step::Conv {
                input, geometry, ..
            }
            | Step::Predict {
                input, geometry, ..
            } = planned.step
                && geometry.stride == 1
            {
                plan.borders[input] = plan.borders[input].max(geometry.pad);
            }
        }
        plan
    }

    pub fn layout(&self, buffer: BufferId) -> BufferLayout {
        let [channels, height, width] = self.shapes[buffer];
        BufferLayout::new(channels, height, width, self.borders[buffer])
    }

    pub fn total_macs(&self) -> usize {
        self.steps.iter().map(|s| s.macs).sum()
    }

    pub fn layer_output(&self, name: &str) -> Option<BufferId> {
        self.layer_outputs
            .iter()
            .find(|(layer, _)| layer == name)
            .map(|(_, id)| *id)
    }

    pub fn head_len(&self, head: Head) -> usize {
        self.total_boxes
            * match head {
                Head::Loc => BOX_COORDS,
                Head::Conf => self.num_classes,
            }
    }

    fn buffer(&mut self, shape: Shape) -> BufferId {
        self.shapes.push(shape);
        self.shapes.len() - 1
    }

    fn conv(
        &mut self,
        specs: &[ConvSpec],
        conv: usize,
        input: BufferId,
        output: BufferId,
        channel_offset: usize,
        geometry: ConvGeometry,
    ) {
        let step = Step::Conv {
            conv,
            input,
            output,
            channel_offset,
            geometry,
        };
        self.steps.push(conv_step(specs, conv, step, &geometry));
    }
}

fn conv_step(specs: &[ConvSpec], conv: usize, step: Step, g: &ConvGeometry) -> PlannedStep {
    PlannedStep {
        name: specs[conv].name.clone(),
        macs: specs[conv].out_channels * g.col_rows() * g.out_pixels(),
        step,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_counts_the_reference_multiply_accumulates() {
        let plan = Plan::new(Architecture::tiny_ssd());
        // The reference reports 571.45 M multiply-accumulates per 300x300 frame.
        assert_eq!(plan.total_macs() / 10_000, 57_145);
        let fire4_predictors: usize = plan
            .steps
            .iter()
            .filter(|s| s.name.ends_with(".fire4"))
            .map(|s| s.macs)
            .sum();
        assert_eq!(fire4_predictors / 100_000, 2131);
    }
}
