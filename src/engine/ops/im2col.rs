//! Unfolds a CHW input into the column matrix of a k x k convolution, so the
//! convolution becomes one matrix product.

use rayon::prelude::*;

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
        let out = |size: usize| (size + 2 * pad - kernel) / stride + 1;
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

    /// A 1x1 stride-1 convolution reads its input as the column matrix directly.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.pad == 0
    }

    pub fn col_rows(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// Writes `col[(c * k + ky) * k + kx][oy * out_w + ox] = input[c][oy * s + ky - p][ox * s + kx - p]`,
/// zero outside the input. `col` holds at least `col_rows * out_pixels` values.
pub fn im2col(input: &[f32], g: &ConvGeometry, col: &mut [f32]) {
    let plane = g.in_h * g.in_w;
    let pixels = g.out_pixels();
    let kk = g.kernel * g.kernel;
    col[..g.col_rows() * pixels]
        .par_chunks_mut(kk * pixels)
        .enumerate()
        .for_each(|(c, rows)| {
            let channel = &input[c * plane..(c + 1) * plane];
            for (k, row) in rows.chunks_exact_mut(pixels).enumerate() {
                let (ky, kx) = (k / g.kernel, k % g.kernel);
                for (oy, out_row) in row.chunks_exact_mut(g.out_w).enumerate() {
                    let y = (oy * g.stride + ky) as isize - g.pad as isize;
                    if y < 0 || y >= g.in_h as isize {
                        out_row.fill(0.0);
                        continue;
                    }
                    let src = &channel[y as usize * g.in_w..(y as usize + 1) * g.in_w];
                    for (ox, v) in out_row.iter_mut().enumerate() {
                        let x = (ox * g.stride + kx) as isize - g.pad as isize;
                        *v = if x < 0 || x >= g.in_w as isize {
                            0.0
                        } else {
                            src[x as usize]
                        };
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_3x3_unfold_of_a_2x2_image() {
        let g = ConvGeometry::new(1, 2, 2, 3, 1, 1);
        assert_eq!((g.out_h, g.out_w), (2, 2));
        let mut col = vec![f32::NAN; 9 * 4];
        im2col(&[1.0, 2.0, 3.0, 4.0], &g, &mut col);
        // Kernel tap (0, 0) looks up-left: only output pixel (1, 1) sees input (0, 0).
        assert_eq!(&col[0..4], &[0.0, 0.0, 0.0, 1.0]);
        // The centre tap sees the image itself.
        assert_eq!(&col[16..20], &[1.0, 2.0, 3.0, 4.0]);
        // Tap (2, 2) looks down-right.
        assert_eq!(&col[32..36], &[4.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn strided_output_size() {
        let g = ConvGeometry::new(3, 300, 300, 3, 2, 0);
        assert_eq!((g.out_h, g.out_w), (149, 149));
        let g = ConvGeometry::new(85, 4, 4, 3, 2, 3);
        assert_eq!((g.out_h, g.out_w), (4, 4));
    }
}
