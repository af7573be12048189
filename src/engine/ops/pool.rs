//! 3x3 stride-2 max pooling with Caffe's ceil rounding: the last window may hang
//! over the edge and then covers only the pixels inside.

use super::gemm::Isa;
#[cfg(target_arch = "x86_64")]
use super::gemm::Kernel;
use super::layout::BufferLayout;
use crate::engine::team::Team;
use crate::model::architecture::{POOL_KERNEL, POOL_STRIDE, pooled_size};

/// Pools every channel of `input` into the interior of `output` (borders untouched),
/// with the vector instructions `isa` vouches for.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn max_pool_ceil(
    isa: Isa,
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
                let mut rows: [&[f32]; POOL_KERNEL] = [&[]; POOL_KERNEL];
                let count = (in_h - y0).min(POOL_KERNEL);
                for (dy, row) in rows[..count].iter_mut().enumerate() {
                    let start = from.index(c, y0 + dy, 0);
                    *row = &input[start..start + in_w];
                }
                let out_start = (oy + to.border) * to.row_stride() + to.border;
                let out_row = &mut out[out_start..out_start + to.width];
                match isa.kernel() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: an `Isa` naming AVX-512 exists only on a CPU with AVX-512F
                    // (see `Isa`'s constructors).
                    Kernel::Avx512 => unsafe { pool_row_avx512(&rows[..count], out_row) },
                    _ => pool_row(&rows[..count], out_row),
                }
            }
        },
    );
}

/// One output row from the (one to three) input rows under it, in plain loops: the
/// reference, and the kernel where no vector version exists.
fn pool_row(rows: &[&[f32]], out_row: &mut [f32]) {
    let in_w = rows[0].len();
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

/// [`pool_row`] 16 outputs a step: the rows' maxima over the 34 input columns under
/// them, in four vectors (columns 0-15, 16-31 and, shifted by two, 2-17, 18-33), then
/// each window's even, odd and next even column gathered by two-source permutes. The
/// columns past the row load as minus infinity (masked loads, which do not fault), so
/// the last, ceil-rounded windows take only the pixels inside, and the last step stores
/// only its outputs. With the plain loops' strided reads pool1 took 0.42 ms at 1 thread
/// and 0.25 at 2, this way 0.37 and 0.22 (OpenVINO: 0.26 at 1; Xeon of the README).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_row_avx512(rows: &[&[f32]], out_row: &mut [f32]) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    let in_w = rows[0].len();
    let lowest = _mm512_set1_ps(f32::NEG_INFINITY);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // Lanes from column `x` on that lie inside the row.
    let inside = |x: usize| -> __mmask16 {
        let lanes = in_w.saturating_sub(x).min(LANES);
        ((1u32 << lanes) - 1) as __mmask16
    };
    for (step, outputs) in out_row.chunks_mut(LANES).enumerate() {
        let x = step * LANES * POOL_STRIDE;
        let column_max = |at: usize| {
            let mask = inside(at);
            rows.iter().fold(lowest, |max, row| {
                // SAFETY: the mask keeps the load to the lanes inside `row`; masked
                // lanes are not read.
                let v =
                    unsafe { _mm512_mask_loadu_ps(lowest, mask, row.as_ptr().add(at.min(in_w))) };
                _mm512_max_ps(max, v)
            })
        };
        let (low, high) = (column_max(x), column_max(x + LANES));
        let (low2, high2) = (column_max(x + 2), column_max(x + 2 + LANES));
        let window = _mm512_max_ps(
            _mm512_max_ps(
                _mm512_permutex2var_ps(low, even, high),
                _mm512_permutex2var_ps(low, odd, high),
            ),
            _mm512_permutex2var_ps(low2, even, high2),
        );
        let kept = ((1u32 << outputs.len()) - 1) as __mmask16;
        // SAFETY: the mask stores only the `outputs.len()` <= 16 values of `outputs`.
        unsafe { _mm512_mask_storeu_ps(outputs.as_mut_ptr(), kept, window) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(isa: Isa, input: &[f32], from: &BufferLayout, to: &BufferLayout) -> Vec<f32> {
        let mut out = vec![0.0; to.buffer_len()];
        max_pool_ceil(isa, input, from, &mut out, to, &Team::new(2).expect("team"));
        out
    }

    #[test]
    fn ceil_window_at_the_edge_covers_only_inside_pixels() {
        // 4x4 input -> 2x2 output: the second window starts at column 2 and spans 2..4.
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let from = BufferLayout::new(1, 4, 4, 0);
        let to = BufferLayout::new(1, 2, 2, 1);
        for isa in Isa::available() {
            let out = pool(isa, &input, &from, &to);
            assert_eq!(
                to.interior(&out).collect::<Vec<_>>(),
                vec![10.0, 11.0, 14.0, 15.0],
                "{isa:?}"
            );
            assert_eq!(out[0], 0.0, "border stays zero");
        }
    }

    #[test]
    fn negative_values_survive() {
        let input = vec![-3.0, -1.0, -2.0, -5.0, -4.0, -6.0, -7.0, -8.0, -9.0];
        let from = BufferLayout::new(1, 3, 3, 0);
        let to = BufferLayout::new(1, 1, 1, 0);
        for isa in Isa::available() {
            assert_eq!(pool(isa, &input, &from, &to)[0], -1.0, "{isa:?}");
        }
    }

    /// Every pooling the network has (149, 75, 37, 19 and 10 wide), and widths around a
    /// vector step's 33 columns: each kernel equals the windows taken one by one, and
    /// reads nothing of the input's border (which holds a huge value here).
    #[test]
    fn every_kernel_takes_each_windows_maximum() {
        for (h, w) in [
            (149, 149),
            (75, 75),
            (37, 37),
            (19, 19),
            (10, 10),
            (5, 33),
            (4, 34),
            (3, 35),
            (7, 66),
            (3, 3),
            (3, 4),
        ] {
            let from = BufferLayout::new(2, h, w, 1);
            let to = BufferLayout::new(2, pooled_size(h), pooled_size(w), 1);
            let mut input = vec![1e9; from.buffer_len()];
            for c in 0..2 {
                for y in 0..h {
                    for x in 0..w {
                        input[from.index(c, y, x)] =
                            ((c * 7919 + y * 131 + x * 31) % 97) as f32 - 60.0;
                    }
                }
            }
            let mut expected = vec![0.0; to.buffer_len()];
            for c in 0..2 {
                for oy in 0..to.height {
                    for ox in 0..to.width {
                        let mut max = f32::NEG_INFINITY;
                        for y in oy * POOL_STRIDE..(oy * POOL_STRIDE + POOL_KERNEL).min(h) {
                            for x in ox * POOL_STRIDE..(ox * POOL_STRIDE + POOL_KERNEL).min(w) {
                                max = max.max(input[from.index(c, y, x)]);
                            }
                        }
                        expected[to.index(c, oy, ox)] = max;
                    }
                }
            }
            for isa in Isa::available() {
                assert_eq!(
                    pool(isa, &input, &from, &to),
                    expected,
                    "{isa:?} on {h}x{w}"
                );
            }
        }
    }
}
