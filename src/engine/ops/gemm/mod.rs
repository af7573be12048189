//! The matrix product at the heart of every convolution, `out = act(bias + W x cols)`,
//! as packed panels and register-blocked micro-kernels: AVX-512 or AVX2/FMA chosen at
//! run time on x86-64, NEON on aarch64, and a portable fallback.
//!
//! `W` (M x K, the weights) is packed once per engine into panels of `mr` rows; the
//! columns (K x N) are read in place, row `k` at its own offset (see
//! [`super::columns`]), in panels of `nr` pixels. A micro-kernel computes one
//! `mr x nr` tile.
//!
//! Kept apart as tract's linalg keeps them: the choice of instruction set ([`isa`]), the
//! packing of the weights ([`pack`]), this tiled driver, and the micro-kernels, one file
//! per family ([`kernels`]).

pub mod int8;
mod isa;
mod kernels;
mod pack;
#[cfg(test)]
mod tests;

pub use isa::{Isa, Kernel};
pub use pack::PackedWeights;

use super::layout::BufferLayout;
use crate::engine::team::Team;
#[cfg(target_arch = "x86_64")]
use kernels::{Epilogue, TileOutput, micro_kernel_to_output};
use kernels::{MAX_TILE, micro_kernel};
use pack::RowPanel;
use std::marker::PhantomData;

/// Tasks per thread a product that runs alone is split into: enough that a thread
/// which started late or was preempted still finds work.
pub const TASKS_PER_THREAD: usize = 4;

/// Bytes of column panels one task keeps in reach while every row panel passes over
/// them: half a typical L2.
const PANELS_CACHE: usize = 256 * 1024;

/// The right-hand side, read in place: row `k` of panel `q` (pixels `q * nr ..`)
/// starts at `data[q * nr + offsets[k]]` and holds `nr` consecutive values.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    pub data: &'a [f32],
    pub offsets: &'a [usize],
    /// Columns of the matrix (pixels of the grid it is computed on).
    pub pixels: usize,
}

/// Where column `n` of the product goes: it is pixel (n / grid_width, n % grid_width),
/// and columns at or past `width` in a row are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub grid_width: usize,
    pub width: usize,
    pub layout: Layout,
}

/// How the result is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Into a (bordered) CHW buffer.
    ChannelMajor(ChannelTarget),
    /// `out[(y * width + x) * rows + m]` (HWC), bias only: the SSD predictors'
    /// box-major rows.
    PixelMajor,
}

impl Layout {
    /// Into all of `buffer`'s channels.
    pub fn all_channels(buffer: BufferLayout, relu: bool) -> Layout {
        Layout::ChannelMajor(ChannelTarget {
            buffer,
            first_channel: 0,
            relu,
        })
    }
}

/// A CHW output: `buffer`'s channels from `first_channel` on, bias then optional ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelTarget {
    pub buffer: BufferLayout,
    pub first_channel: usize,
    pub relu: bool,
}

impl ChannelTarget {
    /// Offset of pixel (y, x) of the product's row `row`.
    pub fn index(&self, row: usize, y: usize, x: usize) -> usize {
        self.buffer.index(self.first_channel + row, y, x)
    }
}

/// A raw pointer that parallel tasks share to write disjoint tiles of one output (of
/// fp32 values, or of int8 levels).
struct SharedOut<T = f32>(*mut T);
// SAFETY: every task writes only the output elements of its own pixel panels (see
// `Product::run` and `gemm_int8`), and the product keeps the output mutably borrowed
// meanwhile.
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

// Not derived: a derive would ask `T: Copy`, and a pointer copies whatever it points to.
impl<T> Clone for SharedOut<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SharedOut<T> {}

impl<T> SharedOut<T> {
    // A method, so closures capture the whole (Sync) wrapper, not the bare pointer.
    fn ptr(self) -> *mut T {
        self.0
    }
}

