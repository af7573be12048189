//! Any RGB image to the network's normalised CHW input: bilinear resize (half-pixel
//! centres, as PyTorch's `align_corners=False`) fused with normalisation.

use crate::model::{ChannelOrder, Normalization};
use image::RgbImage;

/// One output coordinate's two source taps and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    first: usize,
    second: usize,
    weight: f32,
}

#[derive(Debug, Clone)]
pub struct Preprocessor {
    size: usize,
    /// Input channel for each network channel.
    channel_source: [usize; 3],
    scale: [f32; 3],
    offset: [f32; 3],
    // Interpolation taps, recomputed only when the image size changes.
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    tapped_size: (u32, u32),
}

impl Preprocessor {
    pub fn new(size: usize, normalization: &Normalization) -> Preprocessor {
        let channel_source = match normalization.channel_order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        let mut scale = [0.0; 3];
        let mut offset = [0.0; 3];
        for c in 0..3 {
            scale[c] = 1.0 / (255.0 * normalization.std[c]);
            offset[c] = -normalization.mean[c] / normalization.std[c];
        }
        Preprocessor {
            size,
            channel_source,
            scale,
            offset,
            x_taps: Vec::with_capacity(size),
            y_taps: Vec::with_capacity(size),
            tapped_size: (0, 0),
        }
    }

    /// Writes `3 x size x size` values into `out`. The image must not be empty.
    pub fn run(&mut self, image: &RgbImage, out: &mut [f32]) {
        let (width, height) = image.dimensions();
        if self.tapped_size != (width, height) {
            fill_taps(&mut self.x_taps, width as usize, self.size);
            fill_taps(&mut self.y_taps, height as usize, self.size);
            self.tapped_size = (width, height);
        }
        let pixels = image.as_raw();
        let stride = width as usize * 3;
        let plane = self.size * self.size;
        for (oy, ty) in self.y_taps.iter().enumerate() {
            let row0 = &pixels[ty.first * stride..(ty.first + 1) * stride];
            let row1 = &pixels[ty.second * stride..(ty.second + 1) * stride];
            for (ox, tx) in self.x_taps.iter().enumerate() {
                let (a, b) = (tx.first * 3, tx.second * 3);
                for (c, &src) in self.channel_source.iter().enumerate() {
                    let top = lerp(row0[a + src], row0[b + src], tx.weight);
                    let bottom = lerp(row1[a + src], row1[b + src], tx.weight);
                    let value = top + (bottom - top) * ty.weight;
                    out[c * plane + oy * self.size + ox] = value * self.scale[c] + self.offset[c];
                }
            }
        }
    }
}

fn lerp(a: u8, b: u8, t: f32) -> f32 {
    let a = f32::from(a);
    a + (f32::from(b) - a) * t
}

fn fill_taps(taps: &mut Vec<Tap>, input: usize, output: usize) {
    let scale = input as f32 / output as f32;
    let last = input.saturating_sub(1);
    taps.clear();
    taps.extend((0..output).map(|o| {
        let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
        let first = (src as usize).min(last);
        Tap {
            first,
            second: (first + 1).min(last),
            weight: src - first as f32,
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Normalization {
        Normalization {
            channel_order: ChannelOrder::Rgb,
            mean: [0.0; 3],
            std: [1.0 / 255.0; 3],
        }
    }

    #[test]
    fn uniform_image_normalises_per_channel() {
        let norm = Normalization {
            channel_order: ChannelOrder::Rgb,
            mean: [0.5, 0.25, 0.0],
            std: [0.5, 0.25, 1.0],
        };
        let image = RgbImage::from_pixel(7, 5, image::Rgb([255, 0, 51]));
        let mut out = vec![0.0; 3 * 4 * 4];
        Preprocessor::new(4, &norm).run(&image, &mut out);
        assert!(out[..16].iter().all(|v| (v - 1.0).abs() < 1e-6));
        assert!(out[16..32].iter().all(|v| (v + 1.0).abs() < 1e-6));
        assert!(out[32..].iter().all(|v| (v - 0.2).abs() < 1e-6));
    }

    #[test]
    fn downscale_by_two_averages_pixel_pairs() {
        // Half-pixel centres: output x=0 samples source x=0.5, between pixels 0 and 1.
        let mut image = RgbImage::new(4, 2);
        for (x, _, p) in image.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 10) as u8; 3]);
        }
        let mut out = vec![0.0; 3];
        let mut pre = Preprocessor::new(1, &identity());
        pre.run(&image, &mut out);
        assert!((out[0] - 15.0).abs() < 1e-4, "{}", out[0]);
    }

    #[test]
    fn bgr_order_swaps_channels() {
        let norm = Normalization {
            channel_order: ChannelOrder::Bgr,
            ..identity()
        };
        let image = RgbImage::from_pixel(3, 3, image::Rgb([1, 2, 3]));
        let mut out = vec![0.0; 3];
        Preprocessor::new(1, &norm).run(&image, &mut out);
        assert_eq!(out, vec![3.0, 2.0, 1.0]);
    }
}
