use super::*;
use crate::engine::ops::columns::{ConvGeometry, plane_offsets};
use crate::engine::ops::gemm::{ChannelTarget, Layout};
use crate::engine::ops::layout::BufferLayout;

#[test]
fn an_int8_isa_is_only_had_for_kernels_this_cpu_runs() {
    let available = Int8Isa::available();
    assert_eq!(
        available.first().map(|isa| isa.kernel()),
        Some(Int8Kernel::Portable)
    );
    for kernel in [
        Int8Kernel::Portable,
        Int8Kernel::Avx2,
        Int8Kernel::AvxVnni,
        Int8Kernel::Avx512Vnni,
    ] {
        assert_eq!(
            Int8Isa::of(kernel).is_some(),
            available.iter().any(|isa| isa.kernel() == kernel),
            "{kernel:?}"
        );
    }
    assert_eq!(available.last().copied(), Some(Int8Isa::detect()));
    let skipped: Vec<_> = [Int8Kernel::AvxVnni, Int8Kernel::Avx512Vnni]
        .into_iter()
        .filter(|&k| Int8Isa::of(k).is_none())
        .collect();
    if !skipped.is_empty() {
        eprintln!(
            "this CPU lacks {skipped:?}: their parity with the portable kernel is not tested here"
        );
    }
}

#[test]
fn weights_quantise_per_row_with_the_largest_magnitude_at_127() {
    let weight = ndarray::arr2(&[[0.5f32, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 1.5, -0.01]]);
    let (q, scales) = quantize_rows(weight.view());
    assert_eq!(&q[..3], &[64, -127, 32]);
    assert_eq!(&q[3..6], &[0, 0, 0]);
    assert_eq!(&q[6..], &[127, 64, 0]);
    assert_eq!(scales, vec![1.0 / 127.0, 1.0, 3.0 / 127.0]);
}

#[test]
fn inputs_quantise_to_rounded_clamped_levels_four_channels_a_pixel() {
    assert_eq!(quantize(0.0, 10.0), 0);
    assert_eq!(quantize(0.149, 10.0), 1);
    assert_eq!(quantize(0.15, 10.0), 2);
    assert_eq!(quantize(-3.0, 10.0), 0);
    assert_eq!(quantize(25.49, 10.0), 255);
    assert_eq!(quantize(1e9, 10.0), 255);
    let layout = BufferLayout::new(5, 2, 3, 1);
    let mut input = vec![0.0; layout.buffer_len()];
    for c in 0..5 {
        for y in 0..2 {
            for x in 0..3 {
                input[layout.index(c, y, x)] = (c * 10 + y * 3 + x) as f32;
            }
        }
    }
    let mut out = vec![7u8; quantized_len(&layout, 0) + 8];
    let team = Team::new(2).expect("team");
    quantize_input(Int8Isa::detect(), &input, &layout, 0.5, &mut out, &team);
    let plane = layout.plane();
    for c in 0..8 {
        for y in 0..2 {
            for x in 0..3 {
                let p = layout.index(0, y, x);
                let want = if c < 5 {
                    2 * (c * 10 + y * 3 + x) as u8
                } else {
                    0
                };
                assert_eq!(out[GROUP * ((c / 4) * plane + p) + c % 4], want, "c {c}");
            }
        }
    }
    assert_eq!(out[0..4], [0; 4], "the border is zero");
    assert!(
        out[2 * plane * GROUP..].iter().all(|&b| b == 0),
        "and the rest"
    );
}

#[test]
fn channel_levels_round_clamp_and_take_nan_to_zero() {
    // The image's levels: x = (pixel / 255 - 0.5) / 0.25 back to the pixel.
    let levels = ChannelLevels {
        mul: 0.25 * 255.0,
        add: 0.5 * 255.0,
    };
    for pixel in [0u8, 1, 127, 128, 254, 255] {
        let x = (f32::from(pixel) / 255.0 - 0.5) / 0.25;
        assert_eq!(levels.level(x), pixel);
    }
    assert_eq!(levels.level(-100.0), 0);
    assert_eq!(levels.level(100.0), 255);
    assert_eq!(levels.level(f32::NAN), 0);
    assert_eq!(levels.level(f32::INFINITY), 255);
}

