//! Winograd F(4x4, 3x3): a 3x3 stride-1 pad-1 convolution as 36 matrix products over
//! 6x6 input tiles, 4 times fewer multiply-accumulates than the direct product. Against
//! F(2x2, 3x3) (2.25 times fewer) it measured 17-25 % faster on the Fire4 and Fire8
//! confidence predictors, level on their `loc` ones and slower on the 10x10 Fire9 maps,
//! and 5 % faster on the whole network (`tinyssd bench --layers`, 1 thread).
//!
//! Per tile: `V = Bᵀ d B` (input), `M_ξ = U_ξ V_ξ` for the 36 positions ξ of the 6x6
//! transform (the products run on [`super::gemm`]), `Y = Aᵀ M A` (output, 4x4 pixels),
//! with the weights transformed once, `U = G g Gᵀ`. The interpolation points are
//! 0, ±1, ±2 and ∞ (Lavin and Gray, 2016); the network's outputs stay within 1.4e-5 of
//! ONNX Runtime's (`scripts/compare_runtimes.py`) and within the parity tests' 1e-4 of PyTorch's.

#[cfg(target_arch = "x86_64")]
use super::gemm::Kernel;
use super::gemm::{
    ChannelTarget, Columns, Isa, Layout, PackedWeights, Product, TASKS_PER_THREAD, Target, gemm_all,
};
use super::layout::BufferLayout;
use crate::engine::team::Team;
use ndarray::{Array2, ArrayView2};
use std::ops::{Add, Mul, Sub};

/// Output pixels per tile side.
const TILE: usize = 4;
/// Input pixels per tile side (the tile and the kernel's reach).
const ALPHA: usize = TILE + 2;
/// Transform positions per tile.
const POSITIONS: usize = ALPHA * ALPHA;

/// Widest input row (in columns read) the input transform handles on the stack.
const MAX_SPAN: usize = 128;

/// Input columns the tiles of one row read, for an output `width` pixels wide.
fn span(width: usize) -> usize {
    TILE * width.div_ceil(TILE) + 2
}

/// Whether the input transform can tile rows of `width` output pixels.
pub fn fits_width(width: usize) -> bool {
    span(width) <= MAX_SPAN
}

/// Weights of one convolution in the Winograd domain: 36 matrices `Cout x Cin`.
#[derive(Debug, Clone)]
pub struct WinogradWeights {
    positions: Vec<PackedWeights>,
    bias: Vec<f32>,
}

