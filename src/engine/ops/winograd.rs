//! Winograd F(2x2, 3x3): a 3x3 stride-1 pad-1 convolution as 16 matrix products over
//! 4x4 input tiles, 2.25 times fewer multiply-accumulates than the direct product.
//!
//! Per tile: `V = Bᵀ d B` (input), `M_ξ = U_ξ V_ξ` for the 16 positions ξ of the 4x4
//! transform (the products run on [`super::gemm`]), `Y = Aᵀ M A` (output, 2x2 pixels),
//! with the weights transformed once, `U = G g Gᵀ`.

use super::gemm::{Columns, Isa, Layout, PackedWeights, Target, gemm};
use super::layout::BufferLayout;
use crate::engine::team::Team;
use ndarray::{Array2, ArrayView2};

/// Transform positions per tile.
const POSITIONS: usize = 16;

/// Widest input row (in columns read) the input transform handles on the stack.
pub const MAX_SPAN: usize = 128;

/// Weights of one convolution in the Winograd domain: 16 matrices `Cout x Cin`.
#[derive(Debug, Clone)]
pub struct WinogradWeights {
    positions: Vec<PackedWeights>,
    bias: Vec<f32>,
}

impl WinogradWeights {
    /// `weight` is `Cout x (Cin * 9)`, each row the 3x3 kernels of the input channels.
    pub fn new(isa: Isa, weight: ArrayView2<f32>, bias: &[f32]) -> WinogradWeights {
        const G: [[f32; 3]; 4] = [
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0.0, 0.0, 1.0],
        ];
        let (rows, depth) = weight.dim();
        let inputs = depth / 9;
        let mut transformed = vec![Array2::<f32>::zeros((rows, inputs)); POSITIONS];
        for m in 0..rows {
            for c in 0..inputs {
                let g = |y: usize, x: usize| weight[[m, c * 9 + y * 3 + x]];
                // G g (4x3), then (G g) Gᵀ (4x4).
                let mut gg = [[0.0f32; 3]; 4];
                for (i, row) in gg.iter_mut().enumerate() {
                    for (x, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|y| G[i][y] * g(y, x)).sum();
                    }
                }
                for i in 0..4 {
                    for j in 0..4 {
                        transformed[i * 4 + j][[m, c]] = (0..3).map(|x| gg[i][x] * G[j][x]).sum();
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
        self.height.div_ceil(2)
    }

    pub fn tiles_w(&self) -> usize {
        self.width.div_ceil(2)
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

    /// Scratch for the products, laid out `[output channel][position][tile]`.
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
    // The columns the tiles of a row read: 2 * tiles_w + 2, starting at border - 1.
    let span = 2 * tiles_w + 2;
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
            // Rows past the plane's end (odd sizes) read as zero, via this copy.
            let mut edge = [[0.0f32; MAX_SPAN]; 4];
            let mut bt = [[0.0f32; MAX_SPAN]; 4];
            for ty in 0..tiles_h {
                // The tile row's four input rows (padded row 2ty - 1 + border ...), then
                // Bᵀ d along columns for the whole row at once,
                // Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]].
                let y0 = 2 * ty + layout.border - 1;
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
                let (d0, d1, d2, d3) = (row(0), row(1), row(2), row(3));
                let [b0, b1, b2, b3] = &mut bt;
                for x in 0..span {
                    b0[x] = d0[x] - d2[x];
                    b1[x] = d1[x] + d2[x];
                    b2[x] = d2[x] - d1[x];
                    b3[x] = d1[x] - d3[x];
                }
                // Then (Bᵀ d) B along rows, for every tile of the row at once.
                let first = ty * tiles_w;
                let mut positions = block.chunks_exact_mut(padded);
                for r in &bt {
                    let mut next = || positions.next().map(|p| &mut p[first..first + tiles_w]);
                    let (Some(v0), Some(v1), Some(v2), Some(v3)) = (next(), next(), next(), next())
                    else {
                        unreachable!("the block holds 16 positions")
                    };
                    for tx in 0..tiles_w {
                        let x = 2 * tx;
                        v0[tx] = r[x] - r[x + 2];
                        v1[tx] = r[x + 1] + r[x + 2];
                        v2[tx] = r[x + 2] - r[x + 1];
                        v3[tx] = r[x + 1] - r[x + 3];
                    }
                }
            }
        },
    );
}

/// `M_ξ = U_ξ V_ξ` for the 16 positions, into `m` laid out `[row][position][tile]`.
pub fn multiply(
    weights: &WinogradWeights,
    tiling: &Tiling,
    v: &[f32],
    offsets: &[usize],
    m: &mut [f32],
    team: &Team,
) {
    let (rows, tiles) = (weights.rows(), tiling.tiles());
    // Each row's 16 positions form a 16-row plane, position ξ being row ξ.
    let buffer = BufferLayout {
        channels: rows,
        height: POSITIONS,
        width: tiles,
        border: 0,
    };
    let target = Target {
        grid_width: tiles,
        width: tiles,
        layout: Layout::ChannelMajor {
            buffer,
            first_channel: 0,
            relu: false,
        },
    };
    for (position, u) in weights.positions.iter().enumerate() {
        let columns = Columns {
            data: &v[position * tiling.padded_tiles()..],
            offsets,
            pixels: tiles,
        };
        gemm(u, columns, &mut m[position * tiles..], target, team);
    }
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
    // The 2x2 outputs of tile t from one row's products `[position][tile]`, plus bias.
    let tile_outputs = |block: &[f32], t: usize, bias: f32| -> [[f32; 2]; 2] {
        let at = |i: usize, j: usize| block[(i * 4 + j) * tiles + t];
        // Aᵀ M (rows), Aᵀ = [[1,1,1,0],[0,1,-1,-1]] ...
        let s0: [f32; 4] = std::array::from_fn(|j| at(0, j) + at(1, j) + at(2, j));
        let s1: [f32; 4] = std::array::from_fn(|j| at(1, j) - at(2, j) - at(3, j));
        // ... then (Aᵀ M) A (columns).
        [s0, s1].map(|s| [s[0] + s[1] + s[2] + bias, s[1] - s[2] - s[3] + bias])
    };
    match layout {
        Layout::ChannelMajor {
            buffer,
            first_channel,
            relu,
        } => {
            let plane = buffer.plane();
            let channels = &mut out[first_channel * plane..(first_channel + rows) * plane];
            team.for_each_chunk(channels, plane, |r, channel| {
                let block = &m[r * POSITIONS * tiles..(r + 1) * POSITIONS * tiles];
                let bias = weights.bias[r];
                for t in 0..tiles {
                    let (ty, tx) = (t / tiles_w, t % tiles_w);
                    for (i, row) in tile_outputs(block, t, bias).iter().enumerate() {
                        let y = 2 * ty + i;
                        if y >= height {
                            continue;
                        }
                        let start = (y + buffer.border) * buffer.row_stride() + buffer.border;
                        for (j, &value) in row.iter().enumerate() {
                            if 2 * tx + j < width {
                                channel[start + 2 * tx + j] =
                                    if relu { value.max(0.0) } else { value };
                            }
                        }
                    }
                }
            });
        }
        Layout::PixelMajor => {
            // Two output rows (one row of tiles) per task: a contiguous block of rows.
            team.for_each_chunk(
                &mut out[..height * width * rows],
                2 * width * rows,
                |ty, pixels| {
                    for (r, block) in m.chunks_exact(POSITIONS * tiles).take(rows).enumerate() {
                        let bias = weights.bias[r];
                        for tx in 0..tiles_w {
                            for (i, row) in tile_outputs(block, ty * tiles_w + tx, bias)
                                .iter()
                                .enumerate()
                            {
                                for (j, &value) in row.iter().enumerate() {
                                    let x = 2 * tx + j;
                                    if 2 * ty + i < height && x < width {
                                        pixels[(i * width + x) * rows + r] = value;
                                    }
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
        for (c_in, rows, h, w) in [(3, 5, 7, 9), (4, 9, 6, 6), (2, 3, 1, 3)] {
            let input: Vec<f32> = (0..c_in * h * w)
                .map(|i| ((i * 7 % 17) as f32 - 8.0) * 0.125)
                .collect();
            let weight = Array2::from_shape_fn((rows, c_in * 9), |(m, k)| {
                ((m * 31 + k * 7) % 13) as f32 * 0.1 - 0.6
            });
            let bias: Vec<f32> = (0..rows).map(|m| m as f32 * 0.1 - 0.2).collect();
            let expected = direct(&input, c_in, h, w, &weight, &bias);

            let isa = Isa::detect();
            let from = BufferLayout {
                channels: c_in,
                height: h,
                width: w,
                border: 1,
            };
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

            let to = BufferLayout {
                channels: rows,
                height: h,
                width: w,
                border: 1,
            };
            let mut chw = vec![0.0; to.buffer_len()];
            let layout = Layout::ChannelMajor {
                buffer: to,
                first_channel: 0,
                relu: false,
            };
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
