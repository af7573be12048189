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
    ACTIVATION_LEVELS, ChannelLevels, quantize, quantize_input, quantize_phases, quantized_len,
    quantized_phases_len,
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

/// `out = bias + dequantize x (weights x columns)`, written as `target` says, on
/// `team`'s threads, in tasks of a few panels of `nr` pixels each.
pub fn gemm_int8(
    weights: &Int8Weights,
    columns: Int8Columns,
    out: &mut [f32],
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
    let panels = checked_panels(shape, columns.data.len() / GROUP, target, out.len());
    let block = panels_per_task(panels, weights.depth, nr, TASKS_PER_THREAD * team.threads());
    let out = SharedOut(out.as_mut_ptr());
    team.for_each(panels.div_ceil(block), |task| {
        let task_panels = task * block..panels.min((task + 1) * block);
        // SAFETY: `for_each` hands out each task once, tasks own disjoint panels, and
        // every write is inside the output (asserted above), which stays borrowed.
        unsafe { run_task(weights, columns, target, out, task_panels) };
    });
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
    out: SharedOut,
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
            // SAFETY: the caller vouches for this task's panels' output.
            unsafe { place_sums(&sums, at, weights, target, out) };
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