/// One matrix product, `out = bias + weights x columns` written as `target` says, split
/// into tasks of a few panels of `nr` columns each ([`panels_per_task`]). Products run
/// through [`gemm_all`], several of them as one step of the team when they are small
/// (Winograd's 36 per convolution).
pub struct Product<'a> {
    weights: &'a PackedWeights,
    columns: Columns<'a>,
    target: Target,
    out: SharedOut,
    /// The output stays borrowed for as long as the product lives.
    _out: PhantomData<&'a mut [f32]>,
    panels: usize,
    /// Panels per task.
    block: usize,
}

impl<'a> Product<'a> {
    /// Checks that every read and write of the product lies inside `columns` and `out`;
    /// `tasks`: how many tasks to split it into at most (fewer where they would be
    /// under a panel; more where a task's columns would not stay in L2), e.g.
    /// [`TASKS_PER_THREAD`] per thread of the team for a product that runs alone.
    pub fn new(
        weights: &'a PackedWeights,
        columns: Columns<'a>,
        out: &'a mut [f32],
        target: Target,
        tasks: usize,
    ) -> Product<'a> {
        let nr = weights.isa.nr();
        let shape = ProductShape {
            rows: weights.rows,
            depth: weights.depth,
            offsets: columns.offsets,
            pixels: columns.pixels,
            nr,
        };
        let panels = checked_panels(
            shape,
            columns.data.len(),
            target.last_write(shape.rows, shape.pixels),
            out.len(),
        );
        Product {
            weights,
            columns,
            target,
            out: SharedOut(out.as_mut_ptr()),
            _out: PhantomData,
            panels,
            block: panels_per_task(panels, weights.depth, nr, tasks),
        }
    }

    fn tasks(&self) -> usize {
        self.panels.div_ceil(self.block)
    }

    /// Computes and writes the tiles of task `task`'s panels.
    ///
    /// # Safety
    /// No other call for the same `task` of this product runs at the same time.
    unsafe fn run(&self, task: usize) {
        let (weights, columns, target) = (self.weights, self.columns, self.target);
        let (isa, nr) = (weights.isa, weights.isa.nr());
        let mut tile = [0.0f32; MAX_TILE];
        let task_panels = task * self.block..self.panels.min((task + 1) * self.block);
        // Row panels outermost: each writes its output channels along the whole
        // task's pixels, a few long runs that the prefetcher follows, while the task's
        // column panels stay in L2.
        for panel in weights.row_panels() {
            let (first_row, rows) = (panel.first_row, panel.rows);
            for q in task_panels.clone() {
                let b = &columns.data[q * nr..];
                let first_pixel = q * nr;
                let cols = nr.min(columns.pixels - first_pixel);
                // SAFETY: `q` is one of this task's panels.
                if unsafe { self.tile_to_output(&panel, first_pixel, b) } {
                    continue;
                }
                micro_kernel(isa, &panel, b, columns.offsets, cols, &mut tile);
                let at = TileAt {
                    first_row,
                    rows,
                    first_pixel,
                    cols,
                };
                // SAFETY: the tile's output pixels are within last_write < out.len()
                // (asserted in `new`) and belong to this task's panels alone.
                unsafe { place_tile(&tile, at, nr, &weights.bias, target, self.out) };
            }
        }
    }
}

