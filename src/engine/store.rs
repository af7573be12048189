//! How each buffer holds its activations. An int8 convolution quantises its input to
//! levels before its product; where every step that writes a buffer is int8 and every
//! step that reads it reads levels of one scale, the buffer holds those levels instead
//! of fp32 values: the producer writes bytes (a quarter of the memory traffic), the
//! consumers skip quantising, and max pooling pools the levels. The bytes are those the
//! consumers would have quantised (see `gemm_int8`'s `Int8Out::Levels`), so the
//! network's output does not change.

use super::conv::{Activations, ConvKernel};
use super::ops::gemm::int8::quantized_len;
use super::plan::{self, BufferId, Plan, Step};

/// How a buffer holds its activations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Store {
    /// fp32 values, CHW with a border ([`super::ops::layout::BufferLayout`]).
    Values,
    /// Levels of `scale` ([`LevelLayout`](super::ops::gemm::int8::LevelLayout)), `len` bytes.
    Levels { scale: f32, len: usize },
}

/// Per buffer of `plan`, how it is stored when its convolutions run with `kernels` (one
/// per step, `None` for pooling).
pub fn choose(plan: &Plan, kernels: &[Option<ConvKernel>]) -> Vec<Store> {
    let buffers = plan.shapes.len();
    // The scale every reader takes levels at, from the last buffer back: a pool takes
    // what its output holds (its output comes later in the plan).
    let mut scales: Vec<Option<f32>> = vec![None; buffers];
    for buffer in (0..buffers).rev().filter(|&b| b != plan::INPUT) {
        let mut readers = (plan.steps.iter().zip(kernels))
            .filter(|(planned, _)| planned.step.input() == buffer)
            .map(|(planned, kernel)| match (planned.step, kernel) {
                (Step::MaxPool { output, .. }, _) => scales[output],
                (_, kernel) => kernel.as_ref().and_then(ConvKernel::reads_levels_of),
            });
        let first = readers.next().flatten();
        scales[buffer] = first.filter(|&scale| readers.all(|s| s == Some(scale)));
    }
    // Writers: every convolution writing a buffer of levels must be int8, and a pool
    // pools levels into levels of the same scale. Dropping a buffer can drop a pool's
    // other side, so until nothing changes.
    loop {
        let mut changed = false;
        for (planned, kernel) in plan.steps.iter().zip(kernels) {
            match planned.step {
                Step::Conv { output, .. } => {
                    let int8 = kernel.as_ref().is_some_and(ConvKernel::is_int8);
                    if !int8 && scales[output].take().is_some() {
                        changed = true;
                    }
                }
                Step::MaxPool { input, output } => {
                    if scales[input] != scales[output] {
                        scales[input] = None;
                        scales[output] = None;
                        changed = true;
                    }
                }
                Step::Predict { .. } => {}
            }
        }
        if !changed {
            break;
        }
    }
    (0..buffers)
        .map(|buffer| match scales[buffer] {
            None => Store::Values,
            Some(scale) => {
                let layout = plan.layout(buffer);
                let read_to = (plan.steps.iter().zip(kernels))
                    .filter(|(planned, _)| planned.step.input() == buffer)
                    .filter_map(|(_, kernel)| kernel.as_ref().map(ConvKernel::levels_len))
                    .max()
                    .unwrap_or(0);
                let len = quantized_len(&layout, 0).max(read_to);
                Store::Levels { scale, len }
            }
        })
        .collect()
}

/// A buffer's memory, allocated once per engine; zero at first, so the borders (never
/// written) stay zero, which is the padding's value and its level.
#[derive(Debug)]
pub enum Buffer {
    Values(Vec<f32>),
    Levels(Vec<u8>),
}

impl Buffer {
    pub fn new(plan: &Plan, id: BufferId, store: Store) -> Buffer {
        match store {
            Store::Values => Buffer::Values(vec![0.0; plan.layout(id).buffer_len()]),
            Store::Levels { len, .. } => Buffer::Levels(vec![0; len]),
        }
    }

