//! The int8 matrix product, for convolutions whose input is never negative (a ReLU's):
//! `out = act(bias[m] + dequantize[m] * sum_k wq[m][k] * xq[k][n])`. The weights are
//! quantised per output channel to `i8` (symmetric, [`pack::quantize_rows`]), the input
//! per tensor to `u8` (`xq = round(x / sx)`, [`quantize`]), so `dequantize[m] = sx *
//! sw[m]`. Every kernel sums the `u8 x i8` products exactly in `i32` (at most 255 x 127
//! per product, a few thousand products: far from overflow), so all kernels give the
//! same numbers and the portable one is their reference.
//!
//! The input is quantised once per convolution into planes of [`GROUP`] channels
//! interleaved per pixel, the layout the dot-product instructions read (VNNI's
//! `vpdpbusd` sums four `u8 x i8` products into each `i32` lane). Row `r = (plane, ky,
//! kx)` of pixel panel `q` then starts at byte `GROUP * (q * nr + offsets[r])`, read in
//! place like the fp32 product's columns ([`crate::engine::ops::columns::plane_offsets`]);
//! tiles are placed as the fp32 product places its own.

mod isa;
mod kernels;
mod pack;
mod quantize;
#[cfg(test)]
mod tests;

pub use isa::{Int8Isa, Int8Kernel};
pub use pack::{Int8Weights, quantize_rows};
pub use quantize::{
    ACTIVATION_LEVELS, ChannelLevels, LevelLayout, quantize, quantize_input, quantize_phases,
    quantized_len, quantized_phases_len,
};

use super::kernels::MAX_TILE;
use super::{
    ChannelTarget, Layout, ProductShape, RowRun, SharedOut, TASKS_PER_THREAD, Target, TileAt,
    checked_panels, panels_per_task, place_tile, row_runs,
};
use crate::engine::team::Team;
use kernels::micro_kernel;

/// Channels interleaved per pixel: the four bytes one dot-product lane sums.
pub const GROUP: usize = 4;

/// The right-hand side: the quantised input ([`quantize_input`]) and the pixel offset
/// of each row (a k-group of [`GROUP`] channels at one tap).
#[derive(Debug, Clone, Copy)]
pub struct Int8Columns<'a> {
    pub data: &'a [u8],
    pub offsets: &'a [usize],
    /// Columns of the matrix (pixels of the grid it is computed on).
    pub pixels: usize,
}

