//! Drawing detections onto an image: one colour per class, label and score.

use super::postprocess::Detection;
use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

/// Kelly's colours of maximum contrast (without black and white), one per VOC class:
/// neighbouring and frequent classes (person, chair, bottle, cat) stay distinguishable.
const PALETTE: [[u8; 3]; 20] = [
    [255, 179, 0],   // vivid yellow
    [128, 62, 117],  // strong purple
    [255, 104, 0],   // vivid orange
    [166, 189, 215], // very light blue
    [193, 0, 32],    // vivid red
    [206, 162, 98],  // greyish yellow
    [0, 125, 52],    // vivid green
    [246, 118, 142], // strong purplish pink
    [0, 83, 138],    // strong blue
    [255, 122, 92],  // strong yellowish pink
    [83, 55, 122],   // strong violet
    [255, 142, 0],   // vivid orange yellow
    [179, 40, 81],   // strong purplish red
    [244, 200, 0],   // vivid greenish yellow
    [127, 24, 13],   // strong reddish brown
    [147, 170, 0],   // vivid yellowish green
    [89, 51, 21],    // deep yellowish brown
    [241, 58, 19],   // vivid reddish orange
    [35, 44, 22],    // dark olive green
    [129, 112, 102], // medium grey
];

/// The colour of a class id (1 = the first real class; background and ids past the
/// palette wrap around).
pub fn class_color(class_id: usize) -> [u8; 3] {
    PALETTE[(class_id + PALETTE.len() - 1) % PALETTE.len()]
}

/// Black or white, whichever reads better on the class colour.
pub fn label_text_color(class_id: usize) -> [u8; 3] {
    let [r, g, b] = class_color(class_id).map(f32::from);
    let luminance = 0.299 * r + 0.587 * g + 0.114 * b;
    if luminance > 140.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

/// Draws each detection's box (2 px wide) and a "label 0.87" tag above it.
pub fn draw_detections(image: &mut RgbImage, detections: &[Detection]) {
    // The font is compiled in (egui's own) and parsed by egui at every start.
    #[allow(clippy::expect_used)]
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
        draw_text_mut(
            image,
            Rgb(label_text_color(detection.class_id)),
            x + 3,
            tag_y + 1,
            scale,
            &font,
            &text,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voc_class_has_its_own_colour() {
        let colours: std::collections::HashSet<[u8; 3]> = (1..=20).map(class_color).collect();
        assert_eq!(colours.len(), 20);
    }
}
