//! The engine's kernels, one per file. Tensors are single images in CHW layout,
//! stored as flat `f32` slices.

pub mod conv;
pub mod im2col;
pub mod pool;

/// Columns per parallel task: enough work to amortise scheduling, enough tasks to
/// keep every thread busy.
pub(crate) fn chunk_len(total: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    total.div_ceil(threads * 4).max(64)
}