/// Where an int8 product's values go.
pub enum Int8Out<'a> {
    /// As fp32 values, where the target says.
    Values(&'a mut [f32]),
    /// As levels of `scale` ([`quantize`] of the values after the ReLU) into a buffer of
    /// levels ([`LevelLayout`]) at a channel-major target: the next convolution's input,
    /// already as its product reads it.
    Levels { out: &'a mut [u8], scale: f32 },
}

/// `out = bias + dequantize x (weights x columns)`, written as `target` says, on
/// `team`'s threads, in tasks of a few panels of `nr` pixels each.
pub fn gemm_int8(
    weights: &Int8Weights,
    columns: Int8Columns,
    out: Int8Out,
    target: Target,
    team: &Team,
) {
    let nr = weights.isa.nr();
    let shape = ProductShape {
        rows: weights.rows,
        depth: weights.depth,
        offsets: columns.offsets,
        pixels: columns.pixels,
        nr,
    };
    // Pixels of GROUP bytes each.
    let columns_len = columns.data.len() / GROUP;
    let (panels, out) = match out {
        Int8Out::Values(out) => {
            let last_write = target.last_write(shape.rows, shape.pixels);
            let panels = checked_panels(shape, columns_len, last_write, out.len());
            (panels, Placing::Values(SharedOut(out.as_mut_ptr())))
        }
        Int8Out::Levels { out, scale } => {
            let Layout::ChannelMajor(to) = target.layout else {
                panic!("levels are written channel-major, into a buffer of levels");
            };
            // The last lane of the last channel's group: a group is placed as a slice of
            // whole words, though only its own lanes are written.
            let rows_out = shape.pixels.div_ceil(target.grid_width);
            let last_group = (to.first_channel + shape.rows - 1) / GROUP;
            let last_write = LevelLayout(to.buffer).index(
                last_group * GROUP + GROUP - 1,
                rows_out - 1,
                target.width - 1,
            );
            let panels = checked_panels(shape, columns_len, last_write, out.len());
            let levels = Placing::Levels {
                out: SharedOut(out.as_mut_ptr()),
                to,
                inverse: 1.0 / scale,
            };
            (panels, levels)
        }
    };
    let block = panels_per_task(panels, weights.depth, nr, TASKS_PER_THREAD * team.threads());
    team.for_each(panels.div_ceil(block), |task| {
        let task_panels = task * block..panels.min((task + 1) * block);
        // SAFETY: `for_each` hands out each task once, tasks own disjoint panels, and
        // every write is inside the output (asserted above), which stays borrowed.
        unsafe { run_task(weights, columns, target, out, task_panels) };
    });
}

/// Where the tasks of one product write, shared by them.
#[derive(Clone, Copy)]
enum Placing {
    Values(SharedOut),
    Levels {
        out: SharedOut<u8>,
        to: ChannelTarget,
        inverse: f32,
    },
}

/// Computes and places the tiles of the pixel panels `task_panels`.
///
/// # Safety
/// No other thread writes these panels' output meanwhile, and every write of the
/// product lies inside the output `out` points into.
unsafe fn run_task(
    weights: &Int8Weights,
    columns: Int8Columns,
    target: Target,
    out: Placing,
    task_panels: std::ops::Range<usize>,
) {
    let nr = weights.isa.nr();
    let mut sums = [0i32; MAX_TILE];
    for panel in weights.row_panels() {
        for q in task_panels.clone() {
            let first_pixel = q * nr;
            let b = &columns.data[first_pixel * GROUP..];
            micro_kernel(weights.isa, &panel, b, columns.offsets, &mut sums);
            let at = TileAt {
                first_row: panel.first_row,
                rows: panel.rows,
                first_pixel,
                cols: nr.min(columns.pixels - first_pixel),
            };
            match out {
                // SAFETY: the caller vouches for this task's panels' output.
                Placing::Values(out) => unsafe { place_sums(&sums, at, weights, target, out) },
                Placing::Levels { out, to, inverse } => {
                    let runs = LevelRuns {
                        sums: &sums,
                        at,
                        weights,
                        target,
                        to,
                        inverse,
                    };
                    // SAFETY: as above.
                    unsafe { place_levels(&runs, out) }
                }
            }
        }
    }
}

/// Writes the tile of sums `sums` as values (`sum * dequantize[m] + bias[m]`, then the
/// ReLU where the layout asks), with the vector instructions the kernel's CPU has.
///
/// # Safety
/// As for [`place_tile`]: the tile's kept pixels are inside the output and this
/// task's alone.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
unsafe fn place_sums(
    sums: &[i32; MAX_TILE],
    at: TileAt,
    weights: &Int8Weights,
    target: Target,
    out: SharedOut,
) {
    let Layout::ChannelMajor(to) = target.layout else {
        // The predictors' pixel-major rows: small, through the fp32 product's placing.
        let nr = weights.isa.nr();
        let mut tile = [0.0f32; MAX_TILE];
        let scales = &weights.dequantize[at.first_row..at.first_row + at.rows];
        for (i, &scale) in scales.iter().enumerate() {
            let row = i * nr..(i + 1) * nr;
            for (value, &sum) in tile[row.clone()].iter_mut().zip(&sums[row]) {
                *value = sum as f32 * scale;
            }
        }
        // SAFETY: as the caller vouches.
        return unsafe { place_tile(&tile, at, nr, &weights.bias, target, out) };
    };
    let runs = ChannelRuns {
        sums,
        at,
        weights,
        target,
        to,
    };
    match weights.isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Int8Isa` naming AVX512-VNNI exists only on a CPU with AVX-512F;
        // the caller vouches for the writes.
        Int8Kernel::Avx512Vnni => unsafe { place_runs_avx512(&runs, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX2.
        Int8Kernel::AvxVnni | Int8Kernel::Avx2 => unsafe { place_runs_avx2(&runs, out) },
        // SAFETY: the caller vouches for the writes.
        _ => unsafe { place_runs(&runs, out) },
    }
}

/// A tile of sums bound for a channel-major output.
struct ChannelRuns<'a> {
    sums: &'a [i32; MAX_TILE],
    at: TileAt,
    weights: &'a Int8Weights,
    target: Target,
    to: ChannelTarget,
}

/// Each tile row, one grid row (a run of pixels contiguous in the output) at a time:
/// plain loops over runs, which the compiler vectorises for the instruction set of
/// the function it is inlined into.
///
/// # Safety
/// As for [`place_tile`].
#[inline(always)]
unsafe fn place_runs(runs: &ChannelRuns, out: SharedOut) {
    let (at, weights, sums) = (runs.at, runs.weights, runs.sums);
    let nr = weights.isa.nr();
    for RowRun { j, y, x, kept } in row_runs(at, runs.target) {
        for i in 0..at.rows {
            let m = at.first_row + i;
            let (scale, bias) = (weights.dequantize[m], weights.bias[m]);
            let start = runs.to.index(m, y, x);
            // SAFETY: the caller vouches for these kept pixels' elements.
            let run = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(start), kept) };
            let row = &sums[i * nr + j..i * nr + j + kept];
            if runs.to.relu {
                for (o, &sum) in run.iter_mut().zip(row) {
                    *o = (sum as f32 * scale + bias).max(0.0);
                }
            } else {
                for (o, &sum) in run.iter_mut().zip(row) {
                    *o = sum as f32 * scale + bias;
                }
            }
        }
    }
}

/// [`place_runs`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512F; as for [`place_tile`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn place_runs_avx512(runs: &ChannelRuns, out: SharedOut) {
    // SAFETY: as the caller vouches.
    unsafe { place_runs(runs, out) }
}

/// [`place_runs`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2; as for [`place_tile`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn place_runs_avx2(runs: &ChannelRuns, out: SharedOut) {
    // SAFETY: as the caller vouches.
    unsafe { place_runs(runs, out) }
}

/// A tile of sums bound for a buffer of levels.
struct LevelRuns<'a> {
    sums: &'a [i32; MAX_TILE],
    at: TileAt,
    weights: &'a Int8Weights,
    target: Target,
    to: ChannelTarget,
    /// `1 / scale` of the levels.
    inverse: f32,
}

/// Writes the tile of sums as levels: each value computed as [`place_runs`] computes it,
/// then quantised as [`quantize_input`] quantises it (the ReLU is the clamp at level 0),
/// so the bytes are those the next convolution would have quantised from the values.
/// With the instructions the kernel's CPU has.
///
/// # Safety
/// Every byte of the tile's kept pixels, in every lane of the groups of the tile's
/// channels, lies inside the output, and no other thread touches those pixels meanwhile.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
unsafe fn place_levels(runs: &LevelRuns, out: SharedOut<u8>) {
    match runs.weights.isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Int8Isa` naming AVX512-VNNI exists only on a CPU with AVX-512F;
        // the caller vouches for the writes.
        Int8Kernel::Avx512Vnni => unsafe { place_levels_avx512(runs, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, AVX2.
        Int8Kernel::AvxVnni | Int8Kernel::Avx2 => unsafe { place_levels_avx2(runs, out) },
        // SAFETY: the caller vouches for the writes.
        _ => unsafe { place_level_runs(runs, out, pack_words) },
    }
}

/// [`place_levels`] with AVX-512: the loops compiled for it, [`pack_words_avx512`]
/// inlined into them.
///
/// # Safety
/// The CPU has AVX-512F; as for [`place_levels`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn place_levels_avx512(runs: &LevelRuns, out: SharedOut<u8>) {
    // SAFETY: the CPU has AVX-512F, as the caller vouches, and the writes.
    unsafe {
        place_level_runs(runs, out, |rows, inverse, words| {
            pack_words_avx512(rows, inverse, words)
        })
    }
}

/// [`place_levels`] with AVX2, as [`place_levels_avx512`].
///
/// # Safety
/// The CPU has AVX2; as for [`place_levels`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn place_levels_avx2(runs: &LevelRuns, out: SharedOut<u8>) {
    // SAFETY: the CPU has AVX2, as the caller vouches, and the writes.
    unsafe {
        place_level_runs(runs, out, |rows, inverse, words| {
            pack_words_avx2(rows, inverse, words)
        })
    }
}

