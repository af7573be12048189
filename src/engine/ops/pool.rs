//! 3x3 stride-2 max pooling with Caffe's ceil rounding: the last window may hang
//! over the edge and then covers only the pixels inside.

use crate::model::architecture::{POOL_KERNEL, POOL_STRIDE, pooled_size};
use rayon::prelude::*;

pub fn max_pool_ceil(input: &[f32], channels: usize, in_h: usize, in_w: usize, output: &mut [f32]) {
    let (out_h, out_w) = (pooled_size(in_h), pooled_size(in_w));
    output[..channels * out_h * out_w]
        .par_chunks_mut(out_h * out_w)
        .zip(input.par_chunks(in_h * in_w))
        .for_each(|(out, plane)| {
            for (oy, out_row) in out.chunks_exact_mut(out_w).enumerate() {
                let y0 = oy * POOL_STRIDE;
                let rows = &plane[y0 * in_w..(y0 + POOL_KERNEL).min(in_h) * in_w];
                for (ox, value) in out_row.iter_mut().enumerate() {
                    let x0 = ox * POOL_STRIDE;
                    let x1 = (x0 + POOL_KERNEL).min(in_w);
                    let mut best = f32::NEG_INFINITY;
                    for row in rows.chunks_exact(in_w) {
                        for &v in &row[x0..x1] {
                            // A plain comparison: `f32::max` handles NaN and does not vectorise.
                            best = if v > best { v } else { best };
                        }
                    }
                    *value = best;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_window_at_the_edge_covers_only_inside_pixels() {
        // 4x4 input -> 2x2 output: the second window starts at column 2 and spans 2..4.
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let mut out = vec![0.0; 4];
        max_pool_ceil(&input, 1, 4, 4, &mut out);
        assert_eq!(out, vec![10.0, 11.0, 14.0, 15.0]);
    }

    #[test]
    fn negative_values_survive() {
        let input = vec![-3.0, -1.0, -2.0, -5.0, -4.0, -6.0, -7.0, -8.0, -9.0];
        let mut out = vec![0.0; 1];
        max_pool_ceil(&input, 1, 3, 3, &mut out);
        assert_eq!(out, vec![-1.0]);
    }
}
