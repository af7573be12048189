//! Drawing detections onto an image: one colour per class, label and score.

use super::postprocess::Detection;
use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

/// A distinct, readable colour for each class id (golden-angle hues).
pub fn class_color(class_id: usize) -> [u8; 3] {
    let hue = (class_id as f32 * 137.508) % 360.0;
    hsv_to_rgb(hue, 0.75, 0.95)
}

fn hsv_to_rgb(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let c = value * saturation;
    let x = c * (1.0 - ((hue / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    [r, g, b].map(|v| ((v + m) * 255.0).round() as u8)
}

/// Draws each detection's box (2 px wide) and a "label 0.87" tag above it.
pub fn draw_detections(image: &mut RgbImage, detections: &[Detection]) {
    let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
        .expect("the font bundled with egui is valid");
    let scale = PxScale::from((image.height() as f32 / 30.0).clamp(12.0, 28.0));
    for detection in detections {
        let color = Rgb(class_color(detection.class_id));
        let b = &detection.bbox;
        let (x, y) = (b.x_min.round() as i32, b.y_min.round() as i32);
        let width = (b.x_max - b.x_min).round().max(1.0) as u32;
        let height = (b.y_max - b.y_min).round().max(1.0) as u32;
        for inset in 0..2 {
            let w = width.saturating_sub(2 * inset as u32).max(1);
            let h = height.saturating_sub(2 * inset as u32).max(1);
            draw_hollow_rect_mut(image, Rect::at(x + inset, y + inset).of_size(w, h), color);
        }
        let text = format!("{} {:.2}", detection.label, detection.score);
        let (text_w, text_h) = text_size(scale, &font, &text);
        let tag_y = if y >= text_h as i32 + 4 {
            y - text_h as i32 - 4
        } else {
            y
        };
        draw_filled_rect_mut(
            image,
            Rect::at(x, tag_y).of_size(text_w + 6, text_h + 4),
            color,
        );
        draw_text_mut(image, Rgb([0, 0, 0]), x + 3, tag_y + 1, scale, &font, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_classes_get_different_colours() {
        for id in 0..20 {
            assert_ne!(class_color(id), class_color(id + 1));
        }
        assert_eq!(hsv_to_rgb(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv_to_rgb(240.0, 1.0, 1.0), [0, 0, 255]);
    }
}