/// [`place_levels`]' loops, one grid row of the tile and one group of [`GROUP`]
/// channels at a time: a group whose channels are all in the tile is written as whole
/// words by `pack` (one of the versions of [`pack_words`]), one shared with another
/// tile or another convolution (a Fire module's second expand starts mid-group) lane by
/// lane, leaving the other lanes as they are.
///
/// # Safety
/// As for [`place_levels`].
#[inline(always)]
unsafe fn place_level_runs(
    runs: &LevelRuns,
    out: SharedOut<u8>,
    pack: impl Fn(&GroupRows, f32, &mut [[u8; GROUP]]),
) {
    let LevelRuns {
        sums,
        at,
        weights,
        target,
        to,
        inverse,
    } = *runs;
    let nr = weights.isa.nr();
    let first = to.first_channel + at.first_row;
    let channels = first..first + at.rows;
    let layout = LevelLayout(to.buffer);
    for RowRun { j, y, x, kept } in row_runs(at, target) {
        let row = |i: usize| &sums[i * nr + j..i * nr + j + kept];
        for group in first / GROUP..channels.end.div_ceil(GROUP) {
            let lanes = group * GROUP..(group + 1) * GROUP;
            let start = layout.index(lanes.start, y, x);
            // SAFETY: the caller vouches for these kept pixels' bytes of every lane of
            // the tile's groups (`gemm_int8` asserts the last group's last lane inside
            // the output), and no other thread touches these pixels.
            let words: &mut [[u8; GROUP]] =
                unsafe { std::slice::from_raw_parts_mut(out.ptr().add(start).cast(), kept) };
            if channels.contains(&lanes.start) && channels.contains(&(lanes.end - 1)) {
                let i = lanes.start - first;
                let m = at.first_row + i;
                let rows = GroupRows {
                    sums: [row(i), row(i + 1), row(i + 2), row(i + 3)],
                    scale: &weights.dequantize[m..m + GROUP],
                    bias: &weights.bias[m..m + GROUP],
                };
                pack(&rows, inverse, words);
            } else {
                for c in lanes.start.max(first)..lanes.end.min(channels.end) {
                    let (i, lane) = (c - first, c % GROUP);
                    let m = at.first_row + i;
                    let (scale, bias) = (weights.dequantize[m], weights.bias[m]);
                    for (word, &sum) in words.iter_mut().zip(row(i)) {
                        word[lane] = quantize(sum as f32 * scale + bias, inverse);
                    }
                }
            }
        }
    }
}