    pub fn activations(&self) -> Activations<'_> {
        match self {
            Buffer::Values(values) => Activations::Values(values),
            Buffer::Levels(levels) => Activations::Levels(levels),
        }
    }

    /// The fp32 values; `None` for levels.
    pub fn values(&self) -> Option<&[f32]> {
        match self {
            Buffer::Values(values) => Some(values),
            Buffer::Levels(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PackedModel;
    use crate::engine::ops::gemm::Isa;
    use crate::engine::ops::gemm::int8::Int8Isa;
    use crate::model::Model;
    use std::collections::BTreeMap;

    fn levels_of(packed: &PackedModel) -> Vec<String> {
        let plan = packed.plan();
        (plan.steps.iter())
            .filter_map(|planned| match planned.step {
                Step::Conv { output, .. } | Step::MaxPool { output, .. } => {
                    matches!(packed.store(output), Store::Levels { .. })
                        .then(|| planned.name.clone())
                }
                Step::Predict { .. } => None,
            })
            .collect()
    }

    fn model_with_scales(scales: &BTreeMap<String, f32>) -> Model {
        let mut model = crate::engine::tests::golden_model();
        model.metadata.int8_input_scales = scales.clone();
        model
    }

    /// With every convolution calibrated, the buffers that stay fp32 are the image and
    /// those a strided convolution reads (it splits fp32 values into phase planes);
    /// keeping one convolution at fp32 turns its input and output back to values, and a
    /// pool's two sides go together.
    #[test]
    fn levels_wherever_every_writer_is_int8_and_every_reader_reads_levels_of_one_scale() {
        let all: BTreeMap<String, f32> = crate::model::Architecture::tiny_ssd()
            .convolutions()
            .iter()
            .map(|c| (c.name.clone(), 0.05))
            .collect();
        let int8 = Int8Isa::detect();
        let packed = PackedModel::with_kernels(model_with_scales(&all), Isa::detect(), Some(int8));
        let levels = levels_of(&packed);
        for name in [
            "conv1",
            "pool1",
            "fire1.squeeze",
            "fire1.expand3x3",
            "fire9.expand1x1",
        ] {
            assert!(levels.contains(&name.to_string()), "{name}: {levels:?}");
        }
        // fire10's output feeds conv12_1 (strided), conv12_1's feeds conv12_2 (in place).
        for name in ["fire10.expand1x1", "fire10.expand3x3", "conv13_1"] {
            assert!(!levels.contains(&name.to_string()), "{name}: {levels:?}");
        }
        assert!(levels.contains(&"conv12_1".to_string()), "{levels:?}");

        // fire1.squeeze at fp32: pool1's output (its input) and conv1's with it go back
        // to values; its own output is written by an fp32 kernel.
        let mut some = all.clone();
        some.remove("fire1.squeeze");
        let packed = PackedModel::with_kernels(model_with_scales(&some), Isa::detect(), Some(int8));
        let levels = levels_of(&packed);
        for name in ["conv1", "pool1", "fire1.squeeze"] {
            assert!(!levels.contains(&name.to_string()), "{name}: {levels:?}");
        }
        assert!(
            levels.contains(&"fire1.expand1x1".to_string()),
            "{levels:?}"
        );

        // Two readers at different scales: values.
        let mut mixed = all.clone();
        mixed.insert("conf.fire4".into(), 0.07);
        let packed =
            PackedModel::with_kernels(model_with_scales(&mixed), Isa::detect(), Some(int8));
        let levels = levels_of(&packed);
        assert!(
            !levels.contains(&"fire4.expand1x1".to_string()),
            "{levels:?}"
        );
        assert!(
            levels.contains(&"fire3.expand1x1".to_string()),
            "{levels:?}"
        );

        // At fp32, nothing.
        let packed = PackedModel::with_kernels(model_with_scales(&all), Isa::detect(), None);
        assert!(levels_of(&packed).is_empty());
    }
}