/// A stride-1 convolution for the products to compute: its input (never negative, as a
/// ReLU's; a border of 1), geometry, weights and bias.
struct Convolution {
    layout: BufferLayout,
    g: ConvGeometry,
    weight: ndarray::Array2<f32>,
    bias: Vec<f32>,
    input: Vec<f32>,
}

fn convolution(
    rows: usize,
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
) -> Convolution {
    let layout = BufferLayout::new(channels, height, width, 1);
    let g = ConvGeometry::new(channels, height, width, kernel, 1, kernel / 2);
    let taps = kernel * kernel;
    let weight: Vec<f32> = (0..rows * channels * taps)
        .map(|i| ((i * 7 % 23) as f32 - 11.0) * 0.05)
        .collect();
    let weight = ndarray::Array2::from_shape_vec((rows, channels * taps), weight).expect("shape");
    let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.3 - 2.0).collect();
    let mut input = vec![0.0; layout.buffer_len()];
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                input[layout.index(c, y, x)] = ((c * 31 + y * 7 + x * 3) % 29) as f32 * 0.1;
            }
        }
    }
    Convolution {
        layout,
        g,
        weight,
        bias,
        input,
    }
}

/// `conv`'s operands for `isa`'s product: its input quantised with `scale` (as far as
/// the last panel of `pixels` reads at `offsets`), and its weights packed.
fn operands(
    isa: Int8Isa,
    conv: &Convolution,
    scale: f32,
    offsets: &[usize],
    pixels: usize,
    team: &Team,
) -> (Vec<u8>, Int8Weights) {
    let nr = isa.nr();
    let reads_to = offsets.iter().max().expect("rows") + pixels.div_ceil(nr) * nr;
    let mut quantized = vec![0u8; quantized_len(&conv.layout, reads_to)];
    quantize_input(isa, &conv.input, &conv.layout, scale, &mut quantized, team);
    let channels = conv.layout.channels;
    let packed = Int8Weights::new(isa, conv.weight.view(), &conv.bias, channels, scale);
    (quantized, packed)
}

/// Every int8 kernel against integer arithmetic done the obvious way, on a 3x3
/// convolution of 7 channels (a partial k-group) with partial row panels and partial
/// pixel panels, and on a 1x1 one of 1000 pixels (tasks of several panels), into both
/// output layouts: the portable kernel equals the reference and the others equal it
/// bit for bit.
#[test]
fn every_int8_kernel_matches_the_integer_reference() {
    for (rows, channels, height, width, kernel) in
        [(13, 7, 5, 9, 3), (17, 6, 4, 30, 3), (9, 8, 1, 1000, 1)]
    {
        let pad = kernel / 2;
        let taps = kernel * kernel;
        let conv = convolution(rows, channels, height, width, kernel);
        let Convolution {
            layout,
            g,
            weight,
            bias,
            input,
        } = &conv;
        let scale = 2.9 / 255.0;
        let (wq, sw) = quantize_rows(weight.view());
        let xq = |c: usize, y: isize, x: isize| -> i32 {
            if y < 0 || x < 0 || y >= height as isize || x >= width as isize {
                0
            } else {
                i32::from(quantize(
                    input[layout.index(c, y as usize, x as usize)],
                    1.0 / scale,
                ))
            }
        };
        let reference = |m: usize, y: usize, x: usize| -> f32 {
            let mut sum = 0i32;
            for c in 0..channels {
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        let (iy, ix) = (
                            (y + ky) as isize - pad as isize,
                            (x + kx) as isize - pad as isize,
                        );
                        sum += i32::from(wq[m * channels * taps + c * taps + ky * kernel + kx])
                            * xq(c, iy, ix);
                    }
                }
            }
            sum as f32 * (scale * sw[m]) + bias[m]
        };
        let offsets = plane_offsets(layout, g, channels.div_ceil(GROUP)).expect("stride 1");
        let pixels = g.out_h * layout.row_stride();
        let team = Team::new(2).expect("team");
        let mut portable: Option<(Vec<f32>, Vec<f32>)> = None;
        for isa in Int8Isa::available() {
            let (quantized, packed) = operands(isa, &conv, scale, &offsets, pixels, &team);
            let columns = Int8Columns {
                data: &quantized,
                offsets: &offsets,
                pixels,
            };
            let out_layout = BufferLayout::new(rows, g.out_h, g.out_w, 1);
            let mut chw = vec![f32::NAN; out_layout.buffer_len()];
            let chw_target = Target {
                grid_width: layout.row_stride(),
                width: g.out_w,
                layout: Layout::all_channels(out_layout, true),
            };
            gemm_int8(
                &packed,
                columns,
                Int8Out::Values(&mut chw),
                chw_target,
                &team,
            );
            let mut hwc = vec![f32::NAN; rows * g.out_pixels()];
            let hwc_target = Target {
                grid_width: layout.row_stride(),
                width: g.out_w,
                layout: Layout::PixelMajor,
            };
            gemm_int8(
                &packed,
                columns,
                Int8Out::Values(&mut hwc),
                hwc_target,
                &team,
            );
            match &portable {
                None => {
                    for m in 0..rows {
                        for y in 0..g.out_h {
                            for x in 0..g.out_w {
                                let want = reference(m, y, x);
                                let got = chw[out_layout.index(m, y, x)];
                                assert!((got - want.max(0.0)).abs() < 1e-4, "({m}, {y}, {x})");
                                let got = hwc[(y * g.out_w + x) * rows + m];
                                assert!((got - want).abs() < 1e-4, "({m}, {y}, {x})");
                            }
                        }
                    }
                    assert!(chw[0].is_nan(), "the border is never written");
                    portable = Some((chw, hwc));
                }
                Some((chw_reference, hwc_reference)) => {
                    let same = |a: &[f32], b: &[f32]| {
                        a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
                    };
                    assert!(
                        same(&chw, chw_reference),
                        "{isa:?} CHW, {rows} x {channels} x {height} x {width}"
                    );
                    assert!(
                        same(&hwc, hwc_reference),
                        "{isa:?} HWC, {rows} x {channels} x {height} x {width}"
                    );
                }
            }
        }
    }
}

