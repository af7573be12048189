//! The matrix product at the heart of every convolution, `out = act(bias + W x cols)`,
//! as packed panels and register-blocked micro-kernels: AVX-512 or AVX2/FMA chosen at
//! run time, and a portable fallback.
//!
//! `W` (M x K, the weights) is packed once per engine into panels of `mr` rows; the
//! columns (K x N) are read in place, row `k` at its own offset (see
//! [`super::columns`]), in panels of `nr` pixels. A micro-kernel computes one
//! `mr x nr` tile.

use super::layout::BufferLayout;
use crate::engine::team::Team;
use ndarray::ArrayView2;
use std::marker::PhantomData;

/// The instruction set the micro-kernel uses, and proof that this CPU has it: its
/// field is private, and the only ways to get one ([`Isa::detect`], [`Isa::available`])
/// ask the CPU first. So no safe call can reach an instruction the CPU lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Isa(Kernel);

/// The micro-kernels there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The fastest instruction set this CPU runs.
    pub fn detect() -> Isa {
        Isa::available()
            .last()
            .copied()
            .unwrap_or(Isa(Kernel::Portable))
    }

    /// Every instruction set this CPU can run, slowest (the portable fallback) first.
    pub fn available() -> Vec<Isa> {
        [Kernel::Portable, Kernel::Avx2Fma, Kernel::Avx512]
            .into_iter()
            .filter(|&kernel| supported(kernel))
            .map(Isa)
            .collect()
    }

    /// `kernel`, when this CPU runs it.
    pub fn of(kernel: Kernel) -> Option<Isa> {
        supported(kernel).then_some(Isa(kernel))
    }

    pub fn kernel(self) -> Kernel {
        self.0
    }

    /// Rows of a full weight panel (output channels per tile).
    pub fn mr(self) -> usize {
        match self.0 {
            Kernel::Avx512 => 8,
            Kernel::Avx2Fma => 6,
            Kernel::Portable => 4,
        }
    }

    /// Rows packed in the weight panel that starts with `left` rows still to pack: the
    /// AVX2 kernel comes in every height up to 6, so its last panel holds only the rows
    /// left (a 15-row squeeze computes 15 rows, not 18); the others pad to `mr`.
    fn panel_width(self, left: usize) -> usize {
        match self.0 {
            Kernel::Avx2Fma => left.min(self.mr()),
            Kernel::Avx512 | Kernel::Portable => self.mr(),
        }
    }

    /// The weight panels of a `rows`-row matrix: first row and packed width of each.
    fn panel_spans(self, rows: usize) -> impl Iterator<Item = (usize, usize)> {
        let mut first_row = 0;
        std::iter::from_fn(move || {
            let width = (first_row < rows).then(|| self.panel_width(rows - first_row))?;
            first_row += width;
            Some((first_row - width, width))
        })
    }

    /// Columns of the pixel panel (pixels per tile).
    pub fn nr(self) -> usize {
        match self.0 {
            Kernel::Avx512 => 48,
            Kernel::Avx2Fma | Kernel::Portable => 16,
        }
    }
}

/// Whether this CPU has the instructions `kernel` uses.
fn supported(kernel: Kernel) -> bool {
    match kernel {
        Kernel::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => std::is_x86_feature_detected!("avx512f"),
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2Fma | Kernel::Avx512 => false,
    }
}

/// Largest tile of any kernel, for the stack buffer tiles are written to.
const MAX_TILE: usize = 8 * 48;

/// Tasks per thread a product that runs alone is split into: enough that a thread
/// which started late or was preempted still finds work.
pub const TASKS_PER_THREAD: usize = 4;

/// Bytes of column panels one task keeps in reach while every row panel passes over
/// them: half a typical L2.
const PANELS_CACHE: usize = 256 * 1024;

