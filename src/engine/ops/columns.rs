//! The right-hand side of a convolution's matrix product, `cols[k][n]` for kernel tap
//! `k = (c, ky, kx)` and output pixel `n`. A stride-1 convolution whose input border
//! covers its padding reads it straight from the input buffer ([`direct_offsets`]); a
//! strided one reads its input split into phase planes the same way ([`PhaseSplit`]);
//! any other is unfolded (im2col) into packed panels ([`pack_columns`]).

use super::layout::BufferLayout;
use crate::engine::team::Team;
use crate::model::architecture::conv_output_size;

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

    /// Values in the packed column matrix, panels of `nr` pixels padded with zeros.
    pub fn packed_len(&self, nr: usize) -> usize {
        self.out_pixels().div_ceil(nr) * nr * self.col_rows()
    }
}

/// For a stride-1 convolution whose padding fits in the input's border: the offset of
/// each row `k` of the column matrix in the input buffer. Output pixel (oy, ox) is then
/// column `oy * row_stride + ox` of a grid as wide as the input's rows; the columns
/// past `out_w` in each row are computed and dropped.
pub fn direct_offsets(input: &BufferLayout, g: &ConvGeometry) -> Option<Vec<usize>> {
    if g.stride != 1 || g.pad > input.border {
        return None;
    }
    let shift = input.border - g.pad;
    let mut offsets = Vec::with_capacity(g.col_rows());
    for c in 0..g.in_channels {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                offsets.push(c * input.plane() + (ky + shift) * input.row_stride() + kx + shift);
            }
        }
    }
    Some(offsets)
}

/// A strided convolution's input split into `stride x stride` phase planes, plane
/// (c, a, b) holding the zero-padded input's pixels (i * s + a, j * s + b). Tap (ky, kx)
/// of output pixel (oy, ox) is then pixel (oy + ky / s, ox + kx / s) of plane
/// (c, ky % s, kx % s): the convolution reads the planes in place, as a stride-1 one
/// reads its input ([`direct_offsets`]), on a grid as wide as a plane. Writing the
/// planes moves the input once, where unfolding it moves it `k * k / (s * s)` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseSplit {
    stride: usize,
    /// Plane height and width: the output's plus the kernel's reach into the next phase
    /// pixels.
    pub height: usize,
    pub width: usize,
}

impl PhaseSplit {
    /// For a strided convolution; `None` for stride 1.
    pub fn new(g: &ConvGeometry) -> Option<PhaseSplit> {
        let reach = (g.kernel - 1) / g.stride;
        (g.stride > 1).then_some(PhaseSplit {
            stride: g.stride,
            height: g.out_h + reach,
            width: g.out_w + reach,
        })
    }

    fn plane(&self) -> usize {
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
            // Plane column j reads input column j * s + b - pad: those inside the input.
            let x_of = |j: usize| (j * s + b) as isize - g.pad as isize;
            let inside = |j: &usize| (0..g.in_w as isize).contains(&x_of(*j));
            let j0 = (0..self.width).find(inside).unwrap_or(self.width);
            let j1 = (j0..self.width).rfind(inside).map_or(j0, |j| j + 1);
            for (i, row) in values.chunks_exact_mut(self.width).enumerate() {
                let y = (i * s + a) as isize - g.pad as isize;
                if y < 0 || y >= g.in_h as isize || j0 == j1 {
                    row.fill(0.0);
                    continue;
                }
                let start = layout.index(c, y as usize, 0);
                let source = &input[start..start + g.in_w];
                row[..j0].fill(0.0);
                row[j1..].fill(0.0);
                let first = x_of(j0) as usize;
                for (v, x) in row[j0..j1].iter_mut().zip((first..).step_by(s)) {
                    *v = source[x];
                }
            }
        });
    }
}

