//! The engine's kernels, one per file. Activations are single images in CHW layout
//! with zero borders ([`layout::BufferLayout`]), stored as flat `f32` slices.

pub mod columns;
pub mod gemm;
pub mod layout;
pub mod pool;
mod prefetch;
pub mod winograd;
