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
/// `tile[i * nr + j] = sum_k a[k * width + i] * b[offsets[k] + j]`, one `k` per offset.
/// The caller guarantees `b[offsets[k] + nr - 1]` is in bounds for every k.
pub(super) fn micro_kernel(
    isa: Isa,
    panel: &RowPanel,
    b: &[f32],
    offsets: &[usize],
    tile: &mut [f32; MAX_TILE],
) {
    let (a, width, depth) = (panel.weights, panel.width, offsets.len());
    debug_assert_eq!(a.len(), width * depth);
    debug_assert!(offsets.iter().all(|&o| o + isa.nr() <= b.len()));
    match isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Isa` holding Avx512 exists only on a CPU with AVX-512F (its field
        // is private; its constructors check); `gemm` asserts that every row read
        // stays inside `b`.
        Kernel::Avx512 => unsafe {
            x86::kernel_avx512(depth, a.as_ptr(), b.as_ptr(), offsets.as_ptr(), tile)
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

/// Where the micro-kernel can, the whole tile plus `epilogue` straight into the
/// output, row `i` at `out + i * row_stride` (AVX2, whose tile placement cost as much
/// as a fifth of a frame otherwise); returns false where it cannot (other kernels, or
/// `epilogue.bias` not one per row of `panel`), and writes nothing then.
///
/// # Safety
/// `out + i * row_stride + j` for `i < epilogue.bias.len()`, `j < nr` lie in one output
/// allocation that no other thread touches there meanwhile; `b` as for [`micro_kernel`].
#[cfg(target_arch = "x86_64")]
pub(super) unsafe fn micro_kernel_to_output(
    isa: Isa,
    panel: &RowPanel,
    b: &[f32],
    offsets: &[usize],
    out: *mut f32,
    row_stride: usize,
    epilogue: Epilogue,
) -> bool {
    // One row of columns per weight column (`gemm` asserts it).
    let (a, width, depth) = (panel.weights, panel.width, offsets.len());
    debug_assert!(offsets.iter().all(|&o| o + isa.nr() <= b.len()));
    if isa.kernel() != Kernel::Avx2Fma || epilogue.bias.len() != width {
        return false;
    }
    // SAFETY: as in `micro_kernel`; the caller vouches for the output rows, one per bias
    // value, which is one per panel row.
    unsafe {
        let (a, b, offsets) = (a.as_ptr(), b.as_ptr(), offsets.as_ptr());
        x86::kernel_avx2(width)(depth, a, b, offsets, out, row_stride, Some(epilogue));
    }
    true
}
