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

use super::gemm::{
    ChannelTarget, Columns, Isa, Layout, PackedWeights, Product, TASKS_PER_THREAD, Target, gemm_all,
};
use super::layout::BufferLayout;
use crate::engine::team::Team;
use ndarray::{Array2, ArrayView2};

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

/// `Aᵀ m` for one column `m` of a 6x6 product tile: four output values.
#[inline(always)]
fn transform_output_column([m0, m1, m2, m3, m4, m5]: [f32; ALPHA]) -> [f32; TILE] {
    let (sum12, diff12, sum34, diff34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + sum12 + sum34,
        diff12 + 2.0 * diff34,
        sum12 + 4.0 * sum34,
        diff12 + 8.0 * diff34 + m5,
    ]
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
    // The 4x4 outputs of tile t of output channel r, plus its bias.
    let tile_outputs = |r: usize, t: usize| -> [[f32; TILE]; TILE] {
        let product = |position: usize| m[(position * rows + r) * tiles + t];
        // Aᵀ M down each column j ...
        let columns: [[f32; TILE]; ALPHA] = std::array::from_fn(|j| {
            transform_output_column(std::array::from_fn(|i| product(i * ALPHA + j)))
        });
        // ... then (Aᵀ M) A along each output row.
        std::array::from_fn(|i| {
            transform_output_column(std::array::from_fn(|j| columns[j][i]))
                .map(|y| y + weights.bias[r])
        })
    };
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
                    for (i, row) in tile_outputs(r, t).iter().take(height - y).enumerate() {
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
                    let kept_rows = TILE.min(height - TILE * ty);
                    for r in 0..rows {
                        for tx in 0..tiles_w {
                            let x = TILE * tx;
                            let outputs = tile_outputs(r, ty * tiles_w + tx);
                            for (i, row) in outputs.iter().take(kept_rows).enumerate() {
                                for (j, &value) in row.iter().take(width - x).enumerate() {
                                    pixels[(i * width + x + j) * rows + r] = value;
                                }
                            }
                        }
                    }
                },
            );
        }
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

    #[test]
    fn matches_the_direct_convolution_on_odd_and_even_sizes() {
        for (c_in, rows, h, w) in [(3, 5, 7, 9), (4, 9, 6, 6), (2, 3, 1, 3), (5, 7, 13, 10)] {
            let input: Vec<f32> = (0..c_in * h * w)
                .map(|i| ((i * 7 % 17) as f32 - 8.0) * 0.125)
                .collect();
            let weight = Array2::from_shape_fn((rows, c_in * 9), |(m, k)| {
                ((m * 31 + k * 7) % 13) as f32 * 0.1 - 0.6
            });
            let bias: Vec<f32> = (0..rows).map(|m| m as f32 * 0.1 - 0.2).collect();
            let expected = direct(&input, c_in, h, w, &weight, &bias);

            let isa = Isa::detect();
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
                            "({r}, {y}, {x})"
                        );
                        assert!(
                            (hwc[(y * w + x) * rows + r] - want).abs() < 1e-4,
                            "({r}, {y}, {x})"
                        );
                    }
                }
            }
        }
    }
}
