//! The AVX-512 (8 x 48) and AVX2/FMA (up to 6 x 16) kernels.

use super::super::grid_runs;
use super::{Epilogue, MAX_TILE, TileOutput};
use std::arch::x86_64::*;

/// How far ahead, in values, the AVX-512 kernel prefetches each row of its pixels: the
/// same row of the next panel of the task (48 pixels on). With a row per input channel
/// and tap, a 1x1 convolution reads as many streams as it has input channels, more than
/// the hardware prefetcher follows: Fire1-4's squeezes ran 9-20 % faster with it
/// (`bench --layers --threads 2`), the frame's median 0-4 % (`bench`, three alternating
/// rounds; Xeon, 2026-12-06). Two panels ahead measured the same; in the AVX2
/// kernel it made 1 thread 3 % slower and 2 threads 3 % faster, so that one has none.
const PREFETCH_AHEAD: usize = 48;

/// How far ahead, in values, the kernels prefetch the weights they broadcast: 2 KB, 64
/// steps of the sum at 8 rows, about 200 ns of arithmetic. A weight panel is read once
/// from memory and then from L1 for the rest of its row of tiles, but that first read
/// is a stream of a few kilobytes which the hardware prefetcher started too late: the
/// Fire4 confidence predictor's Winograd products, 2.2 MB of weights, took 0.78-0.86 ms
/// with the hardware prefetcher alone and 0.63-0.66 with this (one-off timing build;
/// 256 to 2048 values ahead measured alike, 128 less). The network's median (`bench`, 6 alternating
/// rounds of 100, AMD EPYC Zen 5, 2026-12-07): AVX-512 6.20 -> 5.68 ms at 1 thread and
/// 3.78 -> 3.61 at 2; AVX2 (`--fp32-kernel avx2`, 4 rounds) 9.60 -> 9.43 and 6.30 -> 6.05.
const WEIGHTS_PREFETCH_AHEAD: usize = 512;

/// The AVX-512 tile: 8 rows of `V` vectors of 16 pixels (48 pixels, 24 accumulators in
/// zmm registers, but for a product's last, narrower panel).
const MR512: usize = 8;
type Tile512<const V: usize> = [[__m512; V]; MR512];

/// The 8 x 16 `V` tile into `tile` (rows 48 apart; the columns from 16 `V` on are left
/// as they were).
///
/// # Safety
/// As for [`products_avx512`].
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_avx512<const V: usize>(
    depth: usize,
    a: *const f32,
    b: *const f32,
    offsets: *const usize,
    tile: &mut [f32; MAX_TILE],
) {
    // SAFETY: the caller's guarantees are `products_avx512`'s.
    let acc = unsafe { products_avx512::<V>(depth, a, b, offsets) };
    for (i, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            // SAFETY: i * 48 + j * 16 + 16 <= 8 * 48 = MAX_TILE, since j < V <= 3.
            unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(i * 48 + j * 16), *v) };
        }
    }
}

/// The 8 x 16 `V` tile plus `epilogue` straight into the output, as `to` says, a run of
/// kept pixels of a grid row at a time, with masked stores: a tile that spans several
/// output rows, or ends past an output row's last pixel, needs no copy through a buffer
/// (that copy, `place_tile`, was 13 % of a whole frame's `perf` profile). Its rows `i <
/// epilogue.bias.len()` are stored.
///
/// # Safety
/// As for [`kernel_avx512`] for the reads; the kept pixels' elements lie in one output
/// allocation that no other thread touches meanwhile, `to.cols <= 16 V`, `to.x <
/// to.grid_width`, and `epilogue.bias.len() <= 8`.
#[target_feature(enable = "avx512f")]
pub unsafe fn kernel_avx512_to_output<const V: usize>(
    depth: usize,
    a: *const f32,
    b: *const f32,
    offsets: *const usize,
    to: TileOutput,
    epilogue: Epilogue,
) {
    // SAFETY: the caller's guarantees are `products_avx512`'s.
    let mut acc = unsafe { products_avx512::<V>(depth, a, b, offsets) };
    let rows = epilogue.bias.len().min(MR512);
    for (row, &bias) in acc.iter_mut().zip(epilogue.bias) {
        let bias = _mm512_set1_ps(bias);
        for v in row {
            *v = _mm512_add_ps(*v, bias);
            if epilogue.relu {
                *v = _mm512_max_ps(*v, _mm512_setzero_ps());
            }
        }
    }
    for run in grid_runs(to.x, to.grid_width, to.width, to.cols) {
        // Where tile column `run.column` goes: pixel `run.x` of its grid row.
        let at = to
            .out
            .wrapping_add(run.row * to.row_stride + run.x)
            .wrapping_sub(to.x);
        let end = run.column + run.kept;
        for j in 0..V {
            let first = 16 * j;
            let (from, until) = (run.column.max(first), end.min(first + 16));
            if from >= until {
                continue;
            }
            let mask: __mmask16 = (((1u32 << (until - from)) - 1) << (from - first)) as u16;
            // Lane l of this vector is tile column first + l, which goes to
            // at + (first + l - run.column): masked-off lanes are never written, so the
            // (wrapping) address of lane 0 may lie outside the output.
            let lane0 = at.wrapping_add(first).wrapping_sub(run.column);
            for (i, row) in acc.iter().enumerate().take(rows) {
                // SAFETY: the lanes kept by `mask` are kept pixels of the tile, inside
                // the output (the caller vouches for them).
                unsafe { _mm512_mask_storeu_ps(lane0.wrapping_add(i * to.plane), mask, row[j]) };
            }
        }
    }
}

/// `acc[i][j] = sum_k a[k * 8 + i] * b[offsets[k] + 16 j ..][..16]` for `j < V`
/// (`V` at most 3).
///
/// # Safety
/// The CPU has AVX-512F; `a` holds `depth` rows of 8 values, `b + offsets[k]` 48
/// values for each `k < depth`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn products_avx512<const V: usize>(
    depth: usize,
    a: *const f32,
    b: *const f32,
    offsets: *const usize,
) -> Tile512<V> {
    let mut acc = [[_mm512_setzero_ps(); V]; MR512];
    for k in 0..depth {
        // SAFETY: the caller guarantees `depth` rows of 8 (a) and 48 (b) values; a
        // prefetch reads nothing, so its address may lie past the weights.
        unsafe {
            // Every step, though a cache line holds two steps' weights: prefetching
            // every other step measured 3 % slower at 2 threads.
            let ahead = a.wrapping_add(k * MR512 + WEIGHTS_PREFETCH_AHEAD);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            let row = b.add(*offsets.add(k));
            let b: [__m512; V] = std::array::from_fn(|j| _mm512_loadu_ps(row.add(16 * j)));
            // The next panel's row: only a full-width tile has one.
            if V == 3 {
                let ahead = row.wrapping_add(PREFETCH_AHEAD);
                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(32).cast());
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(*a.add(k * MR512 + i));
                for (v, b) in row.iter_mut().zip(b) {
                    *v = _mm512_fmadd_ps(a, b, *v);
                }
            }
        }
    }
    acc
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
        // SAFETY: the caller guarantees `depth` rows of MR (a) and 16 (b) values; a
        // prefetch reads nothing, so its address may lie past the weights.
        unsafe {
            let ahead = a.wrapping_add(k * MR + WEIGHTS_PREFETCH_AHEAD);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
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
