//! The int8 micro-kernels: one `mr x nr` tile of `i32` sums per call, one file per
//! family ([`portable`], [`x86`]); [`micro_kernel`] calls the one an [`Int8Isa`] names.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::super::kernels::MAX_TILE;
use super::GROUP;
use super::isa::Int8Isa;
#[cfg(target_arch = "x86_64")]
use super::isa::Int8Kernel;
use super::pack::Int8Panel;

/// One tile of a weight panel against the columns from `b` on:
/// `tile[i * nr + j] = sum_r sum_t w[i][r][t] * b[4 * (offsets[r] + j) + t]`.
/// Every kernel computes it exactly (integer sums), so all agree bit for bit.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub(super) fn micro_kernel(
    isa: Int8Isa,
    panel: &Int8Panel,
    b: &[u8],
    offsets: &[usize],
    tile: &mut [i32; MAX_TILE],
) {
    let depth = offsets.len();
    assert_eq!(
        panel.words.len(),
        depth * isa.mr() * isa.words(),
        "one packed k-group per column row"
    );
    assert!(
        offsets.iter().all(|&o| (o + isa.nr()) * GROUP <= b.len()),
        "columns read inside their buffer"
    );
    assert!(isa.mr() * isa.nr() <= MAX_TILE, "the tile fits");
    #[cfg(target_arch = "x86_64")]
    let (a, b_ptr, offsets_ptr) = (panel.words.as_ptr(), b.as_ptr(), offsets.as_ptr());
    match isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Int8Isa` holding Avx512Vnni exists only on a CPU with AVX-512F,
        // BW and VNNI (its field is private; its constructors ask the CPU); the asserts
        // above bound every read of `a` (depth x 8 words) and `b` (32 pixels of 4 bytes
        // from each offset), and the 8 x 32 tile fits MAX_TILE.
        Int8Kernel::Avx512Vnni => unsafe {
            x86::kernel_avx512_vnni(depth, a, b_ptr, offsets_ptr, tile)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and AVX-VNNI: depth x 6 words, 16 pixels, 6 x 16.
        Int8Kernel::AvxVnni => unsafe { x86::kernel_avx_vnni(depth, a, b_ptr, offsets_ptr, tile) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2: depth x 4 x 2 words, 16 pixels, 4 x 16.
        Int8Kernel::Avx2 => unsafe { x86::kernel_avx2(depth, a, b_ptr, offsets_ptr, tile) },
        _ => portable::kernel_portable(panel.words, b, offsets, tile),
    }
}
