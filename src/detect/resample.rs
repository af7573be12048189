//! Separable RGB resampling exactly as PIL's `Image.resize(size, Image.BILINEAR)` does
//! it, because those are the pixels the network was trained on (`training/data/voc.py` and
//! `training/data/transforms.py` resize with it).
//!
//! Each output pixel is a weighted mean of source pixels around its centre, one axis at a
//! time, with a triangle (tent) filter on half-pixel centres. When an axis shrinks by a
//! factor `s`, the triangle is widened to a half-width of `s` source pixels, so every
//! source pixel the output pixel covers is averaged in (antialiasing); when it grows, the
//! half-width is one pixel and this is plain two-tap bilinear interpolation, as PyTorch's
//! `align_corners=False`. At the borders the weights of the pixels inside are renormalised.
//!
//! Frames come from devices and files: no indexing here (linted).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use image::RgbImage;
use std::ops::Range;

/// The part of the source image that is resampled, in source pixels (fractional allowed).
/// It must lie within the image: outside it, output pixels would have no source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl Window {
    pub fn whole(image: &RgbImage) -> Window {
        Window {
            x: 0.0,
            y: 0.0,
            width: image.width() as f32,
            height: image.height() as f32,
        }
    }
}

/// Resamples windows of RGB images, one output row at a time. The filters and the row
/// buffer are kept between calls and made again only when the geometry changes, so
/// frames of one size allocate nothing.
#[derive(Debug, Clone, Default)]
pub struct Resampler {
    rows: AxisFilter,
    columns: AxisFilter,
    /// The source rows of one output row blended, still at source width (RGB).
    blended: Vec<f32>,
    /// One output row (RGB), handed to the caller.
    output_row: Vec<f32>,
    prepared_for: Option<Geometry>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    source: (u32, u32),
    window: Window,
    output: (usize, usize),
}

impl Resampler {
    /// Resamples `window` of `image` to `output` (width, height) pixels and hands each
    /// output row, top to bottom, to `write_row(y, rgb)`: `width x 3` interleaved values
    /// in the source's 0-255 scale, unrounded.
    pub fn run(
        &mut self,
        image: &RgbImage,
        window: Window,
        output: (usize, usize),
        mut write_row: impl FnMut(usize, &[f32]),
    ) {
        self.prepare(Geometry {
            source: image.dimensions(),
            window,
            output,
        });
        let stride = image.width() as usize * 3;
        for (y, (first_row, row_weights)) in self.rows.footprints().enumerate() {
            // Vertical pass first: it runs along contiguous rows (vectorised), so the
            // gathering horizontal pass only sees the output's rows.
            let taps = image
                .as_raw()
                .chunks_exact(stride)
                .skip(first_row)
                .zip(row_weights);
            for (k, (row, &weight)) in taps.enumerate() {
                blend(&mut self.blended, row, weight, k == 0);
            }
            let (blended, _) = self.blended.as_chunks::<3>();
            let (out, _) = self.output_row.as_chunks_mut::<3>();
            for (pixel, (first_column, column_weights)) in
                out.iter_mut().zip(self.columns.footprints())
            {
                let mut sum = [0.0_f32; 3];
                for (source, &weight) in blended.iter().skip(first_column).zip(column_weights) {
                    for (s, &v) in sum.iter_mut().zip(source) {
                        *s += weight * v;
                    }
                }
                *pixel = sum;
            }
            write_row(y, &self.output_row);
        }
    }

    fn prepare(&mut self, geometry: Geometry) {
        if self.prepared_for == Some(geometry) {
            return;
        }
        let Geometry {
            source: (width, height),
            window,
            output: (out_width, out_height),
        } = geometry;
        let span = |start: f32, length: f32| f64::from(start)..f64::from(start) + f64::from(length);
        self.columns
            .fill(width as usize, span(window.x, window.width), out_width);
        self.rows
            .fill(height as usize, span(window.y, window.height), out_height);
        self.blended.resize(width as usize * 3, 0.0);
        self.output_row.resize(out_width * 3, 0.0);
        self.prepared_for = Some(geometry);
    }
}

/// Along one axis: which source pixels each output pixel averages, and their weights.
#[derive(Debug, Clone, Default)]
struct AxisFilter {
    footprints: Vec<Footprint>,
    /// Every footprint's weights, one after another.
    weights: Vec<f32>,
}

#[derive(Debug, Clone)]
struct Footprint {
    /// The first source pixel; the others follow it, one per weight.
    first: usize,
    weights: Range<usize>,
}

impl AxisFilter {
    /// `output` pixels covering `window` of an axis `input` pixels long, as PIL's
    /// `precompute_coeffs` (Resample.c) computes them, in double precision.
    fn fill(&mut self, input: usize, window: Range<f64>, output: usize) {
        let scale = (window.end - window.start) / output as f64;
        // The triangle's half-width in source pixels: one, or the reduction when shrinking.
        let support = scale.max(1.0);
        self.footprints.clear();
        self.weights.clear();
        for o in 0..output {
            let centre = window.start + (o as f64 + 0.5) * scale;
            // PIL rounds the reach to whole pixels (and `as` truncates like C's cast).
            let first = ((centre - support + 0.5).max(0.0) as usize).min(input);
            let end = ((centre + support + 0.5).max(0.0) as usize).min(input);
            let weight = |x: usize| triangle((x as f64 + 0.5 - centre) / support);
            let total: f64 = (first..end).map(weight).sum();
            let start = self.weights.len();
            self.weights
                .extend((first..end).map(|x| (weight(x) / total.max(f64::MIN_POSITIVE)) as f32));
            self.footprints.push(Footprint {
                first,
                weights: start..self.weights.len(),
            });
        }
    }

