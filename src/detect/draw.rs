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

/// Where a tag's text starts inside the tag (the rest of the padding lies right of and
/// below it).
pub const TAG_TEXT_INSET: [f32; 2] = [3.0, 1.0];

/// A detection's tag: its "label 0.87" text and the filled rectangle behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelTag {
    pub text: String,
    /// Top-left corner of the tag, in the drawing's coordinates.
    pub min: [f32; 2],
    pub size: [f32; 2],
}

impl LabelTag {
    /// Where the text is drawn.
    pub fn text_origin(&self) -> [f32; 2] {
        [
            self.min[0] + TAG_TEXT_INSET[0],
            self.min[1] + TAG_TEXT_INSET[1],
        ]
    }
}

/// The tag of a detection whose box's top-left corner is `corner`, in drawing
/// coordinates whose top edge is 0: on the box's left edge, above the box, or inside
/// it at its top when the box touches the top. `text_size` measures the text in the
/// drawing's font; `padding` is added to it (each font measures its text differently).
pub fn label_tag(
    detection: &Detection,
    corner: [f32; 2],
    padding: [f32; 2],
    text_size: impl FnOnce(&str) -> [f32; 2],
) -> LabelTag {
    let text = format!("{} {:.2}", detection.label, detection.score);
    let [text_w, text_h] = text_size(&text);
    let size = [text_w + padding[0], text_h + padding[1]];
    let [x, y] = corner;
    let top = if y >= size[1] { y - size[1] } else { y };
    LabelTag {
        text,
        min: [x, top],
        size,
    }
}

/// Padding of the tags on drawn images, around imageproc's text measure.
const IMAGE_TAG_PADDING: [f32; 2] = [6.0, 4.0];

/// Draws each detection's box (2 px wide) and its [`label_tag`].
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
        let tag = label_tag(detection, [x as f32, y as f32], IMAGE_TAG_PADDING, |text| {
            let (w, h) = text_size(scale, &font, text);
            [w as f32, h as f32]
        });
        let [tag_x, tag_y] = tag.min.map(|v| v as i32);
        let [tag_w, tag_h] = tag.size.map(|v| v as u32);
        draw_filled_rect_mut(image, Rect::at(tag_x, tag_y).of_size(tag_w, tag_h), color);
        let [text_x, text_y] = tag.text_origin().map(|v| v as i32);
        draw_text_mut(
            image,
            Rgb(label_text_color(detection.class_id)),
            text_x,
            text_y,
            scale,
            &font,
            &tag.text,
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

    fn cat(score: f32) -> Detection {
        Detection {
            class_id: 8,
            label: "cat".into(),
            score,
            bbox: crate::model::box_coder::Corners {
                x_min: 40.0,
                y_min: 30.0,
                x_max: 90.0,
                y_max: 80.0,
            },
        }
    }

    #[test]
    fn a_tag_sits_above_its_box_when_there_is_room_and_inside_it_otherwise() {
        let measured = |text: &str| {
            assert_eq!(text, "cat 0.87");
            [50.0, 20.0]
        };
        let above = label_tag(&cat(0.871), [40.0, 30.0], [6.0, 4.0], measured);
        assert_eq!(above.text, "cat 0.87");
        assert_eq!((above.min, above.size), ([40.0, 6.0], [56.0, 24.0]));
        assert_eq!(above.text_origin(), [43.0, 7.0]);

        let exactly_room = label_tag(&cat(0.871), [40.0, 24.0], [6.0, 4.0], measured);
        assert_eq!(exactly_room.min, [40.0, 0.0]);
        let inside = label_tag(&cat(0.871), [40.0, 23.5], [6.0, 4.0], measured);
        assert_eq!(inside.min, [40.0, 23.5]);
    }
}