/// A weight matrix packed for one instruction set, with its bias.
#[derive(Debug, Clone)]
pub struct PackedWeights {
    isa: Isa,
    rows: usize,
    depth: usize,
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedWeights {
    /// `weight` is `rows x depth`; rows a panel pads with past the last are zero.
    pub fn new(isa: Isa, weight: ArrayView2<f32>, bias: &[f32]) -> PackedWeights {
        let (rows, depth) = weight.dim();
        let mut panels = Vec::with_capacity(rows.div_ceil(isa.mr()) * isa.mr() * depth);
        for (first_row, width) in isa.panel_spans(rows) {
            for k in 0..depth {
                for m in first_row..first_row + width {
                    panels.push(if m < rows { weight[[m, k]] } else { 0.0 });
                }
            }
        }
        PackedWeights {
            isa,
            rows,
            depth,
            panels,
            bias: bias.to_vec(),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The weight panels in order.
    fn row_panels(&self) -> impl Iterator<Item = RowPanel<'_>> {
        let spans = self.isa.panel_spans(self.rows);
        spans.scan(0, move |start, (first_row, width)| {
            let weights = &self.panels[*start..*start + width * self.depth];
            *start += width * self.depth;
            Some(RowPanel {
                first_row,
                rows: width.min(self.rows - first_row),
                width,
                weights,
            })
        })
    }
}

/// One panel of packed weights: `rows` output channels from `first_row` on, laid out
/// `[k][width]` (the rows and any padding; `width` as [`Isa::panel_width`] says).
struct RowPanel<'a> {
    first_row: usize,
    rows: usize,
    width: usize,
    weights: &'a [f32],
}

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
    /// Into a (bordered) CHW buffer from channel `first_channel` on, bias then
    /// optional ReLU.
    ChannelMajor {
        buffer: BufferLayout,
        first_channel: usize,
        relu: bool,
    },
    /// `out[(y * width + x) * rows + m]` (HWC), bias only: the SSD predictors'
    /// box-major rows.
    PixelMajor,
}

/// A raw pointer that parallel tasks share to write disjoint tiles of one output.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: every task writes only the output elements of its own pixel panels (see
// `Product::run`), and `Product` keeps the output mutably borrowed meanwhile.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    // A method, so closures capture the whole (Sync) wrapper, not the bare pointer.
    fn ptr(self) -> *mut f32 {
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
        let panels = columns.pixels.div_ceil(nr);
        assert_eq!(
            columns.offsets.len(),
            weights.depth,
            "one column row per weight column"
        );
        let last_read = columns.offsets.iter().max().map_or(0, |m| m + panels * nr);
        assert!(
            last_read <= columns.data.len(),
            "columns would be read past their buffer"
        );
        let rows_out = target.grid_rows(columns.pixels);
        let last_write = match target.layout {
            Layout::ChannelMajor {
                buffer,
                first_channel,
                ..
            } => buffer.index(
                first_channel + weights.rows - 1,
                rows_out - 1,
                target.width - 1,
            ),
            Layout::PixelMajor => rows_out * target.width * weights.rows - 1,
        };
        assert!(last_write < out.len(), "output too small for the product");
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
                let (y, x) = (
                    first_pixel / target.grid_width,
                    first_pixel % target.grid_width,
                );
                if let Layout::ChannelMajor {
                    buffer,
                    first_channel,
                    relu,
                } = target.layout
                    && cols == nr
                    && x + nr <= target.width
                {
                    let bias = &weights.bias[first_row..first_row + rows];
                    let start = buffer.index(first_channel + first_row, y, x);
                    // SAFETY: the tile's pixels lie in one output row and are all kept, so
                    // each of its rows is within last_write < out.len() (asserted in `new`),
                    // and these pixels belong to this task's panels alone.
                    let written = unsafe {
                        let out = self.out.ptr().add(start);
                        let epilogue = Epilogue { bias, relu };
                        let (offsets, plane) = (columns.offsets, buffer.plane());
                        micro_kernel_to_output(isa, &panel, b, offsets, out, plane, epilogue)
                    };
                    if written {
                        continue;
                    }
                }
                micro_kernel(isa, &panel, b, columns.offsets, &mut tile);
                let at = TileAt {
                    first_row,
                    rows,
                    first_pixel,
                    cols,
                };
                // SAFETY: the tile's output pixels are within last_write < out.len()
                // (asserted in `new`) and belong to this task's panels alone.
                unsafe { place_tile(&tile, at, weights, target, self.out) };
            }
        }
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