impl WinogradWeights {
    /// `weight` is `Cout x (Cin * 9)`, each row the 3x3 kernels of the input channels.
    pub fn new(isa: Isa, weight: ArrayView2<f32>, bias: &[f32]) -> WinogradWeights {
        const G: [[f64; 3]; ALPHA] = [
            [1.0 / 4.0, 0.0, 0.0],
            [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
            [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
            [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
            [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
            [0.0, 0.0, 1.0],
        ];
        let (rows, depth) = weight.dim();
        let inputs = depth / 9;
        let mut transformed = vec![Array2::<f32>::zeros((rows, inputs)); POSITIONS];
        for m in 0..rows {
            for c in 0..inputs {
                // In f64, so that the transformed weights carry no error of their own.
                let g = |y: usize, x: usize| f64::from(weight[[m, c * 9 + y * 3 + x]]);
                // G g (6x3), then (G g) Gᵀ (6x6).
                let mut gg = [[0.0f64; 3]; ALPHA];
                for (i, row) in gg.iter_mut().enumerate() {
                    for (x, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|y| G[i][y] * g(y, x)).sum();
                    }
                }
                for i in 0..ALPHA {
                    for j in 0..ALPHA {
                        let u: f64 = (0..3).map(|x| gg[i][x] * G[j][x]).sum();
                        transformed[i * ALPHA + j][[m, c]] = u as f32;
                    }
                }
            }
        }
        let zeros = vec![0.0; rows];
        WinogradWeights {
            positions: transformed
                .iter()
                .map(|u| PackedWeights::new(isa, u.view(), &zeros))
                .collect(),
            bias: bias.to_vec(),
        }
    }

    pub fn rows(&self) -> usize {
        self.bias.len()
    }

    /// The kernel its products are packed for, which its transforms match.
    fn isa(&self) -> Isa {
        self.positions[0].isa()
    }
}

/// The tiling of one input, and the scratch sizes it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub nr: usize,
}

impl Tiling {
    pub fn tiles_h(&self) -> usize {
        self.height.div_ceil(TILE)
    }

    pub fn tiles_w(&self) -> usize {
        self.width.div_ceil(TILE)
    }

    pub fn tiles(&self) -> usize {
        self.tiles_h() * self.tiles_w()
    }

    /// Tiles rounded up to whole panels of `nr`.
    fn padded_tiles(&self) -> usize {
        self.tiles().div_ceil(self.nr) * self.nr
    }

    /// Scratch for the transformed input, laid out `[channel][position][tile]`.
    pub fn input_len(&self) -> usize {
        self.channels * POSITIONS * self.padded_tiles()
    }

    /// Scratch for the products, laid out `[position][output channel][tile]`.
    pub fn product_len(&self, rows: usize) -> usize {
        rows * POSITIONS * self.tiles()
    }

    /// Offsets of the transformed input's rows (one per input channel) for position 0;
    /// position ξ adds `ξ * padded_tiles`.
    pub fn input_offsets(&self) -> Vec<usize> {
        (0..self.channels)
            .map(|c| c * POSITIONS * self.padded_tiles())
            .collect()
    }
}

/// `V = Bᵀ d B` for every tile and input channel. The input needs a border of at
/// least 1 (the padding); rows and columns past the padded plane read as zero.
/// Columns past a row's end read the next row: in exact arithmetic they only reach
/// outputs past the edge, which are dropped.
pub fn transform_input(
    input: &[f32],
    layout: &BufferLayout,
    tiling: &Tiling,
    v: &mut [f32],
    team: &Team,
) {
    debug_assert!(layout.border >= 1);
    let (tiles_h, tiles_w, padded) = (tiling.tiles_h(), tiling.tiles_w(), tiling.padded_tiles());
    let (padded_h, row_len) = (layout.height + 2 * layout.border, layout.row_stride());
    let span = span(tiling.width);
    assert!(
        span <= MAX_SPAN,
        "Winograd tiles a row of at most {MAX_SPAN} columns"
    );
    team.for_each_chunk(
        &mut v[..tiling.input_len()],
        POSITIONS * padded,
        |c, block| {
            let plane = &input[c * layout.plane()..c * layout.plane() + padded_h * row_len];
            let x0 = layout.border - 1;
            // Rows past the plane's end (sizes not a multiple of 4) read as zero, via this copy.
            let mut edge = [[0.0f32; MAX_SPAN]; ALPHA];
            let mut bt = [[0.0f32; MAX_SPAN]; ALPHA];
            for ty in 0..tiles_h {
                // The tile row's six input rows (padded row 4ty - 1 + border ...), then
                // Bᵀ d along columns for the whole row at once.
                let y0 = TILE * ty + layout.border - 1;
                for (i, copy) in edge.iter_mut().enumerate() {
                    let start = ((y0 + i) * row_len + x0).min(plane.len());
                    let available = &plane[start..(start + span).min(plane.len())];
                    if available.len() < span {
                        copy[..available.len()].copy_from_slice(available);
                        copy[available.len()..].fill(0.0);
                    }
                }
                let row = |i: usize| -> &[f32] {
                    let start = (y0 + i) * row_len + x0;
                    plane.get(start..start + span).unwrap_or(&edge[i][..span])
                };
                let d: [&[f32]; ALPHA] = std::array::from_fn(row);
                let [b0, b1, b2, b3, b4, b5] = &mut bt;
                for x in 0..span {
                    let [d0, d1, d2, d3, d4, d5] = d.map(|r| r[x]);
                    [b0[x], b1[x], b2[x], b3[x], b4[x], b5[x]] =
                        transform_input_column([d0, d1, d2, d3, d4, d5]);
                }
                // Then (Bᵀ d) B along rows, for every tile of the row at once.
                let first = ty * tiles_w;
                // Row i of Bᵀ d gives positions 6i .. 6i + 5.
                for (r, positions) in bt.iter().zip(block.chunks_exact_mut(ALPHA * padded)) {
                    for tx in 0..tiles_w {
                        let x = TILE * tx;
                        let column: [f32; ALPHA] = std::array::from_fn(|k| r[x + k]);
                        for (k, value) in transform_input_column(column).into_iter().enumerate() {
                            positions[k * padded + first + tx] = value;
                        }
                    }
                }
            }
        },
    );
}

/// `Bᵀ d` for one column `d` of a 6x6 tile.
#[inline(always)]
fn transform_input_column([d0, d1, d2, d3, d4, d5]: [f32; ALPHA]) -> [f32; ALPHA] {
    [
        4.0 * d0 - 5.0 * d2 + d4,
        -4.0 * (d1 + d2) + d3 + d4,
        4.0 * (d1 - d2) - d3 + d4,
        2.0 * (d3 - d1) - d2 + d4,
        2.0 * (d1 - d3) - d2 + d4,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `Aᵀ m` for one column `m` of a 6x6 product tile: four output values (of one tile,
/// or of several side by side in [`Lanes`]).
#[inline(always)]
fn transform_output_column<T: Value>([m0, m1, m2, m3, m4, m5]: [T; ALPHA]) -> [T; TILE] {
    let (sum12, diff12, sum34, diff34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + sum12 + sum34,
        diff12 + diff34 * 2.0,
        sum12 + sum34 * 4.0,
        diff12 + diff34 * 8.0 + m5,
    ]
}

/// `Y = Aᵀ M A` for one 6x6 tile of products (`product(ξ)` at position ξ), plus `bias`:
/// its 4x4 outputs. In loops and array literals rather than `array::from_fn` and `map`,
/// whose calls were not inlined for [`Lanes`].
#[inline(always)]
fn tile_outputs<T: Value>(product: impl Fn(usize) -> T, bias: f32) -> [[T; TILE]; TILE] {
    // Aᵀ M down each column j ...
    let mut columns = [[T::default(); TILE]; ALPHA];
    for (j, column) in columns.iter_mut().enumerate() {
        let at = |i: usize| product(i * ALPHA + j);
        *column = transform_output_column([at(0), at(1), at(2), at(3), at(4), at(5)]);
    }
    // ... then (Aᵀ M) A along each output row.
    let mut outputs = [[T::default(); TILE]; TILE];
    for (i, row) in outputs.iter_mut().enumerate() {
        let at = |j: usize| columns[j][i];
        let values = transform_output_column([at(0), at(1), at(2), at(3), at(4), at(5)]);
        for (output, value) in row.iter_mut().zip(values) {
            *output = value + bias;
        }
    }
    outputs
}

/// What the output transform computes on: one value, or [`Lanes`].
trait Value:
    Copy
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<f32, Output = Self>
    + Add<f32, Output = Self>
{
}
impl Value for f32 {}
impl<const N: usize> Value for Lanes<N> {}

/// One value of each of `N` tiles, in element-wise loops that the compiler turns into
/// vector instructions where they are wide enough ([`TileRow::transform`]).
#[derive(Clone, Copy)]
struct Lanes<const N: usize>([f32; N]);

// By hand: `Default` is derived only for arrays of up to 32.
impl<const N: usize> Default for Lanes<N> {
    fn default() -> Self {
        Lanes([0.0; N])
    }
}

impl<const N: usize> Lanes<N> {
    /// The first `N` values of `values`, or as many as it has (the rest 0): a copy of a
    /// length known only at run time was a call to `memcpy`.
    #[inline(always)]
    fn load(values: &[f32]) -> Self {
        match values.first_chunk::<N>() {
            Some(&lanes) => Lanes(lanes),
            None => {
                let mut lanes = [0.0; N];
                for (lane, &value) in lanes.iter_mut().zip(values) {
                    *lane = value;
                }
                Lanes(lanes)
            }
        }
    }
}

// Plain loops, not `array::map`: those calls were not inlined.
impl<const N: usize> Add for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, other: Self) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
        self
    }
}

impl<const N: usize> Sub for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn sub(mut self, other: Self) -> Self {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a -= b;
        }
        self
    }
}