/// The runs of a group's [`GROUP`] tile rows (equally long), and what turns their sums
/// into values: `sum * scale + bias`, as [`place_runs`] computes them. (Scales and
/// biases are read from the weights, not copied beside the runs: a copy stored as
/// single floats and loaded as pairs stalled store forwarding.)
struct GroupRows<'a> {
    sums: [&'a [i32]; GROUP],
    scale: &'a [f32],
    bias: &'a [f32],
}

/// Each pixel's four channels as one word of levels, in plain Rust: the reference the
/// vector versions reproduce (the same arithmetic, so the same bytes), and their tails.
fn pack_words(rows: &GroupRows, inverse: f32, words: &mut [[u8; GROUP]]) {
    for (x, word) in words.iter_mut().enumerate() {
        *word = std::array::from_fn(|lane| {
            quantize(
                rows.sums[lane][x] as f32 * rows.scale[lane] + rows.bias[lane],
                inverse,
            )
        });
    }
}

/// [`pack_words`] with AVX-512, 16 pixels a step, the last step masked.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pack_words_avx512(rows: &GroupRows, inverse: f32, words: &mut [[u8; GROUP]]) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    let (inverse_v, half) = (_mm512_set1_ps(inverse), _mm512_set1_ps(0.5));
    let top = _mm512_set1_ps(ACTIVATION_LEVELS);
    let n = words
        .len()
        .min(rows.sums.iter().map(|r| r.len()).min().unwrap_or(0));
    for i in (0..n).step_by(LANES) {
        let mask = ((1u32 << (n - i).min(LANES)) - 1) as __mmask16;
        let level = |lane: usize| {
            // SAFETY: the mask keeps the load to the sums from `i` to `n`.
            let sums =
                unsafe { _mm512_maskz_loadu_epi32(mask, rows.sums[lane].as_ptr().add(i).cast()) };
            let value = _mm512_add_ps(
                _mm512_mul_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(rows.scale[lane])),
                _mm512_set1_ps(rows.bias[lane]),
            );
            let x = _mm512_add_ps(_mm512_mul_ps(value, inverse_v), half);
            _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), top))
        };
        let word = _mm512_or_si512(
            _mm512_or_si512(level(0), _mm512_slli_epi32::<8>(level(1))),
            _mm512_or_si512(
                _mm512_slli_epi32::<16>(level(2)),
                _mm512_slli_epi32::<24>(level(3)),
            ),
        );
        // SAFETY: the mask stores only words from `i` to `n`.
        unsafe { _mm512_mask_storeu_epi32(words.as_mut_ptr().add(i).cast(), mask, word) };
    }
}

