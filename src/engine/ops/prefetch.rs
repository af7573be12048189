//! A hint that data will be read soon, for the kernels whose reads the hardware
//! prefetcher does not foresee well enough.

/// Asks the CPU to bring every cache line of `values` into L1 ahead of its reads. A
/// hint only: it never faults and changes no value; off x86-64 it does nothing (the
/// aarch64 hint is not in stable Rust).
pub fn prefetch<T>(values: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Bytes the hint covers at a time: a cache line on the CPUs we run on.
        const LINE: usize = 64;
        let start = values.as_ptr().cast::<i8>();
        for offset in (0..std::mem::size_of_val(values)).step_by(LINE) {
            // SAFETY: SSE is part of x86-64; a prefetch reads and writes nothing, and
            // the address lies inside `values` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}
