//! The int8 kernel for any CPU, and the reference for the others: a 4 x 16 tile in
//! plain Rust, weights packed one `i32` (four `i8`) per row and k-group.

use super::super::GROUP;
use super::MAX_TILE;

pub(super) fn kernel_portable(
    words: &[i32],
    b: &[u8],
    offsets: &[usize],
    tile: &mut [i32; MAX_TILE],
) {
    const MR: usize = 4;
    const NR: usize = 16;
    let mut acc = [[0i32; NR]; MR];
    for (words, &offset) in words.chunks_exact(MR).zip(offsets) {
        let pixels = &b[offset * GROUP..(offset + NR) * GROUP];
        for (row, &word) in acc.iter_mut().zip(words) {
            let weights = word.to_le_bytes().map(|w| i32::from(w as i8));
            for (sum, pixel) in row.iter_mut().zip(pixels.chunks_exact(GROUP)) {
                *sum += pixel
                    .iter()
                    .zip(weights)
                    .map(|(&x, w)| i32::from(x) * w)
                    .sum::<i32>();
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        tile[i * NR..(i + 1) * NR].copy_from_slice(row);
    }
}
