//! The kernel for any CPU: a 4 x 16 tile in plain Rust.

use super::MAX_TILE;

pub(super) fn kernel_portable(
    depth: usize,
    a: &[f32],
    b: &[f32],
    offsets: &[usize],
    tile: &mut [f32; MAX_TILE],
) {
    const MR: usize = 4;
    const NR: usize = 16;
    let mut acc = [[0.0f32; NR]; MR];
    for (a, &offset) in a.chunks_exact(MR).zip(offsets).take(depth) {
        let b = &b[offset..offset + NR];
        for (row, &a) in acc.iter_mut().zip(a) {
            for (c, &b) in row.iter_mut().zip(b) {
                *c += a * b;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        tile[i * NR..(i + 1) * NR].copy_from_slice(row);
    }
}