/// [`pack_words`] with AVX2, 8 pixels a step; the pixels past the last whole step
/// through [`pack_words`].
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn pack_words_avx2(rows: &GroupRows, inverse: f32, words: &mut [[u8; GROUP]]) {
    use std::arch::x86_64::*;
    const LANES: usize = 8;
    let (inverse_v, half) = (_mm256_set1_ps(inverse), _mm256_set1_ps(0.5));
    let top = _mm256_set1_ps(ACTIVATION_LEVELS);
    let n = words
        .len()
        .min(rows.sums.iter().map(|r| r.len()).min().unwrap_or(0));
    let whole = n / LANES * LANES;
    for i in (0..whole).step_by(LANES) {
        let level = |lane: usize| {
            // SAFETY: i + LANES <= whole <= the run's length.
            let sums = unsafe { _mm256_loadu_si256(rows.sums[lane].as_ptr().add(i).cast()) };
            let value = _mm256_add_ps(
                _mm256_mul_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(rows.scale[lane])),
                _mm256_set1_ps(rows.bias[lane]),
            );
            let x = _mm256_add_ps(_mm256_mul_ps(value, inverse_v), half);
            _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), top))
        };
        let word = _mm256_or_si256(
            _mm256_or_si256(level(0), _mm256_slli_epi32::<8>(level(1))),
            _mm256_or_si256(
                _mm256_slli_epi32::<16>(level(2)),
                _mm256_slli_epi32::<24>(level(3)),
            ),
        );
        // SAFETY: words i..i + LANES lie within `whole <= words.len()`.
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().add(i).cast(), word) };
    }
    let tail = GroupRows {
        sums: rows.sums.map(|sums| &sums[whole..]),
        ..*rows
    };
    pack_words(&tail, inverse, &mut words[whole..]);
}