/// Writes the column matrix `col[(c * k + ky) * k + kx][oy * out_w + ox] =
/// input[c][oy * s + ky - p][ox * s + kx - p]` (zero outside the input) as panels of
/// `nr` consecutive pixels: panel `q` holds, for each row r, the `nr` values of
/// pixels `q * nr ..`, so a micro-kernel reads one panel front to back.
/// The input is read through its layout (borders skipped).
pub fn pack_columns(
    input: &[f32],
    layout: &BufferLayout,
    g: &ConvGeometry,
    nr: usize,
    packed: &mut [f32],
    team: &Team,
) {
    let rows = g.col_rows();
    let pixels = g.out_pixels();
    team.for_each_chunk(&mut packed[..g.packed_len(nr)], rows * nr, |q, panel| {
        let first = q * nr;
        let count = nr.min(pixels - first);
        for (r, dest) in panel.chunks_exact_mut(nr).enumerate() {
            let c = r / (g.kernel * g.kernel);
            let (ky, kx) = ((r / g.kernel) % g.kernel, r % g.kernel);
            dest[count..].fill(0.0);
            // Walk the panel's pixels one output row (segment) at a time.
            let mut j = 0;
            while j < count {
                let (oy, ox) = ((first + j) / g.out_w, (first + j) % g.out_w);
                let len = (g.out_w - ox).min(count - j);
                let segment = &mut dest[j..j + len];
                let y = (oy * g.stride + ky) as isize - g.pad as isize;
                if y < 0 || y >= g.in_h as isize {
                    segment.fill(0.0);
                } else {
                    let start = layout.index(c, y as usize, 0);
                    let row = &input[start..start + g.in_w];
                    copy_row(row, segment, ox, kx, g);
                }
                j += len;
            }
        }
    });
}

/// `segment[t] = row[(ox + t) * s + kx - p]`, zero where that falls outside the row.
fn copy_row(row: &[f32], segment: &mut [f32], ox: usize, kx: usize, g: &ConvGeometry) {
    let offset = kx as isize - g.pad as isize;
    let (len, stride) = (segment.len() as isize, g.stride as isize);
    // Input column of output column t is (ox + t) * s + offset; keep those in [0, in_w).
    let x_of = |t: usize| (ox as isize + t as isize) * stride + offset;
    let first_inside = |x: isize| ((x - offset).max(0) + stride - 1) / stride - ox as isize;
    let t0 = first_inside(0).clamp(0, len) as usize;
    let t1 = first_inside(g.in_w as isize).clamp(t0 as isize, len) as usize;
    segment[..t0].fill(0.0);
    segment[t1..].fill(0.0);
    if t0 < t1 {
        let start = x_of(t0) as usize;
        if g.stride == 1 {
            segment[t0..t1].copy_from_slice(&row[start..start + (t1 - t0)]);
        } else {
            for (v, x) in segment[t0..t1].iter_mut().zip((start..).step_by(g.stride)) {
                *v = row[x];
            }
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

    #[test]
    fn packed_panels_hold_the_column_matrix() {
        for (g, nr) in [
            (ConvGeometry::new(2, 5, 7, 3, 1, 1), 8),
            (ConvGeometry::new(3, 9, 9, 3, 2, 0), 16),
            (ConvGeometry::new(2, 4, 4, 3, 2, 3), 5),
            (ConvGeometry::new(2, 2, 2, 3, 1, 0), 4),
            (ConvGeometry::new(4, 3, 5, 1, 1, 0), 6),
        ] {
            let input: Vec<f32> = (0..g.in_channels * g.in_h * g.in_w)
                .map(|v| v as f32 + 1.0)
                .collect();
            let layout = BufferLayout {
                channels: g.in_channels,
                height: g.in_h,
                width: g.in_w,
                border: 0,
            };
            let mut packed = vec![f32::NAN; g.packed_len(nr)];
            pack_columns(
                &input,
                &layout,
                &g,
                nr,
                &mut packed,
                &Team::new(2).expect("team"),
            );
            let expected = naive_columns(&input, &g);
            let rows = g.col_rows();
            for (r, row) in expected.iter().enumerate() {
                for n in 0..g.out_pixels() + nr {
                    let (q, j) = (n / nr, n % nr);
                    if q * nr >= g.out_pixels() {
                        break;
                    }
                    let want = row.get(n).copied().unwrap_or(0.0);
                    assert_eq!(
                        packed[q * rows * nr + r * nr + j],
                        want,
                        "{g:?} row {r} pixel {n}"
                    );
                }
            }
        }
    }

    /// Every strided geometry the network has (conv1, the tail's pad-3 one) and odd
    /// ones: the split read through its offsets is the column matrix, and the grid's
    /// last panel stays inside the split.
    #[test]
    fn phase_planes_read_in_place_hold_the_column_matrix() {
        for (g, border, nr) in [
            (ConvGeometry::new(3, 20, 20, 3, 2, 1), 1, 16),
            (ConvGeometry::new(2, 9, 7, 3, 2, 0), 0, 8),
            (ConvGeometry::new(2, 4, 4, 3, 2, 3), 1, 5),
            (ConvGeometry::new(2, 11, 10, 5, 3, 2), 2, 6),
            (ConvGeometry::new(3, 6, 5, 1, 2, 0), 0, 4),
        ] {
            let phases = PhaseSplit::new(&g).expect("strided");
            let layout = BufferLayout {
                channels: g.in_channels,
                height: g.in_h,
                width: g.in_w,
                border,
            };
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
