//! The built-in `demo` source: the photos in `assets/` (compiled into the binary),
//! one after another in a loop, slowly panned and zoomed at 640x480
//! ([`camera_path`]) so that the overlay can be seen tracking the objects.

use super::frame_source::{FrameSource, SourceError, interval_for_fps};
use crate::detect::camera_path;
use image::RgbImage;
use std::time::Duration;

pub const DEFAULT_FPS: f32 = 30.0;
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 480;
/// How long each photo is shown, in seconds of frames (at the source's rate).
pub const SECONDS_PER_PHOTO: f32 = 6.0;

const PHOTOS: [(&str, &[u8]); 3] = [
    ("astronaut", include_bytes!("../../../assets/astronaut.png")),
    ("chelsea", include_bytes!("../../../assets/chelsea.png")),
    ("coffee", include_bytes!("../../../assets/coffee.png")),
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
        let window = camera_path::pan_zoom_window(photo.dimensions(), WIDTH, HEIGHT, progress);
        camera_path::render(photo, window, WIDTH, HEIGHT)
    }

    pub fn photo_names(&self) -> Vec<&str> {
        self.photos.iter().map(|(name, _)| name.as_str()).collect()
    }
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