    /// Per output pixel: (first source pixel, weights).
    fn footprints(&self) -> impl Iterator<Item = (usize, &[f32])> {
        self.footprints.iter().map(|footprint| {
            let weights = self.weights.get(footprint.weights.clone());
            (footprint.first, weights.unwrap_or_default())
        })
    }
}

/// `sums = weight * row` for a footprint's first row, `sums += weight * row` after it:
/// most of the work, so it runs with AVX2 where the CPU has it.
fn blend(sums: &mut [f32], row: &[u8], weight: f32, first: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { blend_avx2(sums, row, weight, first) };
        return;
    }
    blend_portable(sums, row, weight, first);
}

/// The portable loop compiled for AVX2: eight lanes, and u8 to f32 in two instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn blend_avx2(sums: &mut [f32], row: &[u8], weight: f32, first: bool) {
    blend_portable(sums, row, weight, first);
}

#[inline(always)]
fn blend_portable(sums: &mut [f32], row: &[u8], weight: f32, first: bool) {
    if first {
        for (sum, &value) in sums.iter_mut().zip(row) {
            *sum = weight * f32::from(value);
        }
    } else {
        for (sum, &value) in sums.iter_mut().zip(row) {
            *sum += weight * f32::from(value);
        }
    }
}

fn triangle(x: f64) -> f64 {
    (1.0 - x.abs()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-row image of grey levels, resampled to `output` pixels.
    fn resample_row(levels: &[u8], output: usize) -> Vec<f32> {
        let image = RgbImage::from_fn(levels.len() as u32, 1, |x, _| {
            image::Rgb([levels[x as usize]; 3])
        });
        let mut row = Vec::new();
        Resampler::default().run(&image, Window::whole(&image), (output, 1), |_, rgb| {
            row = rgb.chunks_exact(3).map(|p| p[0]).collect();
        });
        row
    }

    fn assert_close(actual: &[f32], expected: &[f32]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert!((a - e).abs() < 1e-4, "{actual:?} != {expected:?}");
        }
    }

    #[test]
    fn halving_a_checkerboard_gives_its_mean_inside_and_pils_weights_at_the_borders() {
        // Shrinking by 2 widens the triangle to 2 pixels: weights 1, 3, 3, 1 (/ 8) inside,
        // so any two-pixel pattern averages flat. At the left border the pixel before is
        // missing and PIL renormalises the remaining 3, 3, 1; at the right, 1, 3, 3.
        let (a, b) = (0.0, 140.0);
        let levels: Vec<u8> = (0..12)
            .map(|x| if x % 2 == 0 { a } else { b } as u8)
            .collect();
        let mut expected = vec![(a + b) / 2.0; 6];
        expected[0] = (3.0 * a + 3.0 * b + a) / 7.0;
        expected[5] = (b + 3.0 * a + 3.0 * b) / 7.0;
        assert_close(&resample_row(&levels, 6), &expected);
    }

    #[test]
    fn enlarging_is_two_tap_bilinear_on_half_pixel_centres() {
        // Output centres 0.25, 0.75, 1.25, 1.75 fall at source 0 (clamped), 0.25, 0.75, 1 (clamped).
        assert_close(&resample_row(&[0, 100], 4), &[0.0, 25.0, 75.0, 100.0]);
    }

    #[test]
    fn shrinking_averages_every_source_pixel_it_covers() {
        // Plain bilinear taps only two pixels per output and would skip the others.
        let mut filter = AxisFilter::default();
        for (input, output) in [(640, 300), (1280, 300), (451, 300), (12_000, 32)] {
            filter.fill(input, 0.0..input as f64, output);
            let mut covered = vec![false; input];
            for (first, weights) in filter.footprints() {
                assert!(first + weights.len() <= input);
                let total: f32 = weights.iter().sum();
                assert!(
                    (total - 1.0).abs() < 1e-5,
                    "{input} -> {output}: weights sum to {total}"
                );
                for (x, &w) in weights.iter().enumerate() {
                    covered[first + x] |= w > 0.0;
                }
            }
            assert!(
                covered.iter().all(|&c| c),
                "{input} -> {output} skips pixels"
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_blend_gives_the_portable_sums() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let row: Vec<u8> = (0..1000_u32).map(|i| (i * 37 % 256) as u8).collect();
        let (mut portable, mut avx2) = (vec![0.0; 1000], vec![0.0; 1000]);
        for (k, weight) in [0.3, 0.45, 0.25].into_iter().enumerate() {
            blend_portable(&mut portable, &row, weight, k == 0);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { blend_avx2(&mut avx2, &row, weight, k == 0) };
        }
        assert_eq!(portable, avx2);
    }

    #[test]
    fn a_window_maps_its_own_pixels() {
        // The window's pixel centres land on source pixel centres: a plain copy.
        let image = RgbImage::from_fn(8, 6, |x, y| image::Rgb([(x * 10) as u8, (y * 10) as u8, 7]));
        let window = Window {
            x: 2.0,
            y: 1.0,
            width: 4.0,
            height: 3.0,
        };
        let mut rows = Vec::new();
        Resampler::default().run(&image, window, (4, 3), |_, rgb| rows.push(rgb.to_vec()));
        for (y, row) in rows.iter().enumerate() {
            for (x, pixel) in row.chunks_exact(3).enumerate() {
                let expected = [(x as f32 + 2.0) * 10.0, (y as f32 + 1.0) * 10.0, 7.0];
                assert_close(pixel, &expected);
            }
        }
    }
}
