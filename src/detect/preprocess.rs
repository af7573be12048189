//! Any RGB image to the network's normalised CHW input: the whole image resampled to
//! the input size as training's images were (PIL's antialiased bilinear, see
//! [`super::resample`]), fused with normalisation.

use super::resample::{Resampler, Window};
use crate::model::{ChannelOrder, Normalization};
use image::RgbImage;

#[derive(Debug, Clone)]
pub struct Preprocessor {
    size: usize,
    /// Input channel for each network channel.
    channel_source: [usize; 3],
    scale: [f32; 3],
    offset: [f32; 3],
    resampler: Resampler,
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
            resampler: Resampler::default(),
        }
    }

    /// Writes `3 x size x size` values into `out`. The image must not be empty.
    pub fn run(&mut self, image: &RgbImage, out: &mut [f32]) {
        let size = self.size;
        let (channel_source, scale, offset) = (self.channel_source, self.scale, self.offset);
        self.resampler
            .run(image, Window::whole(image), (size, size), |y, rgb| {
                let (pixels, _) = rgb.as_chunks::<3>();
                for c in 0..3 {
                    let start = (c * size + y) * size;
                    for (value, pixel) in out[start..start + size].iter_mut().zip(pixels) {
                        *value = pixel[channel_source[c]] * scale[c] + offset[c];
                    }
                }
            });
    }
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
    fn shrinking_averages_every_pixel_it_covers() {
        // 4 columns to 1: the triangle spans all four, weights 5, 7, 7, 5 (/ 24). Plain
        // bilinear would have read only columns 1 and 2 and missed the bright column 0.
        let image = RgbImage::from_fn(4, 2, |x, _| image::Rgb([if x == 0 { 240 } else { 0 }; 3]));
        let mut out = vec![0.0; 3];
        Preprocessor::new(1, &identity()).run(&image, &mut out);
        assert!((out[0] - 240.0 * 5.0 / 24.0).abs() < 1e-4, "{}", out[0]);
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