impl<const N: usize> Mul<f32> for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn mul(mut self, factor: f32) -> Self {
        for a in &mut self.0 {
            *a *= factor;
        }
        self
    }
}

impl<const N: usize> Add<f32> for Lanes<N> {
    type Output = Self;
    #[inline(always)]
    fn add(mut self, term: f32) -> Self {
        for a in &mut self.0 {
            *a += term;
        }
        self
    }
}

/// `M_ξ = U_ξ V_ξ` for the 36 positions, into `m` laid out `[position][row][tile]`, as one
/// step of the team: each product alone is too small to share well between threads.
pub fn multiply(
    weights: &WinogradWeights,
    tiling: &Tiling,
    v: &[f32],
    offsets: &[usize],
    m: &mut [f32],
    team: &Team,
) {
    let (rows, tiles) = (weights.rows(), tiling.tiles());
    let buffer = BufferLayout::new(rows, 1, tiles, 0);
    let target = Target {
        grid_width: tiles,
        width: tiles,
        layout: Layout::all_channels(buffer, false),
    };
    // The 36 products give the team its tasks: each alone makes as few as that leaves
    // (one on 2 threads; 4 x 36 small ones cost more in claims than they balance).
    let tasks = (TASKS_PER_THREAD * team.threads()).div_ceil(POSITIONS);
    let mut outputs = m.chunks_exact_mut(rows * tiles);
    let products: [Product; POSITIONS] = std::array::from_fn(|position| {
        let columns = Columns {
            data: &v[position * tiling.padded_tiles()..],
            offsets,
            pixels: tiles,
        };
        // Too short a slice (a scratch smaller than `product_len`) fails `new`'s check.
        let out = outputs.next().unwrap_or_default();
        Product::new(&weights.positions[position], columns, out, target, tasks)
    });
    gemm_all(&products, team);
}

