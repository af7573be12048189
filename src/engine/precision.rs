//! The arithmetic a model runs in, and the choice a user makes of it.

use super::ops::gemm::int8::Int8Isa;
use crate::model::Model;

/// The arithmetic the convolutions run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Every convolution in `f32`.
    #[default]
    Fp32,
    /// The convolutions the model file has an input scale for in int8
    /// ([`ops::gemm::int8`]), the others in `f32`.
    Int8,
}

/// The precision asked for: one of the two, or the faster where it keeps the accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrecisionChoice {
    #[default]
    Fp32,
    Int8,
    /// Int8 where the model is calibrated and the CPU has the dot-product instructions
    /// (AVX512-VNNI or AVX-VNNI), fp32 elsewhere.
    Auto,
}

impl PrecisionChoice {
    /// The precision `model` runs at on this CPU.
    pub fn resolve(self, model: &Model) -> Precision {
        match self {
            PrecisionChoice::Fp32 => Precision::Fp32,
            PrecisionChoice::Int8 => Precision::Int8,
            PrecisionChoice::Auto => {
                let calibrated = !model.metadata.int8_input_scales.is_empty();
                if calibrated && Int8Isa::detect().has_dot_products() {
                    Precision::Int8
                } else {
                    Precision::Fp32
                }
            }
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_int8_only_for_a_calibrated_model_on_a_cpu_with_dot_products() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/weights.safetensors");
        let mut model = Model::load(&path).expect("golden weights");
        assert_eq!(PrecisionChoice::Auto.resolve(&model), Precision::Fp32);
        assert_eq!(PrecisionChoice::Int8.resolve(&model), Precision::Int8);
        model
            .metadata
            .int8_input_scales
            .insert("fire1.squeeze".into(), 0.1);
        let vnni = Int8Isa::detect().has_dot_products();
        let expected = if vnni {
            Precision::Int8
        } else {
            Precision::Fp32
        };
        assert_eq!(PrecisionChoice::Auto.resolve(&model), expected);
        assert_eq!(PrecisionChoice::Fp32.resolve(&model), Precision::Fp32);
    }
}
