//! The NEON kernel (8 x 12) for aarch64, where NEON is part of the baseline: the
//! compiler already emits it everywhere, so nothing is asked of the CPU.

use super::MAX_TILE;
use std::arch::aarch64::*;

const MR: usize = 8;
const NR: usize = 12;

/// 8 x 12 tile: 24 accumulators, 3 registers for the pixels and 2 for the 8 weights
/// (each row multiplies by a lane of them, `fmla v.4s, v.4s, v.s[lane]`, so no
/// broadcast register), 29 of the 32 128-bit registers. The widest tile that fits
/// (8 x 16 would need 32 accumulators); of the shapes with 24, 8 rows pad this network's
/// output channels less than 12 do (5.5 % against 9.2 % extra rows).
///
/// `a` holds a row of 8 weights per offset, `b[offsets[k]..]` 12 pixels for each `k`
/// (slicing panics otherwise, as in the portable kernel).
///
/// Its only requirement, NEON, holds wherever this module is compiled; it is still
/// `#[target_feature]` because the intrinsics are safe only inside such a function.
#[target_feature(enable = "neon")]
pub(super) fn kernel_neon(a: &[f32], b: &[f32], offsets: &[usize], tile: &mut [f32; MAX_TILE]) {
    let mut acc = [[vdupq_n_f32(0.0); NR / 4]; MR];
    let (weight_rows, _) = a.as_chunks::<MR>();
    for (weights, &offset) in weight_rows.iter().zip(offsets) {
        let pixels = &b[offset..offset + NR];
        // SAFETY: `weights` is an array of 8 values and `pixels` a slice of 12 (its
        // slicing checked the bounds); the loads read weights 0..4 and 4..8, and pixels
        // 0..4, 4..8 and 8..12.
        let (low, high, pixels) = unsafe {
            let (a, b) = (weights.as_ptr(), pixels.as_ptr());
            let pixels = [vld1q_f32(b), vld1q_f32(b.add(4)), vld1q_f32(b.add(8))];
            (vld1q_f32(a), vld1q_f32(a.add(4)), pixels)
        };
        let [r0, r1, r2, r3, r4, r5, r6, r7] = &mut acc;
        multiply_add_row::<0>(r0, &pixels, low);
        multiply_add_row::<1>(r1, &pixels, low);
        multiply_add_row::<2>(r2, &pixels, low);
        multiply_add_row::<3>(r3, &pixels, low);
        multiply_add_row::<0>(r4, &pixels, high);
        multiply_add_row::<1>(r5, &pixels, high);
        multiply_add_row::<2>(r6, &pixels, high);
        multiply_add_row::<3>(r7, &pixels, high);
    }
    let (tile_rows, _) = tile.as_chunks_mut::<NR>();
    for (out, row) in tile_rows.iter_mut().zip(&acc) {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: `out` is an array of 12 values, and `j * 4 + 4 <= 12`.
            unsafe { vst1q_f32(out.as_mut_ptr().add(j * 4), v) };
        }
    }
}

/// One tile row plus the 12 pixels times lane `LANE` of `weights` (the row's weight).
#[inline]
#[target_feature(enable = "neon")]
fn multiply_add_row<const LANE: i32>(
    row: &mut [float32x4_t; NR / 4],
    pixels: &[float32x4_t; NR / 4],
    weights: float32x4_t,
) {
    for (acc, &pixels) in row.iter_mut().zip(pixels) {
        *acc = vfmaq_laneq_f32::<LANE>(*acc, pixels, weights);
    }
}