/// `Y = Aᵀ M A` for every tile and output channel, plus bias (and ReLU when
/// channel-major), written where `layout` says; pixels past the edge are dropped.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn transform_output(
    weights: &WinogradWeights,
    tiling: &Tiling,
    m: &[f32],
    out: &mut [f32],
    layout: Layout,
    team: &Team,
) {
    let (rows, tiles, tiles_w) = (weights.rows(), tiling.tiles(), tiling.tiles_w());
    let (height, width) = (tiling.height, tiling.width);
    match layout {
        Layout::ChannelMajor(ChannelTarget {
            buffer,
            first_channel,
            relu,
        }) => {
            let plane = buffer.plane();
            let channels = &mut out[first_channel * plane..(first_channel + rows) * plane];
            team.for_each_chunk(channels, plane, |r, channel| {
                for t in 0..tiles {
                    let (y, x) = (TILE * (t / tiles_w), TILE * (t % tiles_w));
                    let kept = TILE.min(width - x);
                    let product = |position: usize| m[(position * rows + r) * tiles + t];
                    let outputs = tile_outputs(product, weights.bias[r]);
                    for (i, row) in outputs.iter().take(height - y).enumerate() {
                        let start =
                            (y + i + buffer.border) * buffer.row_stride() + buffer.border + x;
                        for (pixel, &value) in channel[start..start + kept].iter_mut().zip(row) {
                            *pixel = if relu { value.max(0.0) } else { value };
                        }
                    }
                }
            });
        }
        Layout::PixelMajor => {
            // Four output rows (one row of tiles) per task: a contiguous block of rows.
            team.for_each_chunk(
                &mut out[..height * width * rows],
                TILE * width * rows,
                |ty, pixels| {
                    let row = TileRow {
                        m,
                        bias: &weights.bias,
                        tiles,
                        tiles_w,
                        first: ty * tiles_w,
                        width,
                        kept_rows: TILE.min(height - TILE * ty),
                    };
                    match weights.isa().kernel() {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: an `Isa` naming AVX-512 exists only on a CPU with
                        // AVX-512F (see `Isa`'s constructors).
                        Kernel::Avx512 => unsafe { row.transform_avx512(pixels) },
                        // Four lanes: the width of SSE's and NEON's registers.
                        _ => row.transform::<4>(pixels),
                    }
                },
            );
        }
    }
}

/// One row of tiles of a pixel-major output transform: the products `m` (laid out
/// `[position][row][tile]`, `tiles` per row, `bias.len()` rows), the row's tiles
/// `first..first + tiles_w`, and its `kept_rows` output rows of `width` pixels.
struct TileRow<'a> {
    m: &'a [f32],
    bias: &'a [f32],
    tiles: usize,
    tiles_w: usize,
    first: usize,
    width: usize,
    kept_rows: usize,
}

