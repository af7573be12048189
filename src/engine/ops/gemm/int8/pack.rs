//! The weights quantised per output channel and packed once per engine into panels of
//! a kernel's rows, k-group by k-group.

use super::GROUP;
use super::isa::{Int8Isa, WeightWords};
use ndarray::ArrayView2;

/// Largest magnitude of a quantised weight: symmetric, so -128 is never used.
pub const WEIGHT_LEVELS: f32 = 127.0;

/// A convolution's weights as `i8`, one scale per output channel (`w ~ q * scale`):
/// each row's largest magnitude maps to 127. An all-zero row gets scale 1.
pub fn quantize_rows(weight: ArrayView2<f32>) -> (Vec<i8>, Vec<f32>) {
    let mut quantized = Vec::with_capacity(weight.len());
    let scales = weight
        .rows()
        .into_iter()
        .map(|row| {
            let largest = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            let scale = if largest > 0.0 {
                largest / WEIGHT_LEVELS
            } else {
                1.0
            };
            quantized.extend(
                row.iter()
                    .map(|w| (w / scale).round().clamp(-WEIGHT_LEVELS, WEIGHT_LEVELS) as i8),
            );
            scale
        })
        .collect();
    (quantized, scales)
}

/// A convolution's weights for the int8 product: quantised, packed for one kernel,
/// with the bias and the factor that turns each row's `i32` sums back into values.
#[derive(Debug, Clone)]
pub struct Int8Weights {
    pub(super) isa: Int8Isa,
    pub(super) rows: usize,
    /// Rows of the column matrix: k-groups of [`GROUP`] channels, times the taps.
    pub(super) depth: usize,
    panels: Vec<i32>,
    pub(super) bias: Vec<f32>,
    /// Per row: the input's scale times the row's weight scale.
    pub(super) dequantize: Vec<f32>,
}

/// One panel of packed weights: `rows` output channels from `first_row` on (the panel
/// is `mr` wide, zeros past the last row), laid out `[k-group][mr][words]`.
pub(super) struct Int8Panel<'a> {
    pub first_row: usize,
    pub rows: usize,
    pub words: &'a [i32],
}

impl Int8Weights {
    /// `weight` is `rows x (channels * taps)` in (channel, tap) order, as the fp32
    /// matrix is; `input_scale` is the scale the input is quantised with.
    pub fn new(
        isa: Int8Isa,
        weight: ArrayView2<f32>,
        bias: &[f32],
        channels: usize,
        input_scale: f32,
    ) -> Int8Weights {
        let (rows, cols) = weight.dim();
        let taps = cols / channels;
        assert_eq!(taps * channels, cols, "one weight per channel and tap");
        let (quantized, scales) = quantize_rows(weight);
        let depth = channels.div_ceil(GROUP) * taps;
        let mr = isa.mr();
        // The weight of row m for byte j of k-group r = (group, tap).
        let weight_at = |m: usize, r: usize, j: usize| -> i8 {
            let (group, tap) = (r / taps, r % taps);
            let channel = group * GROUP + j;
            if m < rows && channel < channels {
                quantized[m * cols + channel * taps + tap]
            } else {
                0
            }
        };
        let mut panels = Vec::new();
        for first_row in (0..rows).step_by(mr) {
            for r in 0..depth {
                for m in first_row..first_row + mr {
                    let w = |j| weight_at(m, r, j);
                    match isa.weight_words() {
                        WeightWords::Dot4 => {
                            panels.push(i32::from_le_bytes([0, 1, 2, 3].map(|j| w(j) as u8)));
                        }
                        WeightWords::Pairs => {
                            let pair =
                                |lo: i8, hi: i8| (i32::from(hi) << 16) | (i32::from(lo) & 0xffff);
                            panels.push(pair(w(0), w(2)));
                            panels.push(pair(w(1), w(3)));
                        }
                    }
                }
            }
        }
        Int8Weights {
            isa,
            rows,
            depth,
            panels,
            bias: bias.to_vec(),
            dequantize: scales.iter().map(|s| s * input_scale).collect(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The kernel it is packed for.
    pub fn isa(&self) -> Int8Isa {
        self.isa
    }

    /// The weight panels in order.
    pub(super) fn row_panels(&self) -> impl Iterator<Item = Int8Panel<'_>> {
        let mr = self.isa.mr();
        let len = mr * self.depth * self.isa.words();
        (0..self.rows)
            .step_by(mr)
            .zip(self.panels.chunks_exact(len))
            .map(move |(first_row, words)| Int8Panel {
                first_row,
                rows: mr.min(self.rows - first_row),
                words,
            })
    }
}

impl Int8Isa {
    /// `i32` words per row and k-group in the packed weights.
    pub(super) fn words(self) -> usize {
        match self.weight_words() {
            WeightWords::Dot4 => 1,
            WeightWords::Pairs => 2,
        }
    }
}
