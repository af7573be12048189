//! The AVX-512 (8 x 48) and AVX2/FMA (up to 6 x 16) kernels.

use super::{Epilogue, MAX_TILE};
use std::arch::x86_64::*;

/// How far ahead, in values, the AVX-512 kernel prefetches each row of its pixels: the
/// same row of the next panel of the task (48 pixels on). With a row per input channel
/// and tap, a 1x1 convolution reads as many streams as it has input channels, more than
/// the hardware prefetcher follows: Fire1-4's squeezes ran 9-20 % faster with it
/// (`bench --layers --threads 2`), the frame's median 0-4 % (`bench`, three alternating
/// rounds; Xeon, 2026-12-06). Two panels ahead measured the same; in the AVX2
/// kernel it made 1 thread 3 % slower and 2 threads 3 % faster, so that one has none.
const PREFETCH_AHEAD: usize = 48;

/// 8 x 48 tile: 24 accumulators in zmm registers.
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_avx512(
    depth: usize,
    a: *const f32,
    b: *const f32,
    offsets: *const usize,
    tile: &mut [f32; MAX_TILE],
) {
    const MR: usize = 8;
    let mut acc = [[_mm512_setzero_ps(); 3]; MR];
    for k in 0..depth {
        // SAFETY: the caller guarantees `depth` rows of 8 (a) and 48 (b) values.
        unsafe {
            let row = b.add(*offsets.add(k));
            let b0 = _mm512_loadu_ps(row);
            let b1 = _mm512_loadu_ps(row.add(16));
            let b2 = _mm512_loadu_ps(row.add(32));
            let ahead = row.wrapping_add(PREFETCH_AHEAD);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(32).cast());
            for (i, row) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*a.add(k * MR + i));
                row[0] = _mm512_fmadd_ps(a, b0, row[0]);
                row[1] = _mm512_fmadd_ps(a, b1, row[1]);
                row[2] = _mm512_fmadd_ps(a, b2, row[2]);
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: i * 48 + j * 16 + 16 <= 8 * 48 = MAX_TILE.
            unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(i * 48 + j * 16), *v) };
        }
    }
}

/// A [`kernel_avx2_rows`] of some height: (depth, a, b, offsets, out, row_stride, epilogue).
pub type Avx2Kernel =
    unsafe fn(usize, *const f32, *const f32, *const usize, *mut f32, usize, Option<Epilogue>);

/// The AVX2 kernel for tiles of `rows` x 16 (1 to 6 rows).
pub fn kernel_avx2(rows: usize) -> Avx2Kernel {
    match rows {
        1 => kernel_avx2_rows::<1>,
        2 => kernel_avx2_rows::<2>,
        3 => kernel_avx2_rows::<3>,
        4 => kernel_avx2_rows::<4>,
        5 => kernel_avx2_rows::<5>,
        6 => kernel_avx2_rows::<6>,
        _ => unreachable!("AVX2 panels have 1 to 6 rows"),
    }
}

/// `MR` x 16 tile, `MR` <= 6: at 6, 12 accumulators in ymm registers, 2 for the
/// pixels and 1 for the weight, 15 of the 16 (a 4 x 24 tile needs 17 and spilled an
/// accumulator through the stack every step: the Fire expands ran at 12-13 of a Zen
/// 3's 39 GMAC/s). The narrower ones compute a weight matrix's last rows.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` holds `depth` rows of `MR` values, `b + offsets[k]`
/// 16 values for each `k < depth`, and `out + i * row_stride` 16 writable values
/// for each `i < MR`; `epilogue`, if any, has `MR` biases.
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_avx2_rows<const MR: usize>(
    depth: usize,
    a: *const f32,
    b: *const f32,
    offsets: *const usize,
    out: *mut f32,
    row_stride: usize,
    epilogue: Option<Epilogue>,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for k in 0..depth {
        // SAFETY: the caller guarantees `depth` rows of MR (a) and 16 (b) values.
        unsafe {
            let row = b.add(*offsets.add(k));
            let b0 = _mm256_loadu_ps(row);
            let b1 = _mm256_loadu_ps(row.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let a = _mm256_set1_ps(*a.add(k * MR + i));
                row[0] = _mm256_fmadd_ps(a, b0, row[0]);
                row[1] = _mm256_fmadd_ps(a, b1, row[1]);
            }
        }
    }
    if let Some(Epilogue { bias, relu }) = epilogue {
        for (i, row) in acc.iter_mut().enumerate() {
            let bias = _mm256_set1_ps(bias[i]);
            for v in row {
                *v = _mm256_add_ps(*v, bias);
                if relu {
                    *v = _mm256_max_ps(*v, _mm256_setzero_ps());
                }
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: the caller guarantees MR rows of 16 values at `out`,
            // `row_stride` apart.
            unsafe { _mm256_storeu_ps(out.add(i * row_stride + j * 8), *v) };
        }
    }
}