impl TileRow<'_> {
    /// Writes the row's outputs into `pixels` (its output rows, pixel-major), `N` tiles
    /// side by side: the products of consecutive tiles are contiguous. The Fire4
    /// confidence predictor's transform took 0.19 ms tile by tile, 0.09-0.10 with 16
    /// tiles compiled for AVX-512 and 0.16 with 4 for SSE; 16 tiles on SSE or AVX2 and 8
    /// on AVX2 were slower than tile by tile (a one-off timing of the transform alone,
    /// the fastest of 300 runs, AMD EPYC Zen 5, 2026-12-07).
    #[inline(always)]
    fn transform<const N: usize>(&self, pixels: &mut [f32]) {
        let rows = self.bias.len();
        // Product rows (output channels) outermost: each one's products of a row of
        // tiles are contiguous.
        for (r, &bias) in self.bias.iter().enumerate() {
            for group in (0..self.tiles_w).step_by(N) {
                let count = N.min(self.tiles_w - group);
                // Lanes past the row's tiles hold other products: computed, never stored.
                let product = |position: usize| {
                    let start = (position * rows + r) * self.tiles + self.first + group;
                    Lanes::<N>::load(&self.m[start..])
                };
                let outputs = tile_outputs(product, bias);
                for (i, row) in outputs.iter().take(self.kept_rows).enumerate() {
                    for (j, lanes) in row.iter().enumerate() {
                        // The group's tiles whose column j lies inside the output.
                        let kept = self
                            .width
                            .saturating_sub(j)
                            .div_ceil(TILE)
                            .saturating_sub(group);
                        for (tile, &value) in lanes.0[..count.min(kept)].iter().enumerate() {
                            let x = TILE * (group + tile) + j;
                            pixels[(i * self.width + x) * rows + r] = value;
                        }
                    }
                }
            }
        }
    }

    /// [`TileRow::transform`] compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn transform_avx512(&self, pixels: &mut [f32]) {
        self.transform::<16>(pixels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 pad-1 convolution the obvious way.
    fn direct(
        input: &[f32],
        c_in: usize,
        h: usize,
        w: usize,
        weight: &Array2<f32>,
        bias: &[f32],
    ) -> Vec<f32> {
        let rows = weight.nrows();
        let mut out = vec![0.0; rows * h * w];
        for m in 0..rows {
            for y in 0..h {
                for x in 0..w {
                    let mut sum = bias[m];
                    for c in 0..c_in {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) =
                                    (y as isize + ky as isize - 1, x as isize + kx as isize - 1);
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    sum += weight[[m, c * 9 + ky * 3 + kx]]
                                        * input[(c * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                    }
                    out[(m * h + y) * w + x] = sum;
                }
            }
        }
        out
    }

    /// Both layouts, with every instruction set, on sizes that are and are not
    /// multiples of the tile; 70 wide is 18 tiles a row, more than the 16 the
    /// pixel-major output transform computes side by side.
    #[test]
    fn matches_the_direct_convolution_on_odd_and_even_sizes() {
        let sizes = [
            (3, 5, 7, 9),
            (4, 9, 6, 6),
            (2, 3, 1, 3),
            (5, 7, 13, 10),
            (3, 4, 9, 70),
        ];
        for ((c_in, rows, h, w), isa) in sizes
            .into_iter()
            .flat_map(|size| Isa::available().into_iter().map(move |isa| (size, isa)))
        {
            let input: Vec<f32> = (0..c_in * h * w)
                .map(|i| ((i * 7 % 17) as f32 - 8.0) * 0.125)
                .collect();
            let weight = Array2::from_shape_fn((rows, c_in * 9), |(m, k)| {
                ((m * 31 + k * 7) % 13) as f32 * 0.1 - 0.6
            });
            let bias: Vec<f32> = (0..rows).map(|m| m as f32 * 0.1 - 0.2).collect();
            let expected = direct(&input, c_in, h, w, &weight, &bias);

            let from = BufferLayout::new(c_in, h, w, 1);
            let mut buffer = vec![0.0; from.buffer_len()];
            for c in 0..c_in {
                for y in 0..h {
                    for x in 0..w {
                        buffer[from.index(c, y, x)] = input[(c * h + y) * w + x];
                    }
                }
            }
            let tiling = Tiling {
                channels: c_in,
                height: h,
                width: w,
                nr: isa.nr(),
            };
            let weights = WinogradWeights::new(isa, weight.view(), &bias);
            let mut v = vec![f32::NAN; tiling.input_len()];
            let team = Team::new(2).expect("team");
            transform_input(&buffer, &from, &tiling, &mut v, &team);
            let offsets = tiling.input_offsets();
            let mut m = vec![f32::NAN; tiling.product_len(rows)];
            multiply(&weights, &tiling, &v, &offsets, &mut m, &team);

            let to = BufferLayout::new(rows, h, w, 1);
            let mut chw = vec![0.0; to.buffer_len()];
            let layout = Layout::all_channels(to, false);
            transform_output(&weights, &tiling, &m, &mut chw, layout, &team);
            let mut hwc = vec![f32::NAN; rows * h * w];
            transform_output(&weights, &tiling, &m, &mut hwc, Layout::PixelMajor, &team);
            for r in 0..rows {
                for y in 0..h {
                    for x in 0..w {
                        let want = expected[(r * h + y) * w + x];
                        assert!(
                            (chw[to.index(r, y, x)] - want).abs() < 1e-4,
                            "{isa:?} ({r}, {y}, {x})"
                        );
                        assert!(
                            (hwc[(y * w + x) * rows + r] - want).abs() < 1e-4,
                            "{isa:?} ({r}, {y}, {x})"
                        );
                    }
                }
            }
        }
    }
}
