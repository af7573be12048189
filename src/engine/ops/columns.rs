//! The right-hand side of a convolution's matrix product, `cols[k][n]` for kernel tap
//! `k = (c, ky, kx)` and output pixel `n`. A stride-1 convolution whose input border
//! covers its padding reads it straight from the input buffer ([`direct_offsets`]); any
//! other (a strided one) reads its input split into phase planes the same way
//! ([`PhaseSplit`]). Nothing is unfolded (im2col).

use super::layout::BufferLayout;
use crate::engine::team::Team;
use crate::model::architecture::conv_output_size;
use std::ops::Range;

/// Shape of one convolution applied to one CHW input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_channels: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl ConvGeometry {
    pub fn new(
        in_channels: usize,
        in_h: usize,
        in_w: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        let out = |size: usize| conv_output_size(size, kernel, stride, pad);
        ConvGeometry {
            in_channels,
            in_h,
            in_w,
            kernel,
            stride,
            pad,
            out_h: out(in_h),
            out_w: out(in_w),
        }
    }

    /// Rows of the column matrix: one per input channel and kernel tap.
    pub fn col_rows(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// For a stride-1 convolution whose padding fits in the input's border: the offset of
/// each row `k` of the column matrix in the input buffer. Output pixel (oy, ox) is then
/// column `oy * row_stride + ox` of a grid as wide as the input's rows; the columns
/// past `out_w` in each row are computed and dropped.
pub fn direct_offsets(input: &BufferLayout, g: &ConvGeometry) -> Option<Vec<usize>> {
    plane_offsets(input, g, g.in_channels)
}

/// Whether convolution `g` can read its columns from `input` in place: stride 1, its
/// padding inside the input's border.
pub fn reads_in_place(input: &BufferLayout, g: &ConvGeometry) -> bool {
    g.stride == 1 && g.pad <= input.border
}

/// [`direct_offsets`] for `planes` planes of the input's plane size (the int8 product
/// reads one plane per four channels, see [`super::gemm::int8`]): one row per plane and
/// kernel tap, plane outermost.
pub fn plane_offsets(input: &BufferLayout, g: &ConvGeometry, planes: usize) -> Option<Vec<usize>> {
    if !reads_in_place(input, g) {
        return None;
    }
    let shift = input.border - g.pad;
    let mut offsets = Vec::with_capacity(planes * g.kernel * g.kernel);
    for plane in 0..planes {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                offsets
                    .push(plane * input.plane() + (ky + shift) * input.row_stride() + kx + shift);
            }
        }
    }
    Some(offsets)
}

/// A convolution's input split into `stride x stride` phase planes, plane
/// (c, a, b) holding the zero-padded input's pixels (i * s + a, j * s + b). Tap (ky, kx)
/// of output pixel (oy, ox) is then pixel (oy + ky / s, ox + kx / s) of plane
/// (c, ky % s, kx % s): the convolution reads the planes in place, as a stride-1 one
/// reads its input ([`direct_offsets`]), on a grid as wide as a plane. Writing the
/// planes moves the input once, where unfolding it moves it `k * k / (s * s)` times.
/// At stride 1 the one plane per channel is the input with the padding it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSplit {
    stride: usize,
    /// Plane height and width: the output's plus the kernel's reach into the next phase
    /// pixels.
    pub height: usize,
    pub width: usize,
}