/// Written as levels, a product's bytes are its values quantised as the next
/// convolution would quantise them, for every kernel: whole groups of four channels and
/// groups shared with channels before and after the product's (a Fire module's second
/// expand starts mid-group), runs cut by the grid's dropped columns, pixel panels cut
/// by the end; the other channels' lanes and the border are left as they were.
#[test]
fn levels_written_by_a_product_are_its_values_quantised() {
    for (rows, first_channel, height, width) in [(13, 0, 5, 9), (17, 3, 4, 30), (9, 1, 3, 37)] {
        let channels = 6;
        let conv = convolution(rows, channels, height, width, 3);
        let Convolution { layout, g, .. } = &conv;
        let scale = 2.9 / 255.0;
        let out_scale = 4.0 / 255.0;
        let offsets = plane_offsets(layout, g, channels.div_ceil(GROUP)).expect("stride 1");
        let pixels = g.out_h * layout.row_stride();
        // The output holds channels before and after the product's.
        let out_layout = BufferLayout::new(first_channel + rows + 2, g.out_h, g.out_w, 1);
        let levels_layout = LevelLayout(out_layout);
        let target = Target {
            grid_width: layout.row_stride(),
            width: g.out_w,
            layout: Layout::ChannelMajor(ChannelTarget {
                buffer: out_layout,
                first_channel,
                relu: true,
            }),
        };
        let team = Team::new(2).expect("team");
        for isa in Int8Isa::available() {
            let (quantized, packed) = operands(isa, &conv, scale, &offsets, pixels, &team);
            let columns = Int8Columns {
                data: &quantized,
                offsets: &offsets,
                pixels,
            };
            let mut values = vec![0.0; out_layout.buffer_len()];
            gemm_int8(
                &packed,
                columns,
                Int8Out::Values(&mut values),
                target,
                &team,
            );
            const UNTOUCHED: u8 = 0xab;
            let mut levels = vec![UNTOUCHED; quantized_len(&out_layout, 0)];
            let out = Int8Out::Levels {
                out: &mut levels,
                scale: out_scale,
            };
            gemm_int8(&packed, columns, out, target, &team);
            let mut expected = vec![UNTOUCHED; levels.len()];
            for c in first_channel..first_channel + rows {
                for y in 0..g.out_h {
                    for x in 0..g.out_w {
                        expected[levels_layout.index(c, y, x)] =
                            quantize(values[out_layout.index(c, y, x)], 1.0 / out_scale);
                    }
                }
            }
            assert_eq!(
                levels, expected,
                "{isa:?}, {rows} rows from channel {first_channel}"
            );
        }
    }
}
