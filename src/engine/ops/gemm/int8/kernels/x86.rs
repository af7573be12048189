//! The x86-64 int8 kernels: AVX512-VNNI (8 x 32), AVX-VNNI (6 x 16) and AVX2 without
//! VNNI (4 x 16). Each register of columns holds a pixel's four channels per 32-bit
//! lane; a row's four weights are broadcast to every lane.

use super::MAX_TILE;
use std::arch::x86_64::*;

/// 8 x 32 tile: 16 accumulators in zmm registers; `vpdpbusd` adds four `u8 x i8`
/// products to each `i32` lane.
///
/// # Safety
/// The CPU has AVX-512F, BW and VNNI; `a` holds `depth x 8` words; for every `k <
/// depth`, 128 bytes from `b + 4 * offsets[k]` are readable.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn kernel_avx512_vnni(
    depth: usize,
    a: *const i32,
    b: *const u8,
    offsets: *const usize,
    tile: &mut [i32; MAX_TILE],
) {
    const MR: usize = 8;
    const NR: usize = 32;
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    for k in 0..depth {
        // SAFETY: the caller guarantees the reads.
        unsafe {
            let row = b.add(*offsets.add(k) * 4);
            let b0 = _mm512_loadu_si512(row.cast());
            let b1 = _mm512_loadu_si512(row.add(64).cast());
            for (i, sums) in acc.iter_mut().enumerate() {
                let w = _mm512_set1_epi32(*a.add(k * MR + i));
                sums[0] = _mm512_dpbusd_epi32(sums[0], b0, w);
                sums[1] = _mm512_dpbusd_epi32(sums[1], b1, w);
            }
        }
    }
    for (i, sums) in acc.iter().enumerate() {
        for (j, v) in sums.iter().enumerate() {
            // SAFETY: i * 32 + j * 16 + 16 <= 8 * 32 <= MAX_TILE.
            unsafe { _mm512_storeu_si512(tile.as_mut_ptr().add(i * NR + j * 16).cast(), *v) };
        }
    }
}

/// 6 x 16 tile: 12 accumulators in ymm registers, 2 for the pixels and 1 for the
/// weights, 15 of the 16.
///
/// # Safety
/// The CPU has AVX2 and AVX-VNNI; `a` holds `depth x 6` words; for every `k < depth`,
/// 64 bytes from `b + 4 * offsets[k]` are readable.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn kernel_avx_vnni(
    depth: usize,
    a: *const i32,
    b: *const u8,
    offsets: *const usize,
    tile: &mut [i32; MAX_TILE],
) {
    const MR: usize = 6;
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    for k in 0..depth {
        // SAFETY: the caller guarantees the reads.
        unsafe {
            let row = b.add(*offsets.add(k) * 4);
            let b0 = _mm256_loadu_si256(row.cast());
            let b1 = _mm256_loadu_si256(row.add(32).cast());
            for (i, sums) in acc.iter_mut().enumerate() {
                let w = _mm256_set1_epi32(*a.add(k * MR + i));
                sums[0] = _mm256_dpbusd_avx_epi32(sums[0], b0, w);
                sums[1] = _mm256_dpbusd_avx_epi32(sums[1], b1, w);
            }
        }
    }
    store_ymm_tile::<MR>(&acc, tile);
}

/// 4 x 16 tile without VNNI: each pixel's four bytes split into its even and odd
/// channels as `i16` (a mask and a shift), multiplied by the row's weights 0 and 2, 1
/// and 3 as `i16` pairs, and summed in pairs into `i32` by `vpmaddwd` (exact: 2 x 255 x
/// 127 is far inside `i16 x i16 -> i32`).
///
/// # Safety
/// The CPU has AVX2; `a` holds `depth x 4 x 2` words; for every `k < depth`, 64 bytes
/// from `b + 4 * offsets[k]` are readable.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn kernel_avx2(
    depth: usize,
    a: *const i32,
    b: *const u8,
    offsets: *const usize,
    tile: &mut [i32; MAX_TILE],
) {
    const MR: usize = 4;
    let low_bytes = _mm256_set1_epi16(0x00ff);
    let mut acc = [[_mm256_setzero_si256(); 2]; MR];
    for k in 0..depth {
        // SAFETY: the caller guarantees the reads.
        unsafe {
            let row = b.add(*offsets.add(k) * 4);
            let x0 = _mm256_loadu_si256(row.cast());
            let x1 = _mm256_loadu_si256(row.add(32).cast());
            let (even0, odd0) = (_mm256_and_si256(x0, low_bytes), _mm256_srli_epi16(x0, 8));
            let (even1, odd1) = (_mm256_and_si256(x1, low_bytes), _mm256_srli_epi16(x1, 8));
            for (i, sums) in acc.iter_mut().enumerate() {
                let w_even = _mm256_set1_epi32(*a.add((k * MR + i) * 2));
                let w_odd = _mm256_set1_epi32(*a.add((k * MR + i) * 2 + 1));
                let s0 = _mm256_add_epi32(
                    _mm256_madd_epi16(even0, w_even),
                    _mm256_madd_epi16(odd0, w_odd),
                );
                let s1 = _mm256_add_epi32(
                    _mm256_madd_epi16(even1, w_even),
                    _mm256_madd_epi16(odd1, w_odd),
                );
                sums[0] = _mm256_add_epi32(sums[0], s0);
                sums[1] = _mm256_add_epi32(sums[1], s1);
            }
        }
    }
    store_ymm_tile::<MR>(&acc, tile);
}

/// Stores `MR` rows of two ymm accumulators (16 pixels) into the tile.
#[target_feature(enable = "avx2")]
fn store_ymm_tile<const MR: usize>(acc: &[[__m256i; 2]; MR], tile: &mut [i32; MAX_TILE]) {
    assert!(MR * 16 <= MAX_TILE, "the tile fits");
    for (i, sums) in acc.iter().enumerate() {
        for (j, v) in sums.iter().enumerate() {
            // SAFETY: i * 16 + j * 8 + 8 <= MR * 16 <= MAX_TILE (asserted).
            unsafe { _mm256_storeu_si256(tile.as_mut_ptr().add(i * 16 + j * 8).cast(), *v) };
        }
    }
}