/// Writes `tile` (`rows x cols` of it, rows `nr` apart) plus bias as `target` says,
/// one grid row (segment) at a time, so stores are runs; columns past `target.width`
/// are dropped.
///
/// # Safety
/// Every output element of the tile's kept pixels lies inside the output `out` points
/// into, and no other thread touches those elements meanwhile.
unsafe fn place_tile(
    tile: &[f32; MAX_TILE],
    at: TileAt,
    weights: &PackedWeights,
    target: Target,
    out: SharedOut,
) {
    let nr = weights.isa.nr();
    let mut j = 0;
    while j < at.cols {
        let n = at.first_pixel + j;
        let (y, x) = (n / target.grid_width, n % target.grid_width);
        let len = (target.grid_width - x).min(at.cols - j);
        let kept = len.min(target.width.saturating_sub(x));
        for i in 0..at.rows {
            let m = at.first_row + i;
            let bias = weights.bias[m];
            let values = &tile[i * nr + j..i * nr + j + kept];
            match target.layout {
                Layout::ChannelMajor {
                    buffer,
                    first_channel,
                    relu,
                } => {
                    let start = buffer.index(first_channel + m, y, x);
                    // SAFETY: the caller vouches for these kept pixels' elements.
                    let run = unsafe { std::slice::from_raw_parts_mut(out.ptr().add(start), kept) };
                    if relu {
                        run.iter_mut()
                            .zip(values)
                            .for_each(|(o, &v)| *o = (v + bias).max(0.0));
                    } else {
                        run.iter_mut().zip(values).for_each(|(o, &v)| *o = v + bias);
                    }
                }
                Layout::PixelMajor => {
                    for (t, &v) in values.iter().enumerate() {
                        let index = (y * target.width + x + t) * weights.rows + m;
                        // SAFETY: as above.
                        unsafe { *out.ptr().add(index) = v + bias };
                    }
                }
            }
        }
        j += len;
    }
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
}

/// One `width x nr` tile of a weight panel `a`:
/// `tile[i * nr + j] = sum_k a[k * width + i] * b[offsets[k] + j]`, one `k` per offset.
/// The caller guarantees `b[offsets[k] + nr - 1]` is in bounds for every k.
fn micro_kernel(
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
        _ => kernel_portable(depth, a, b, offsets, tile),
    }
}

/// Bias (one per tile row) and ReLU applied in the registers before the stores.
#[derive(Clone, Copy)]
struct Epilogue<'a> {
    bias: &'a [f32],
    relu: bool,
}

/// Where the micro-kernel can, the whole tile plus `epilogue` straight into the
/// output, row `i` at `out + i * row_stride` (AVX2, whose tile placement cost as much
/// as a fifth of a frame otherwise); returns false where it cannot (other kernels, or
/// `epilogue.bias` not one per row of `panel`), and writes nothing then.
///
/// # Safety
/// `out + i * row_stride + j` for `i < epilogue.bias.len()`, `j < nr` lie in one output
/// allocation that no other thread touches there meanwhile; `b` as for [`micro_kernel`].
unsafe fn micro_kernel_to_output(
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
    match isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `micro_kernel`; the caller vouches for the output rows, one per
        // bias value, which is one per panel row.
        Kernel::Avx2Fma if epilogue.bias.len() == width => unsafe {
            let (a, b, offsets) = (a.as_ptr(), b.as_ptr(), offsets.as_ptr());
            x86::kernel_avx2(width)(depth, a, b, offsets, out, row_stride, Some(epilogue));
            true
        },
        _ => false,
    }
}