impl Product<'_> {
    /// Where the kernel can (AVX-512; AVX2 for a whole tile inside one output row), the
    /// tile of `panel` at pixel `first_pixel` computed with its bias and ReLU straight
    /// into a CHW output; false, and nothing written, elsewhere.
    ///
    /// # Safety
    /// The pixels from `first_pixel` on belong to a panel of the calling task alone.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    unsafe fn tile_to_output(&self, panel: &RowPanel, first_pixel: usize, b: &[f32]) -> bool {
        let (weights, target, nr) = (self.weights, self.target, self.weights.isa.nr());
        let Layout::ChannelMajor(to) = target.layout else {
            return false;
        };
        let (y, x) = (
            first_pixel / target.grid_width,
            first_pixel % target.grid_width,
        );
        let bias = &weights.bias[panel.first_row..panel.first_row + panel.rows];
        let tile = TileOutput {
            // Pixel (y, x) of the first channel, or where it would be if x is past the
            // row's end (then it is never written).
            out: self
                .out
                .ptr()
                .wrapping_add(to.index(panel.first_row, y, 0) + x),
            x,
            grid_width: target.grid_width,
            width: target.width,
            row_stride: to.buffer.row_stride(),
            plane: to.buffer.plane(),
            cols: nr.min(self.columns.pixels - first_pixel),
        };
        let epilogue = Epilogue {
            bias,
            relu: to.relu,
        };
        // SAFETY: the tile's kept pixels' elements lie within last_write < out.len()
        // (asserted in `new`) for every row of the panel, and the caller vouches that
        // these pixels belong to its task alone.
        unsafe {
            micro_kernel_to_output(weights.isa, panel, b, self.columns.offsets, tile, epilogue)
        }
    }

    /// Only x86 kernels write tiles straight into the output.
    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn tile_to_output(&self, _: &RowPanel, _: usize, _: &[f32]) -> bool {
        false
    }
}

/// `out = bias + weights x columns`, written as `target` says, on `team`'s threads.
pub fn gemm(
    weights: &PackedWeights,
    columns: Columns,
    out: &mut [f32],
    target: Target,
    team: &Team,
) {
    gemm_all(
        &[Product::new(
            weights,
            columns,
            out,
            target,
            TASKS_PER_THREAD * team.threads(),
        )],
        team,
    );
}

/// Runs `products` as one step of `team`, their tasks side by side: one fork and join
/// for all, and the threads stay busy to the end of the last.
pub fn gemm_all(products: &[Product], team: &Team) {
    let tasks = products.iter().map(Product::tasks).sum();
    team.for_each(tasks, |mut task| {
        for product in products {
            if task < product.tasks() {
                // SAFETY: `for_each` hands out each index once, and index `task` maps
                // to this one task of this one product.
                unsafe { product.run(task) };
                return;
            }
            task -= product.tasks();
        }
    });
}

/// Where a computed tile goes: its rows of the weight matrix and its columns of the grid.
#[derive(Clone, Copy)]
struct TileAt {
    first_row: usize,
    rows: usize,
    first_pixel: usize,
    cols: usize,
}

/// Writes `tile` (`rows x cols` of it, rows `nr` apart) plus `bias` (one per row of
/// the product) as `target` says, one grid row (segment) at a time, so stores are
/// runs; columns past `target.width` are dropped.
///
/// # Safety
/// Every output element of the tile's kept pixels lies inside the output `out` points
/// into, and no other thread touches those elements meanwhile.
unsafe fn place_tile(
    tile: &[f32; MAX_TILE],
    at: TileAt,
    nr: usize,
    bias: &[f32],
    target: Target,
    out: SharedOut,
) {
    let product_rows = bias.len();
    for RowRun { j, y, x, kept } in row_runs(at, target) {
        for i in 0..at.rows {
            let m = at.first_row + i;
            let bias = bias[m];
            let values = &tile[i * nr + j..i * nr + j + kept];
            match target.layout {
                Layout::ChannelMajor(to) => {
                    let start = to.index(m, y, x);
                    // SAFETY: the caller vouches for these kept pixels' elements.
                    let run = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(start), kept) };
                    if to.relu {
                        run.iter_mut()
                            .zip(values)
                            .for_each(|(o, &v)| *o = (v + bias).max(0.0));
                    } else {
                        run.iter_mut().zip(values).for_each(|(o, &v)| *o = v + bias);
                    }
                }
                Layout::PixelMajor => {
                    for (t, &v) in values.iter().enumerate() {
                        let index = (y * target.width + x + t) * product_rows + m;
                        // SAFETY: as above.
                        unsafe { *out.ptr().add(index) = v + bias };
                    }
                }
            }
        }
    }
}

/// A run of a tile's pixels inside one grid row: tile columns `j..j + kept` are the
/// output pixels (y, x..x + kept); the row's columns at or past the target's width are
/// left out of `kept`.
#[derive(Clone, Copy)]
struct RowRun {
    j: usize,
    y: usize,
    x: usize,
    kept: usize,
}

