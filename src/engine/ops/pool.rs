//! 3x3 stride-2 max pooling with Caffe's ceil rounding: the last window may hang
//! over the edge and then covers only the pixels inside.

use super::layout::BufferLayout;
use crate::engine::team::Team;
use crate::model::architecture::{POOL_KERNEL, POOL_STRIDE, pooled_size};

/// Pools every channel of `input` into the interior of `output` (borders untouched).
pub fn max_pool_ceil(
    input: &[f32],
    from: &BufferLayout,
    output: &mut [f32],
    to: &BufferLayout,
    team: &Team,
) {
    debug_assert_eq!(
        (to.height, to.width),
        (pooled_size(from.height), pooled_size(from.width))
    );
    let (in_h, in_w) = (from.height, from.width);
    team.for_each_chunk(
        &mut output[..to.channels * to.plane()],
        to.plane(),
        |c, out| {
            for oy in 0..to.height {
                let y0 = oy * POOL_STRIDE;
                let rows = (y0..(y0 + POOL_KERNEL).min(in_h)).map(|y| {
                    let start = from.index(c, y, 0);
                    &input[start..start + in_w]
                });
                let out_start = (oy + to.border) * to.row_stride() + to.border;
                let out_row = &mut out[out_start..out_start + to.width];
                out_row.fill(f32::NEG_INFINITY);
                // Windows wholly inside the row, then the ceil-rounded one at the edge.
                let full = if in_w >= POOL_KERNEL {
                    (in_w - POOL_KERNEL) / POOL_STRIDE + 1
                } else {
                    0
                };
                for row in rows {
                    for (value, window) in out_row
                        .iter_mut()
                        .zip(row.windows(POOL_KERNEL).step_by(POOL_STRIDE))
                        .take(full)
                    {
                        for &v in window {
                            // A plain comparison: `f32::max` handles NaN and does not vectorise.
                            *value = if v > *value { v } else { *value };
                        }
                    }
                    for (ox, value) in out_row.iter_mut().enumerate().skip(full) {
                        for &v in &row[ox * POOL_STRIDE..in_w] {
                            *value = if v > *value { v } else { *value };
                        }
                    }
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_window_at_the_edge_covers_only_inside_pixels() {
        // 4x4 input -> 2x2 output: the second window starts at column 2 and spans 2..4.
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let from = BufferLayout::new(1, 4, 4, 0);
        let to = BufferLayout::new(1, 2, 2, 1);
        let mut out = vec![0.0; to.buffer_len()];
        max_pool_ceil(&input, &from, &mut out, &to, &Team::new(2).expect("team"));
        assert_eq!(
            to.interior(&out).collect::<Vec<_>>(),
            vec![10.0, 11.0, 14.0, 15.0]
        );
        assert_eq!(out[0], 0.0, "border stays zero");
    }

    #[test]
    fn negative_values_survive() {
        let input = vec![-3.0, -1.0, -2.0, -5.0, -4.0, -6.0, -7.0, -8.0, -9.0];
        let from = BufferLayout::new(1, 3, 3, 0);
        let to = BufferLayout::new(1, 1, 1, 0);
        let mut out = vec![0.0; to.buffer_len()];
        max_pool_ceil(&input, &from, &mut out, &to, &Team::new(2).expect("team"));
        assert_eq!(out[0], -1.0);
    }
}