impl PhaseSplit {
    /// The split that convolution `g` reads.
    pub fn new(g: &ConvGeometry) -> PhaseSplit {
        let reach = (g.kernel - 1) / g.stride;
        PhaseSplit {
            stride: g.stride,
            height: g.out_h + reach,
            width: g.out_w + reach,
        }
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Pixels of one plane.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    fn planes_len(&self, g: &ConvGeometry) -> usize {
        g.in_channels * self.stride * self.stride * self.plane()
    }

    /// Values the split needs: the planes, and slack for the reads of the grid's last
    /// panel of `nr` pixels past the last plane.
    pub fn len(&self, g: &ConvGeometry, nr: usize) -> usize {
        self.planes_len(g) + self.width + nr
    }

    /// The offset of each row `k` of the column matrix in the split.
    pub fn offsets(&self, g: &ConvGeometry) -> Vec<usize> {
        let s = self.stride;
        let mut offsets = Vec::with_capacity(g.col_rows());
        for c in 0..g.in_channels {
            for ky in 0..g.kernel {
                for kx in 0..g.kernel {
                    let plane = (c * s + ky % s) * s + kx % s;
                    offsets.push(plane * self.plane() + (ky / s) * self.width + kx / s);
                }
            }
        }
        offsets
    }

    /// Which input row plane row `i` of phase `a` reads: `None` in the padding.
    pub fn input_row(&self, i: usize, a: usize, g: &ConvGeometry) -> Option<usize> {
        let y = (i * self.stride + a).checked_sub(g.pad)?;
        (y < g.in_h).then_some(y)
    }

    /// The plane columns of phase `b` that read inside the input, and the input column
    /// the first of them reads (the next ones step by the stride); the others read
    /// the padding.
    pub fn inside_columns(&self, b: usize, g: &ConvGeometry) -> (Range<usize>, usize) {
        let s = self.stride;
        // Plane column j reads input column j * s + b - pad.
        let x_of = |j: usize| (j * s + b) as isize - g.pad as isize;
        let inside = |j: &usize| (0..g.in_w as isize).contains(&x_of(*j));
        let j0 = (0..self.width).find(inside).unwrap_or(self.width);
        let j1 = (j0..self.width).rfind(inside).map_or(j0, |j| j + 1);
        let first = if j0 < j1 { x_of(j0) as usize } else { 0 };
        (j0..j1, first)
    }

    /// Writes the planes of `input` (read through its layout) into `split`, which holds
    /// [`PhaseSplit::len`] values, and zeros after them.
    pub fn split(
        &self,
        input: &[f32],
        layout: &BufferLayout,
        g: &ConvGeometry,
        split: &mut [f32],
        team: &Team,
    ) {
        let s = self.stride;
        let (planes, slack) = split.split_at_mut(self.planes_len(g));
        slack.fill(0.0);
        team.for_each_chunk(planes, self.plane(), |plane, values| {
            let (c, a, b) = (plane / (s * s), plane / s % s, plane % s);
            let (inside, first) = self.inside_columns(b, g);
            for (i, row) in values.chunks_exact_mut(self.width).enumerate() {
                let Some(y) = self.input_row(i, a, g).filter(|_| !inside.is_empty()) else {
                    row.fill(0.0);
                    continue;
                };
                let start = layout.index(c, y, 0);
                let source = &input[start..start + g.in_w];
                row[..inside.start].fill(0.0);
                row[inside.end..].fill(0.0);
                gather_every(s, &source[first..], &mut row[inside.clone()]);
            }
        });
    }
}

/// `out[j] = source[j * step]` for every `j`. At step 2 (the first convolution's
/// planes) as pairs, which the compiler vectorises with shuffles: the element at a time
/// took a quarter of the first convolution's time.
fn gather_every(step: usize, source: &[f32], out: &mut [f32]) {
    let Some(last) = out.len().checked_sub(1) else {
        return;
    };
    if step == 2 {
        let (pairs, tail) = out.split_at_mut(last);
        for (v, pair) in pairs.iter_mut().zip(source.chunks_exact(2)) {
            *v = pair[0];
        }
        tail[0] = source[2 * last];
    } else {
        for (v, x) in out.iter_mut().zip((0..).step_by(step)) {
            *v = source[x];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column matrix computed the obvious way, unpacked.
    fn naive_columns(input: &[f32], g: &ConvGeometry) -> Vec<Vec<f32>> {
        let k = g.kernel;
        (0..g.col_rows())
            .map(|r| {
                let (c, ky, kx) = (r / (k * k), (r / k) % k, r % k);
                (0..g.out_pixels())
                    .map(|n| {
                        let y = ((n / g.out_w) * g.stride + ky) as isize - g.pad as isize;
                        let x = ((n % g.out_w) * g.stride + kx) as isize - g.pad as isize;
                        if y < 0 || x < 0 || y >= g.in_h as isize || x >= g.in_w as isize {
                            0.0
                        } else {
                            input[c * g.in_h * g.in_w + y as usize * g.in_w + x as usize]
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Every strided geometry the network has (conv1, the tail's pad-3 one), odd ones
    /// and stride-1 ones with more padding than border: the split read through its
    /// offsets is the column matrix, and the grid's last panel stays inside the split.
    #[test]
    fn phase_planes_read_in_place_hold_the_column_matrix() {
        for (g, border, nr) in [
            (ConvGeometry::new(3, 20, 20, 3, 2, 1), 1, 16),
            (ConvGeometry::new(2, 9, 7, 3, 2, 0), 0, 8),
            (ConvGeometry::new(2, 4, 4, 3, 2, 3), 1, 5),
            (ConvGeometry::new(2, 11, 10, 5, 3, 2), 2, 6),
            (ConvGeometry::new(3, 6, 5, 1, 2, 0), 0, 4),
            (ConvGeometry::new(2, 5, 7, 3, 1, 1), 0, 8),
            (ConvGeometry::new(2, 2, 2, 3, 1, 0), 0, 4),
            (ConvGeometry::new(4, 3, 5, 1, 1, 0), 1, 6),
        ] {
            let phases = PhaseSplit::new(&g);
            let layout = BufferLayout::new(g.in_channels, g.in_h, g.in_w, border);
            let dense: Vec<f32> = (0..g.in_channels * g.in_h * g.in_w)
                .map(|v| v as f32 + 1.0)
                .collect();
            let mut input = vec![f32::NAN; layout.buffer_len()];
            for (i, &v) in dense.iter().enumerate() {
                let (c, y, x) = (i / (g.in_h * g.in_w), i / g.in_w % g.in_h, i % g.in_w);
                input[layout.index(c, y, x)] = v;
            }
            let mut split = vec![f32::NAN; phases.len(&g, nr)];
            phases.split(
                &input,
                &layout,
                &g,
                &mut split,
                &Team::new(2).expect("team"),
            );
            let offsets = phases.offsets(&g);
            for (r, row) in naive_columns(&dense, &g).iter().enumerate() {
                for (n, &want) in row.iter().enumerate() {
                    let (oy, ox) = (n / g.out_w, n % g.out_w);
                    let got = split[offsets[r] + oy * phases.width + ox];
                    assert_eq!(got, want, "{g:?} row {r} pixel {n}");
                }
            }
            let grid_pixels = g.out_h * phases.width;
            let last_read = offsets.iter().max().expect("rows") + grid_pixels.div_ceil(nr) * nr;
            assert!(last_read <= split.len(), "{g:?}");
            assert!(
                split.iter().all(|v| v.is_finite()),
                "{g:?}: every value written"
            );
        }
    }

    #[test]
    fn output_sizes() {
        let g = ConvGeometry::new(3, 300, 300, 3, 2, 0);
        assert_eq!((g.out_h, g.out_w), (149, 149));
        let g = ConvGeometry::new(85, 4, 4, 3, 2, 3);
        assert_eq!((g.out_h, g.out_w), (4, 4));
    }
}