/// The runs of the tile `at`, left to right: what placing a tile writes, a run at a time.
fn row_runs(at: TileAt, target: Target) -> impl Iterator<Item = RowRun> {
    let (y, x) = (
        at.first_pixel / target.grid_width,
        at.first_pixel % target.grid_width,
    );
    grid_runs(x, target.grid_width, target.width, at.cols).map(move |run| RowRun {
        j: run.column,
        y: y + run.row,
        x: run.x,
        kept: run.kept,
    })
}

/// A run of a tile's columns inside one grid row: tile columns `column..column + kept`
/// are pixels `x..x + kept` of the grid row `row` rows below the tile's first pixel's,
/// inside the output's width (the row's columns past it are dropped).
#[derive(Clone, Copy)]
struct GridRun {
    column: usize,
    row: usize,
    x: usize,
    kept: usize,
}

/// The grid rows a tile of `cols` columns covers, left to right, its first column being
/// pixel `x` of a grid row `grid_width` wide whose first `width` pixels are kept: the one
/// rule for where a tile's columns go, for [`place_tile`] and for the kernels that store
/// a tile themselves.
fn grid_runs(
    x: usize,
    grid_width: usize,
    width: usize,
    cols: usize,
) -> impl Iterator<Item = GridRun> {
    let (mut column, mut x, mut row) = (0, x, 0);
    std::iter::from_fn(move || {
        (column < cols).then(|| {
            let len = (grid_width - x).min(cols - column);
            let kept = len.min(width.saturating_sub(x));
            let run = GridRun {
                column,
                row,
                x,
                kept,
            };
            (column, x, row) = (column + len, 0, row + 1);
            run
        })
    })
}

/// The sizes of a product that its reads and writes depend on.
#[derive(Clone, Copy)]
struct ProductShape<'a> {
    rows: usize,
    depth: usize,
    offsets: &'a [usize],
    pixels: usize,
    nr: usize,
}

/// The product's pixel panels, once it is checked that every read stays inside columns
/// of `columns_len` pixels and that its last write (`last_write`, an element) lies inside
/// an output of `out_len` elements: the bounds the micro-kernels' unchecked reads and the
/// tasks' writes rely on.
fn checked_panels(
    shape: ProductShape,
    columns_len: usize,
    last_write: usize,
    out_len: usize,
) -> usize {
    let panels = shape.pixels.div_ceil(shape.nr);
    assert_eq!(
        shape.offsets.len(),
        shape.depth,
        "one column row per weight column"
    );
    let last_read = shape
        .offsets
        .iter()
        .max()
        .map_or(0, |m| m + panels * shape.nr);
    assert!(
        last_read <= columns_len,
        "columns would be read past their buffer"
    );
    assert!(last_write < out_len, "output too small for the product");
    panels
}

/// Column panels a task takes: as many as keep their columns within [`PANELS_CACHE`],
/// but no more than make `tasks` tasks.
fn panels_per_task(panels: usize, depth: usize, nr: usize, tasks: usize) -> usize {
    let cached = PANELS_CACHE / (depth * nr * std::mem::size_of::<f32>()).max(1);
    let shared = panels.div_ceil(tasks.max(1));
    cached.min(shared).max(1)
}

impl Target {
    /// Output rows covered by `pixels` grid columns.
    fn grid_rows(&self, pixels: usize) -> usize {
        pixels.div_ceil(self.grid_width)
    }

    /// The last output element a product of `rows` rows over `pixels` grid columns
    /// writes: the products assert it lies inside their output.
    fn last_write(&self, rows: usize, pixels: usize) -> usize {
        let rows_out = self.grid_rows(pixels);
        match self.layout {
            Layout::ChannelMajor(to) => to.index(rows - 1, rows_out - 1, self.width - 1),
            Layout::PixelMajor => rows_out * self.width * rows - 1,
        }
    }
}
