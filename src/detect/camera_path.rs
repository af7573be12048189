//! A virtual camera over a still photo: a 4:3 window that zooms in and out while its
//! centre drifts across the photo, resampled as the detector resamples frames. The demo
//! source shows it; the tracking benchmark moves a photo's labelled boxes with it.

use super::resample::{Resampler, Window};
use crate::model::box_coder::Corners;
use image::RgbImage;

/// The deepest zoom, relative to the widest view of the photo.
pub const MAX_ZOOM: f32 = 1.5;

/// The camera's window in the photo's pixels at `progress` (0 to 1) of its path, for
/// frames of `width` x `height`: the widest window of that shape that fits the photo,
/// zoomed in to [`MAX_ZOOM`] and out again while its centre drifts across the photo.
pub fn pan_zoom_window(photo: (u32, u32), width: u32, height: u32, progress: f32) -> Window {
    let (pw, ph) = (photo.0 as f32, photo.1 as f32);
    let aspect = width as f32 / height as f32;
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
    Window {
        x: (cx - win_w / 2.0).clamp(0.0, pw - win_w),
        y: (cy - win_h / 2.0).clamp(0.0, ph - win_h),
        width: win_w,
        height: win_h,
    }
}

/// The window resampled into a `width` x `height` frame.
pub fn render(photo: &RgbImage, window: Window, width: u32, height: u32) -> RgbImage {
    let mut out = RgbImage::new(width, height);
    let mut rows = out.chunks_exact_mut(width as usize * 3);
    Resampler::default().run(
        photo,
        window,
        (width as usize, height as usize),
        |_, rgb| {
            if let Some(row) = rows.next() {
                for (byte, &value) in row.iter_mut().zip(rgb) {
                    // A weighted mean of bytes: within 0..=255.
                    *byte = value.round() as u8;
                }
            }
        },
    );
    out
}

/// A box in the photo's pixels as it appears in the frame of `window` rendered at
/// `width` pixels across (not clipped to the frame).
pub fn to_frame(bbox: &Corners, window: &Window, width: u32) -> Corners {
    let scale = width as f32 / window.width;
    Corners {
        x_min: (bbox.x_min - window.x) * scale,
        y_min: (bbox.y_min - window.y) * scale,
        x_max: (bbox.x_max - window.x) * scale,
        y_max: (bbox.y_max - window.y) * scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_stays_inside_the_photo_and_zooms() {
        for progress in [0.0, 0.1, 0.25, 0.5, 0.75, 0.99] {
            let w = pan_zoom_window((500, 375), 640, 480, progress);
            assert!(w.x >= 0.0 && w.y >= 0.0, "{w:?}");
            assert!(
                w.x + w.width <= 500.001 && w.y + w.height <= 375.001,
                "{w:?}"
            );
            assert!((w.width / w.height - 4.0 / 3.0).abs() < 1e-4, "{w:?}");
        }
        let widest = pan_zoom_window((500, 375), 640, 480, 0.0);
        let middle = pan_zoom_window((500, 375), 640, 480, 0.5);
        assert!((widest.width - 500.0).abs() < 1e-3);
        assert!((widest.width / middle.width - MAX_ZOOM).abs() < 1e-4);
    }

    #[test]
    fn boxes_follow_the_picture() {
        // a photo with one bright square: where the square lands in the frame is where
        // its box lands
        let mut photo = RgbImage::new(400, 300);
        for y in 100..160 {
            for x in 200..260 {
                photo.put_pixel(x, y, image::Rgb([255, 255, 255]));
            }
        }
        let square = Corners {
            x_min: 200.0,
            y_min: 100.0,
            x_max: 260.0,
            y_max: 160.0,
        };
        let window = pan_zoom_window((400, 300), 320, 240, 0.3);
        let frame = render(&photo, window, 320, 240);
        let b = to_frame(&square, &window, 320);
        let lit = |x: f32, y: f32| frame.get_pixel(x as u32, y as u32).0[0] > 128;
        let (cx, cy) = ((b.x_min + b.x_max) / 2.0, (b.y_min + b.y_max) / 2.0);
        assert!(lit(cx, cy), "the box's centre is on the square: {b:?}");
        assert!(lit(b.x_min + 2.0, b.y_min + 2.0) && lit(b.x_max - 2.0, b.y_max - 2.0));
        assert!(!lit(b.x_min - 3.0, cy) && !lit(b.x_max + 3.0, cy), "{b:?}");
        assert!(!lit(cx, b.y_min - 3.0) && !lit(cx, b.y_max + 3.0), "{b:?}");
    }
}
