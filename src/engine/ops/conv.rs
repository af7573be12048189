//! Convolution as a matrix product `out = W x col`, with bias and ReLU applied to each
//! output block while it is still in cache.

use super::chunk_len;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// `out[o][p] = act(bias[o] + sum_k weight[o][k] * col[k][p])`, channel-major output
/// (CHW). Parallel over blocks of output pixels.
pub fn conv_channel_major(
    weight: ArrayView2<f32>,
    bias: &[f32],
    col: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
    relu: bool,
) {
    let chunk = chunk_len(col.ncols());
    out.axis_chunks_iter_mut(Axis(1), chunk)
        .into_par_iter()
        .zip(col.axis_chunks_iter(Axis(1), chunk).into_par_iter())
        .for_each(|(mut out, col)| {
            general_mat_mul(1.0, &weight, &col, 0.0, &mut out);
            for (mut row, &b) in out.outer_iter_mut().zip(bias) {
                row.mapv_inplace(|v| activate(v + b, relu));
            }
        });
}

/// `out[p][o] = bias[o] + sum_k weight[o][k] * col[k][p]`, pixel-major output (HWC):
/// the layout of the SSD predictors, whose output rows are boxes.
pub fn conv_pixel_major(
    weight: ArrayView2<f32>,
    bias: &[f32],
    col: ArrayView2<f32>,
    mut out: ArrayViewMut2<f32>,
) {
    let chunk = chunk_len(col.ncols());
    let weight_t = weight.t();
    out.axis_chunks_iter_mut(Axis(0), chunk)
        .into_par_iter()
        .zip(col.axis_chunks_iter(Axis(1), chunk).into_par_iter())
        .for_each(|(mut out, col)| {
            general_mat_mul(1.0, &col.t(), &weight_t, 0.0, &mut out);
            for mut row in out.outer_iter_mut() {
                for (v, &b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        });
}

#[inline]
fn activate(v: f32, relu: bool) -> f32 {
    if relu { v.max(0.0) } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn channel_and_pixel_major_agree_and_apply_bias_relu() {
        let weight = array![[1.0, -1.0], [0.5, 2.0]];
        let col = array![[1.0, 2.0, 3.0], [4.0, 0.0, -1.0]];
        let bias = [0.5, -10.0];
        let mut chw = Array2::zeros((2, 3));
        conv_channel_major(weight.view(), &bias, col.view(), chw.view_mut(), false);
        assert_eq!(chw, array![[-2.5, 2.5, 4.5], [-1.5, -9.0, -10.5]]);
        let mut hwc = Array2::zeros((3, 2));
        conv_pixel_major(weight.view(), &bias, col.view(), hwc.view_mut());
        assert_eq!(hwc, chw.t());
        conv_channel_major(weight.view(), &bias, col.view(), chw.view_mut(), true);
        assert_eq!(chw, array![[0.0, 2.5, 4.5], [0.0, 0.0, 0.0]]);
    }
}