fn kernel_portable(
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

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Epilogue, MAX_TILE};
    use std::arch::x86_64::*;

    /// 8 x 48 tile: 24 accumulators in zmm registers.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn kernel_avx512(
        depth: usize,
        a: *const f32,
        b: *const f32,
        offsets: *const usize,
        tile: &mut [f32; MAX_TILE],
    ) {
        const MR: usize = 8;
        let mut acc = [[_mm512_setzero_ps(); 3]; MR];
        for k in 0..depth {
            // SAFETY: the caller guarantees `depth` rows of 8 (a) and 48 (b) values.
            unsafe {
                let row = b.add(*offsets.add(k));
                let b0 = _mm512_loadu_ps(row);
                let b1 = _mm512_loadu_ps(row.add(16));
                let b2 = _mm512_loadu_ps(row.add(32));
                for (i, row) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*a.add(k * MR + i));
                    row[0] = _mm512_fmadd_ps(a, b0, row[0]);
                    row[1] = _mm512_fmadd_ps(a, b1, row[1]);
                    row[2] = _mm512_fmadd_ps(a, b2, row[2]);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                // SAFETY: i * 48 + j * 16 + 16 <= 8 * 48 = MAX_TILE.
                unsafe { _mm512_storeu_ps(tile.as_mut_ptr().add(i * 48 + j * 16), *v) };
            }
        }
    }

    /// A [`kernel_avx2_rows`] of some height: (depth, a, b, offsets, out, row_stride, epilogue).
    pub type Avx2Kernel =
        unsafe fn(usize, *const f32, *const f32, *const usize, *mut f32, usize, Option<Epilogue>);

    /// The AVX2 kernel for tiles of `rows` x 16 (1 to 6 rows).
    pub fn kernel_avx2(rows: usize) -> Avx2Kernel {
        match rows {
            1 => kernel_avx2_rows::<1>,
            2 => kernel_avx2_rows::<2>,
            3 => kernel_avx2_rows::<3>,
            4 => kernel_avx2_rows::<4>,
            5 => kernel_avx2_rows::<5>,
            6 => kernel_avx2_rows::<6>,
            _ => unreachable!("AVX2 panels have 1 to 6 rows"),
        }
    }

    /// `MR` x 16 tile, `MR` <= 6: at 6, 12 accumulators in ymm registers, 2 for the
    /// pixels and 1 for the weight, 15 of the 16 (a 4 x 24 tile needs 17 and spilled an
    /// accumulator through the stack every step: the Fire expands ran at 12-13 of a Zen
    /// 3's 39 GMAC/s). The narrower ones compute a weight matrix's last rows.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `depth` rows of `MR` values, `b + offsets[k]`
    /// 16 values for each `k < depth`, and `out + i * row_stride` 16 writable values
    /// for each `i < MR`; `epilogue`, if any, has `MR` biases.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel_avx2_rows<const MR: usize>(
        depth: usize,
        a: *const f32,
        b: *const f32,
        offsets: *const usize,
        out: *mut f32,
        row_stride: usize,
        epilogue: Option<Epilogue>,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for k in 0..depth {
            // SAFETY: the caller guarantees `depth` rows of MR (a) and 16 (b) values.
            unsafe {
                let row = b.add(*offsets.add(k));
                let b0 = _mm256_loadu_ps(row);
                let b1 = _mm256_loadu_ps(row.add(8));
                for (i, row) in acc.iter_mut().enumerate() {
                    let a = _mm256_set1_ps(*a.add(k * MR + i));
                    row[0] = _mm256_fmadd_ps(a, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(a, b1, row[1]);
                }
            }
        }
        if let Some(Epilogue { bias, relu }) = epilogue {
            for (i, row) in acc.iter_mut().enumerate() {
                let bias = _mm256_set1_ps(bias[i]);
                for v in row {
                    *v = _mm256_add_ps(*v, bias);
                    if relu {
                        *v = _mm256_max_ps(*v, _mm256_setzero_ps());
                    }
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                // SAFETY: the caller guarantees MR rows of 16 values at `out`,
                // `row_stride` apart.
                unsafe { _mm256_storeu_ps(out.add(i * row_stride + j * 8), *v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_isa_is_only_had_for_kernels_this_cpu_runs() {
        let available = Isa::available();
        assert_eq!(
            available.first().map(|isa| isa.kernel()),
            Some(Kernel::Portable)
        );
        for kernel in [Kernel::Portable, Kernel::Avx2Fma, Kernel::Avx512] {
            assert_eq!(
                Isa::of(kernel).is_some(),
                available.iter().any(|isa| isa.kernel() == kernel),
                "{kernel:?}"
            );
        }
        assert_eq!(available.last().copied(), Some(Isa::detect()));
    }
    use crate::engine::ops::columns::{ConvGeometry, PhaseSplit, direct_offsets};

    /// Every kernel, reading the input in place or split into planes, against a plain
    /// triple loop, on sizes that leave partial tiles: 13, 16 and 17 rows end in panels
    /// of 1, 4 and 5 rows (AVX2's narrower kernels); 1000 pixels make tasks of several
    /// panels and a shorter last one.
    #[test]
    fn every_kernel_matches_the_naive_product() {
        for (rows, pixels) in [(13, 53), (13, 1000), (16, 53), (17, 1000)] {
            assert_kernels_match_the_naive_product(rows, 7, pixels);
        }
    }

    fn assert_kernels_match_the_naive_product(rows: usize, depth: usize, pixels: usize) {
        let weight: Vec<f32> = (0..rows * depth)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.25)
            .collect();
        let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.5 - 3.0).collect();
        // A 1x1 convolution over a 1 x 53 image is exactly this product.
        let layout = BufferLayout {
            channels: depth,
            height: 1,
            width: pixels,
            border: 0,
        };
        let mut input = vec![0.0; layout.buffer_len()];
        for (i, v) in input[..depth * pixels].iter_mut().enumerate() {
            *v = ((i * 5 % 13) as f32 - 6.0) * 0.5;
        }
        let naive = |m: usize, n: usize| {
            bias[m]
                + (0..depth)
                    .map(|k| weight[m * depth + k] * input[k * pixels + n])
                    .sum::<f32>()
        };
        let g = ConvGeometry::new(depth, 1, pixels, 1, 1, 0);
        let direct = direct_offsets(&layout, &g).expect("stride 1 reads directly");
        let team = Team::new(2).expect("team");
        for isa in Isa::available() {
            let nr = isa.nr();
            let matrix = ndarray::ArrayView2::from_shape((rows, depth), &weight).expect("shape");
            let packed = PackedWeights::new(isa, matrix, &bias);
            let phases = PhaseSplit::new(&g);
            let mut split = vec![0.0; phases.len(&g, nr)];
            phases.split(&input, &layout, &g, &mut split, &team);
            let plane_offsets = phases.offsets(&g);
            let sources = [
                Columns {
                    data: &split,
                    offsets: &plane_offsets,
                    pixels,
                },
                Columns {
                    data: &input,
                    offsets: &direct,
                    pixels,
                },
            ];
            for columns in sources {
                let out_layout = BufferLayout {
                    channels: rows,
                    height: 1,
                    width: pixels,
                    border: 1,
                };
                let mut chw = vec![f32::NAN; out_layout.buffer_len()];
                let chw_target = Target {
                    grid_width: pixels,
                    width: pixels,
                    layout: Layout::ChannelMajor {
                        buffer: out_layout,
                        first_channel: 0,
                        relu: true,
                    },
                };
                gemm(&packed, columns, &mut chw, chw_target, &team);
                let mut hwc = vec![f32::NAN; rows * pixels];
                let hwc_target = Target {
                    grid_width: pixels,
                    width: pixels,
                    layout: Layout::PixelMajor,
                };
                gemm(&packed, columns, &mut hwc, hwc_target, &team);
                for m in 0..rows {
                    for n in 0..pixels {
                        let want = naive(m, n);
                        let got = chw[out_layout.index(m, 0, n)];
                        assert!((got - want.max(0.0)).abs() < 1e-4, "{isa:?} ({m}, {n})");
                        assert!(
                            (hwc[n * rows + m] - want).abs() < 1e-4,
                            "{isa:?} ({m}, {n})"
                        );
                    }
                }
                assert!(chw[0].is_nan(), "the border is never written");
            }
        }
    }
}
