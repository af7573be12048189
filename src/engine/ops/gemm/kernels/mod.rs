//! The micro-kernels: one `mr x nr` tile of the product per call, one file per family
//! ([`portable`], [`x86`], [`neon`]); [`micro_kernel`] calls the one an [`Isa`] names.

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
mod neon;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::isa::Isa;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
use super::isa::Kernel;
use super::pack::RowPanel;

/// Largest tile of any kernel, for the stack buffer tiles are written to.
pub(super) const MAX_TILE: usize = 8 * 48;

/// One `width x nr` tile of a weight panel `a`:
/// `tile[i * nr + j] = sum_k a[k * width + i] * b[offsets[k] + j]`, one `k` per offset,
/// for the columns `j < cols` at least: AVX-512 computes only the vectors of 16 those
/// need (as [`micro_kernel_to_output`] does) and leaves the rest of the tile as it was:
/// the pixel-major predictors' last panels are narrow (Fire9's grid of 97 pixels leaves
/// 1 of 48, Fire10's 22), and computing only those took the network's median from 6.28
/// to 6.14 ms at 1 thread and 3.33 to 3.25 at 2 (`bench`, 6 alternating rounds of 100;
/// AMD EPYC Zen 5, 2026-12-07).
/// The caller guarantees `b[offsets[k] + nr - 1]` is in bounds for every k.
pub(super) fn micro_kernel(
    isa: Isa,
    panel: &RowPanel,
    b: &[f32],
    offsets: &[usize],
    cols: usize,
    tile: &mut [f32; MAX_TILE],
) {
    let (a, width, depth) = (panel.weights, panel.width, offsets.len());
    debug_assert_eq!(a.len(), width * depth);
    debug_assert!(offsets.iter().all(|&o| o + isa.nr() <= b.len()));
    debug_assert!(cols <= isa.nr());
    match isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Isa` holding Avx512 exists only on a CPU with AVX-512F (its field
        // is private; its constructors check); `gemm` asserts that every row read
        // stays inside `b`.
        Kernel::Avx512 => unsafe {
            let (a, b, offsets) = (a.as_ptr(), b.as_ptr(), offsets.as_ptr());
            match cols.div_ceil(16) {
                1 => x86::kernel_avx512::<1>(depth, a, b, offsets, tile),
                2 => x86::kernel_avx512::<2>(depth, a, b, offsets, tile),
                _ => x86::kernel_avx512::<3>(depth, a, b, offsets, tile),
            }
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA; `a` holds `depth` rows of `width` (a
        // `RowPanel` is only made by `row_panels`, which packs them so; at most 6 for
        // AVX2, and `kernel_avx2` refuses more), and the tile its `width` rows of 16.
        Kernel::Avx2Fma => unsafe {
            let (a, b, offsets) = (a.as_ptr(), b.as_ptr(), offsets.as_ptr());
            x86::kernel_avx2(width)(depth, a, b, offsets, tile.as_mut_ptr(), 16, None)
        },
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        // SAFETY: this arm is compiled only for targets whose baseline has NEON, so
        // every CPU that runs this code has it; the kernel checks its own reads.
        Kernel::Neon => unsafe { neon::kernel_neon(a, b, offsets, tile) },
        _ => portable::kernel_portable(depth, a, b, offsets, tile),
    }
}

/// Bias (one per tile row) and ReLU applied in the registers before the stores.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct Epilogue<'a> {
    pub bias: &'a [f32],
    pub relu: bool,
}

/// Where a tile goes in a CHW output: its column `j` is pixel `x + j` of a grid row
/// `grid_width` wide, continuing on the next rows, of which the first `width` pixels
/// are kept (the rest are dropped); `out` is where its column 0 goes for its row 0,
/// output rows are `row_stride` apart and the tile's rows `plane` apart; its columns
/// from `cols` on are dropped too.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(super) struct TileOutput {
    pub out: *mut f32,
    pub x: usize,
    pub grid_width: usize,
    pub width: usize,
    pub row_stride: usize,
    pub plane: usize,
    pub cols: usize,
}

/// Where the micro-kernel can, the tile plus `epilogue` straight into the output, as
/// `to` says: AVX-512 for any tile, with masked stores, computing only the vectors of
/// 16 that the tile's first `to.cols` columns need (a product's last panel is often
/// narrower: Winograd's 100 tiles of a Fire4 map leave 4 of 48); AVX2 for a whole tile
/// of 16 kept pixels in one row (its tile placement cost as much as a fifth of a frame
/// otherwise). Returns false where it cannot (other kernels, other tiles, or
/// `epilogue.bias` not one per row of `panel`), and writes nothing then.
///
/// # Safety
/// The kept pixels' elements (see [`TileOutput`]) of rows `i < epilogue.bias.len()` lie
/// in one output allocation that no other thread touches there meanwhile; `to.cols <=
/// nr`, `to.x < to.grid_width` and `to.width <= to.grid_width`; `b` as for
/// [`micro_kernel`].
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn micro_kernel_to_output(
    isa: Isa,
    panel: &RowPanel,
    b: &[f32],
    offsets: &[usize],
    to: TileOutput,
    epilogue: Epilogue,
) -> bool {
    // One row of columns per weight column (`gemm` asserts it).
    let (a, width, depth) = (panel.weights, panel.width, offsets.len());
    debug_assert!(offsets.iter().all(|&o| o + isa.nr() <= b.len()));
    debug_assert!(to.cols <= isa.nr() && to.x < to.grid_width && to.width <= to.grid_width);
    if epilogue.bias.len() != panel.rows {
        return false;
    }
    let (a, b, offsets) = (a.as_ptr(), b.as_ptr(), offsets.as_ptr());
    match isa.kernel() {
        // SAFETY: as in `micro_kernel`; the caller vouches for the kept pixels' output,
        // one row per bias value, which is one per panel row (at most 8 in an AVX-512
        // panel), and for `to.cols`, which the kernel's vectors cover.
        Kernel::Avx512 => unsafe {
            match to.cols.div_ceil(16) {
                1 => x86::kernel_avx512_to_output::<1>(depth, a, b, offsets, to, epilogue),
                2 => x86::kernel_avx512_to_output::<2>(depth, a, b, offsets, to, epilogue),
                _ => x86::kernel_avx512_to_output::<3>(depth, a, b, offsets, to, epilogue),
            }
        },
        Kernel::Avx2Fma if to.cols == 16 && to.x + 16 <= to.width && width == panel.rows => {
            // SAFETY: as above; the tile is 16 kept pixels of one output row, and the
            // panel has no padding rows (`bias.len() == width`).
            unsafe {
                let (out, plane) = (to.out, to.plane);
                x86::kernel_avx2(width)(depth, a, b, offsets, out, plane, Some(epilogue));
            }
        }
        _ => return false,
    }
    true
}
