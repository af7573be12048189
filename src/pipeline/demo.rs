//! The built-in `demo` source: the photos in `assets/` (compiled into the binary),
//! one after another in a loop, slowly panned and zoomed at 640x480 so that the
//! overlay can be seen tracking the objects.

use super::source::{FrameSource, SourceError, interval_for_fps};
use crate::detect::resample::{Resampler, Window};
use image::RgbImage;
use std::time::Duration;

pub const DEFAULT_FPS: f32 = 30.0;
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// How long each photo is shown, in seconds of frames (at the source's rate).
pub const SECONDS_PER_PHOTO: f32 = 6.0;
/// The deepest zoom, relative to the widest 4:3 view of the photo.
pub const MAX_ZOOM: f32 = 1.5;

const PHOTOS: [(&str, &[u8]); 3] = [
    ("astronaut", include_bytes!("../../assets/astronaut.png")),
    ("chelsea", include_bytes!("../../assets/chelsea.png")),
    ("coffee", include_bytes!("../../assets/coffee.png")),
];

pub struct DemoSource {
    photos: Vec<(String, RgbImage)>,
    frame: u64,
    fps: f32,
}

impl DemoSource {
    pub fn new(fps: f32) -> Result<DemoSource, SourceError> {
        let photos = PHOTOS
            .iter()
            .map(|(name, bytes)| {
                crate::detect::decode_image(bytes)
                    .map(|image| (name.to_string(), image))
                    .map_err(|error| SourceError::Image {
                        path: format!("assets/{name}.png").into(),
                        error,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            DEFAULT_FPS
        };
        Ok(DemoSource {
            photos,
            frame: 0,
            fps,
        })
    }

    /// The frame at position `frame` of the loop (the source itself just counts up).
    // Indexes the bundled photos (never empty: `PHOTOS` is a constant and `new` fails
    // if one does not decode) modulo their count.
    #[allow(clippy::indexing_slicing)]
    pub fn render(&self, frame: u64) -> RgbImage {
        let per_photo = ((SECONDS_PER_PHOTO * self.fps).round() as u64).max(1);
        let (photo_index, step) = (
            (frame / per_photo) as usize % self.photos.len(),
            frame % per_photo,
        );
        let progress = step as f32 / per_photo as f32;
        let photo = &self.photos[photo_index].1;
        let (pw, ph) = (photo.width() as f32, photo.height() as f32);
        // The widest 4:3 window that fits the photo, then zoomed in and out again
        // while its centre drifts across the photo.
        let aspect = WIDTH as f32 / HEIGHT as f32;
        let (base_w, base_h) = if pw / ph > aspect {
            (ph * aspect, ph)
        } else {
            (pw, pw / aspect)
        };
        let phase = std::f32::consts::PI * progress;
        let zoom = 1.0 + (MAX_ZOOM - 1.0) * phase.sin();
        let (win_w, win_h) = (base_w / zoom, base_h / zoom);
        let cx = pw / 2.0 + (pw - win_w) / 2.0 * (2.0 * phase).cos() * 0.9;
        let cy = ph / 2.0 + (ph - win_h) / 2.0 * (2.0 * phase).sin() * 0.6;
        let x0 = (cx - win_w / 2.0).clamp(0.0, pw - win_w);
        let y0 = (cy - win_h / 2.0).clamp(0.0, ph - win_h);
        sample_window(photo, x0, y0, win_w / WIDTH as f32, WIDTH, HEIGHT)
    }

    pub fn photo_names(&self) -> Vec<&str> {
        self.photos.iter().map(|(name, _)| name.as_str()).collect()
    }
}

/// The window at (x0, y0) with `scale` source pixels per output pixel, resampled into a
/// `width` x `height` image as the detector resamples frames.
fn sample_window(
    src: &RgbImage,
    x0: f32,
    y0: f32,
    scale: f32,
    width: u32,
    height: u32,
) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let window = Window {
        x: x0,
        y: y0,
        width: width as f32 * scale,
        height: height as f32 * scale,
    };
    let mut rows = out.chunks_exact_mut(width as usize * 3);
    Resampler::default().run(src, window, (width as usize, height as usize), |_, rgb| {
        if let Some(row) = rows.next() {
            for (byte, &value) in row.iter_mut().zip(rgb) {
                // A weighted mean of bytes: within 0..=255.
                *byte = value.round() as u8;
            }
        }
    });
    out
}

impl FrameSource for DemoSource {
    fn name(&self) -> String {
        "demo".to_string()
    }

    fn description(&self) -> String {
        format!(
            "demo: {} panned and zoomed at {WIDTH}x{HEIGHT}, {:.0} fps",
            self.photo_names().join(", "),
            self.fps
        )
    }

    fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
        let image = self.render(self.frame);
        self.frame += 1;
        Ok(image)
    }

    fn frame_interval(&self) -> Option<Duration> {
        Some(interval_for_fps(self.fps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_640x480_and_move() {
        let mut demo = DemoSource::new(30.0).expect("the bundled photos decode");
        let first = demo.next_frame().expect("demo frames never fail");
        assert_eq!(first.dimensions(), (WIDTH, HEIGHT));
        let later = demo.render(45);
        assert_ne!(first.as_raw(), later.as_raw(), "the view pans");
        // The next photo starts after SECONDS_PER_PHOTO.
        let next_photo = demo.render((SECONDS_PER_PHOTO * 30.0) as u64);
        assert_eq!(next_photo.dimensions(), (WIDTH, HEIGHT));
    }
}
