//! The int8 calibration: the scale each convolution's input is quantised with, from the
//! activations the fp32 engine computes on sample images. A scale maps a high percentile
//! of the input's values to the top level (255): the rare larger values saturate, the
//! rest keep their resolution (a plain maximum would spend the levels on outliers).

use super::ops::gemm::int8::ACTIVATION_LEVELS;
use super::{Engine, plan};
use std::collections::BTreeMap;

/// Percentiles of every int8-capable convolution's input, gathered image by image.
#[derive(Debug, Clone)]
pub struct Calibration {
    percentile: f64,
    /// Per convolution, the largest percentile seen in any image.
    largest: BTreeMap<String, f32>,
    images: usize,
    values: Vec<f32>,
}

impl Calibration {
    /// `percentile` (0 to 100) of each image's values becomes a candidate top level.
    pub fn new(percentile: f64) -> Calibration {
        Calibration {
            percentile: percentile.clamp(0.0, 100.0),
            largest: BTreeMap::new(),
            images: 0,
            values: Vec::new(),
        }
    }

    /// Records the inputs of the convolutions of `engine`'s last forward pass. The
    /// first one's input, the normalised image, is quantised back to its pixels
    /// ([`super::conv::Int8Input::Image`]): its top level is 1, the brightest pixel.
    pub fn observe(&mut self, engine: &Engine) {
        let plan = engine.plan();
        for planned in &plan.steps {
            let Some((conv, input, _)) = planned.step.convolution() else {
                continue;
            };
            let value = if input == plan::INPUT {
                1.0
            } else {
                self.values.clear();
                let layout = plan.layout(input);
                // An fp32 engine's buffers are all values.
                let Some(buffer) = engine.state.buffers[input].values() else {
                    continue;
                };
                self.values.extend(layout.interior(buffer));
                let Some(value) = percentile(&mut self.values, self.percentile) else {
                    continue;
                };
                value
            };
            let name = &engine.model().convolutions[conv].spec.name;
            let largest = self.largest.entry(name.clone()).or_insert(0.0);
            *largest = largest.max(value);
        }
        self.images += 1;
    }

    pub fn images(&self) -> usize {
        self.images
    }

    /// Per convolution, its input scale: the largest percentile seen over 255.
    /// Convolutions whose input was zero in every image are left out (they stay fp32).
    pub fn scales(&self) -> BTreeMap<String, f32> {
        self.largest
            .iter()
            .filter(|&(_, &top)| top > 0.0 && top.is_finite())
            .map(|(name, &top)| (name.clone(), top / ACTIVATION_LEVELS))
            .collect()
    }
}

/// The `p`-th percentile of `values` (nearest rank), reordering them; `None` when empty.
fn percentile(values: &mut [f32], p: f64) -> Option<f32> {
    let last = values.len().checked_sub(1)?;
    let rank = ((last as f64) * p / 100.0).round() as usize;
    let (_, value, _) = values.select_nth_unstable_by(rank.min(last), f32::total_cmp);
    Some(*value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut values: Vec<f32> = (0..=100).rev().map(|v| v as f32).collect();
        assert_eq!(percentile(&mut values, 100.0), Some(100.0));
        assert_eq!(percentile(&mut values, 99.0), Some(99.0));
        assert_eq!(percentile(&mut values, 50.0), Some(50.0));
        assert_eq!(percentile(&mut values, 0.0), Some(0.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
