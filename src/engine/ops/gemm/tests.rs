use super::*;

#[test]
fn an_isa_is_only_had_for_kernels_this_cpu_runs() {
    let available = Isa::available();
    assert_eq!(
        available.first().map(|isa| isa.kernel()),
        Some(Kernel::Portable)
    );
    for kernel in [
        Kernel::Portable,
        Kernel::Neon,
        Kernel::Avx2Fma,
        Kernel::Avx512,
    ] {
        assert_eq!(
            Isa::of(kernel).is_some(),
            available.iter().any(|isa| isa.kernel() == kernel),
            "{kernel:?}"
        );
    }
    assert_eq!(available.last().copied(), Some(Isa::detect()));
}

/// NEON is in the aarch64 baseline: always there, and always the kernel chosen.
#[cfg(target_arch = "aarch64")]
#[test]
fn neon_is_the_kernel_on_aarch64() {
    assert_eq!(Isa::detect().kernel(), Kernel::Neon);
}
use crate::engine::ops::columns::{ConvGeometry, PhaseSplit, direct_offsets};

/// Every kernel, reading the input in place or split into planes, against a plain
/// triple loop, on sizes that leave partial tiles: 13, 16 and 17 rows end in panels
/// of 1, 4 and 5 rows (AVX2's narrower kernels); 1000 pixels make tasks of several
/// panels and a shorter last one; 53, 75 and 1000 pixels end in AVX-512 panels of 1, 2
/// and 3 vectors of 16, in both layouts (CHW straight from the registers, pixel-major
/// through the stack tile).
#[test]
fn every_kernel_matches_the_naive_product() {
    for (rows, pixels) in [(13, 53), (13, 75), (13, 1000), (16, 53), (17, 1000)] {
        assert_kernels_match_the_naive_product(rows, 7, pixels);
    }
}

fn assert_kernels_match_the_naive_product(rows: usize, depth: usize, pixels: usize) {
    let weight: Vec<f32> = (0..rows * depth)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.25)
        .collect();
    let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.5 - 3.0).collect();
    // A 1x1 convolution over a 1 x 53 image is exactly this product.
    let layout = BufferLayout::new(depth, 1, pixels, 0);
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
            let out_layout = BufferLayout::new(rows, 1, pixels, 1);
            let mut chw = vec![f32::NAN; out_layout.buffer_len()];
            let chw_target = Target {
                grid_width: pixels,
                width: pixels,
                layout: Layout::all_channels(out_layout, true),
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

/// A 3x3 convolution read in place from a bordered input, so its grid is wider than
/// its output and a tile spans grid rows, into a part of an output buffer with another
/// border: every kernel writes the convolution's values there (with ReLU) and nothing
/// else (the borders and the other channels keep their NaN). Widths around 16 and 48
/// (one AVX-512 vector and tile); last panels of 1, 2 and 3 vectors of 16; and at 27 x
/// 11 (a grid 13 wide), a tile that begins on a dropped pixel (grid pixel 336 is (25,
/// 11)).
#[test]
fn every_kernel_writes_only_the_kept_pixels_of_its_channels() {
    let team = Team::new(2).expect("team");
    for (channels, rows, h, w, out_border) in [
        (3, 9, 5, 14, 0),
        (2, 8, 7, 20, 2),
        (4, 17, 4, 37, 1),
        (3, 5, 3, 75, 0),
        (2, 3, 6, 46, 1),
        (1, 8, 3, 5, 1),
        (2, 8, 27, 11, 1),
    ] {
        let input_layout = BufferLayout::new(channels, h, w, 1);
        let mut input = vec![0.0; input_layout.buffer_len()];
        for c in 0..channels {
            for y in 0..h {
                for x in 0..w {
                    input[input_layout.index(c, y, x)] =
                        ((c * 31 + y * 7 + x * 3) % 17) as f32 * 0.25 - 2.0;
                }
            }
        }
        let depth = channels * 9;
        let weight: Vec<f32> = (0..rows * depth)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.125)
            .collect();
        let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.25 - 1.0).collect();
        let naive = |m: usize, y: usize, x: usize| {
            let mut sum = bias[m];
            for c in 0..channels {
                for ky in 0..3 {
                    for kx in 0..3 {
                        let (iy, ix) = ((y + ky) as isize - 1, (x + kx) as isize - 1);
                        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                            let v = input[input_layout.index(c, iy as usize, ix as usize)];
                            sum += weight[m * depth + c * 9 + ky * 3 + kx] * v;
                        }
                    }
                }
            }
            sum.max(0.0)
        };
        let g = ConvGeometry::new(channels, h, w, 3, 1, 1);
        let offsets = direct_offsets(&input_layout, &g).expect("the border covers the padding");
        let columns = Columns {
            data: &input,
            offsets: &offsets,
            pixels: h * input_layout.row_stride(),
        };
        let first_channel = 2;
        let out_layout = BufferLayout::new(first_channel + rows + 1, h, w, out_border);
        for isa in Isa::available() {
            let matrix = ndarray::ArrayView2::from_shape((rows, depth), &weight).expect("shape");
            let packed = PackedWeights::new(isa, matrix, &bias);
            let mut out = vec![f32::NAN; out_layout.buffer_len()];
            let target = Target {
                grid_width: input_layout.row_stride(),
                width: w,
                layout: Layout::ChannelMajor(ChannelTarget {
                    buffer: out_layout,
                    first_channel,
                    relu: true,
                }),
            };
            gemm(&packed, columns, &mut out, target, &team);
            let mut expected = vec![f32::NAN; out_layout.buffer_len()];
            for m in 0..rows {
                for y in 0..h {
                    for x in 0..w {
                        expected[out_layout.index(first_channel + m, y, x)] = naive(m, y, x);
                    }
                }
            }
            for (i, (&got, &want)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    got == want || (got - want).abs() < 1e-4 || (got.is_nan() && want.is_nan()),
                    "{isa:?}, {h}x{w} into border {out_border}: element {i} is {got}, not {want}"
                );
            }
        }
    }
}
