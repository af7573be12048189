//! Drawing detections onto an image: one colour per class, label and score.

use super::postprocess::Detection;
use crate::model::box_coder::Corners;
use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

/// One colour per VOC class, chosen (greedy max-min, offline) from the sRGB grid of
/// step 17 for two properties the tests check: every colour's OKLab lightness lies in
/// 0.62..=0.82 with a chroma of at least 0.09 (vivid and mid-light: it stands out on
/// dark photos, and the dark outline drawn around each line carries it on light ones),
/// and any two colours are at least 0.115 apart in OKLab (clearly different; a just
/// noticeable difference is about 0.02).
const PALETTE: [[u8; 3]; 20] = [
    [255, 0, 255],
    [0, 221, 0],
    [0, 153, 238],
    [255, 119, 17],
    [221, 170, 255],
    [119, 153, 85],
    [51, 221, 221],
    [187, 102, 153],
    [153, 102, 255],
    [204, 187, 0],
    [255, 0, 85],
    [255, 170, 153],
    [255, 119, 187],
    [238, 17, 170],
    [187, 119, 0],
    [119, 187, 255],
    [0, 170, 0],
    [0, 204, 136],
    [0, 170, 170],
    [221, 119, 255],
];

/// The outline around box lines and tags, so that light colours hold on light photos.
pub const OUTLINE: [u8; 3] = [0, 0, 0];

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

/// The text of a detection's tag: class and score.
pub fn tag_text(detection: &Detection) -> String {
    format!("{} {:.2}", detection.label, detection.score)
}

/// The tags of `boxes` (each a tag's text, [`tag_text`] for a detection, and its box in
/// drawing coordinates, whose top-left is 0, 0 and bottom-right `bounds`), in priority
/// order: best first, and the boxes drawn lighter (near misses) after the real ones, so
/// that they yield.
/// `text_size` measures a text in the drawing's font; `padding` is added to it (each
/// font measures its text differently). The one placement rule of the window and of
/// `detect --out-dir`: see [`place_labels`].
pub fn label_tags(
    boxes: impl IntoIterator<Item = (String, Corners)>,
    bounds: [f32; 2],
    padding: [f32; 2],
    mut text_size: impl FnMut(&str) -> [f32; 2],
) -> Vec<LabelTag> {
    let mut texts = Vec::new();
    let mut corners = Vec::new();
    let mut sizes = Vec::new();
    for (text, bbox) in boxes {
        let [w, h] = text_size(&text);
        texts.push(text);
        corners.push(bbox);
        sizes.push([w + padding[0], h + padding[1]]);
    }
    let places = place_labels(&corners, &sizes, bounds);
    texts
        .into_iter()
        .zip(places.into_iter().zip(sizes))
        .map(|(text, (min, size))| LabelTag { text, min, size })
        .collect()
}

/// Where each label goes (its top-left corner): labels are placed one by one, in the
/// order given (the first have the first choice), each at its preferred place if no
/// label placed before covers it, else at the free place nearest to it (by horizontal
/// plus vertical distance) among those touching an already placed label: below, above,
/// right of or left of it. The preferred place is on the box's left edge, above the box,
/// or inside it at its top when there is no room above; labels stay within `bounds`
/// (when they fit). A label with no free place keeps its preferred one.
pub fn place_labels(boxes: &[Corners], sizes: &[[f32; 2]], bounds: [f32; 2]) -> Vec<[f32; 2]> {
    let mut placed: Vec<([f32; 2], [f32; 2])> = Vec::with_capacity(boxes.len());
    let mut spots: Vec<[f32; 2]> = Vec::new();
    for (bbox, &size) in boxes.iter().zip(sizes) {
        let [w, h] = size;
        let fits = |[x, y]: [f32; 2]| {
            x >= 0.0 && y >= 0.0 && x + w <= bounds[0].max(w) && y + h <= bounds[1].max(h)
        };
        let free = |[x, y]: [f32; 2]| {
            placed.iter().all(|&([px, py], [pw, ph])| {
                x >= px + pw || px >= x + w || y >= py + ph || py >= y + h
            })
        };
        let x = bbox.x_min.min(bounds[0] - w).max(0.0);
        let above = bbox.y_min - h;
        let y = if above >= 0.0 { above } else { bbox.y_min };
        let preferred = [x, y.min(bounds[1] - h).max(0.0)];
        let place = if free(preferred) {
            preferred
        } else {
            let distance =
                |[cx, cy]: &[f32; 2]| (cx - preferred[0]).abs() + (cy - preferred[1]).abs();
            spots.clear();
            spots.extend(
                placed
                    .iter()
                    .flat_map(|&([px, py], [pw, ph])| {
                        [
                            [preferred[0], py + ph],
                            [preferred[0], py - h],
                            [px + pw, preferred[1]],
                            [px - w, preferred[1]],
                        ]
                    })
                    .filter(|&spot| fits(spot)),
            );
            // Nearest first (a stable sort: equal distances keep the order above), and
            // only as many checked as it takes to find a free one.
            spots.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
            spots
                .iter()
                .copied()
                .find(|&spot| free(spot))
                .unwrap_or(preferred)
        };
        placed.push((place, size));
    }
    placed.into_iter().map(|(place, _)| place).collect()
}

/// Padding of the tags on drawn images, around imageproc's text measure.
const IMAGE_TAG_PADDING: [f32; 2] = [6.0, 4.0];

/// Draws every detection's box (2 px wide, outlined), then their [`label_tags`] on top,
/// so that no box line crosses a label.
pub fn draw_detections(image: &mut RgbImage, detections: &[Detection]) {
    // The font is compiled in (egui's own) and parsed by egui at every start.
    #[allow(clippy::expect_used)]
    let font = FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT)
        .expect("the font bundled with egui is valid");
    let scale = PxScale::from((image.height() as f32 / 30.0).clamp(12.0, 28.0));
    let rect = |min: [f32; 2], size: [f32; 2], inset: i32| {
        let [x, y] = min.map(|v| v.round() as i32 + inset);
        let [w, h] = size.map(|v| (v.round() as i32 - 2 * inset).max(1) as u32);
        Rect::at(x, y).of_size(w, h)
    };
    for detection in detections {
        let b = &detection.bbox;
        let (min, size) = ([b.x_min, b.y_min], [b.x_max - b.x_min, b.y_max - b.y_min]);
        for inset in [-1, 2] {
            draw_hollow_rect_mut(image, rect(min, size, inset), Rgb(OUTLINE));
        }
        for inset in [0, 1] {
            let color = Rgb(class_color(detection.class_id));
            draw_hollow_rect_mut(image, rect(min, size, inset), color);
        }
    }
    let bounds = [image.width() as f32, image.height() as f32];
    let boxes = detections.iter().map(|d| (tag_text(d), d.bbox));
    let tags = label_tags(boxes, bounds, IMAGE_TAG_PADDING, |text| {
        let (w, h) = text_size(scale, &font, text);
        [w as f32, h as f32]
    });
    for (detection, tag) in detections.iter().zip(tags) {
        draw_hollow_rect_mut(image, rect(tag.min, tag.size, -1), Rgb(OUTLINE));
        let color = Rgb(class_color(detection.class_id));
        draw_filled_rect_mut(image, rect(tag.min, tag.size, 0), color);
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

    /// sRGB to OKLab (Björn Ottosson's matrices): lightness, a, b.
    fn oklab(rgb: [u8; 3]) -> [f64; 3] {
        let [r, g, b] = rgb.map(|c| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        let l = (0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b).cbrt();
        let m = (0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b).cbrt();
        let s = (0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b).cbrt();
        [
            0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s,
            1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s,
            0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s,
        ]
    }

    #[test]
    fn oklab_matches_its_reference_values() {
        // White is (1, 0, 0); pure red is (0.628, 0.225, 0.126) in Ottosson's table.
        let white = oklab([255, 255, 255]);
        assert!((white[0] - 1.0).abs() < 1e-3 && white[1].abs() < 1e-3);
        let red = oklab([255, 0, 0]);
        assert!((red[0] - 0.628).abs() < 1e-3 && (red[1] - 0.2249).abs() < 1e-3);
    }

    #[test]
    fn the_palette_is_vivid_mid_light_and_far_apart_in_oklab() {
        let colours: Vec<[f64; 3]> = (1..=20).map(|id| oklab(class_color(id))).collect();
        for (id, [lightness, a, b]) in colours.iter().enumerate() {
            assert!(
                (0.62..=0.82).contains(lightness),
                "class {}: L {lightness}",
                id + 1
            );
            assert!(a.hypot(*b) >= 0.09, "class {}: chroma", id + 1);
        }
        let mut closest = f64::INFINITY;
        for (i, x) in colours.iter().enumerate() {
            for y in &colours[..i] {
                let distance = (0..3).map(|k| (x[k] - y[k]).powi(2)).sum::<f64>().sqrt();
                closest = closest.min(distance);
            }
        }
        assert!(closest >= 0.115, "closest pair {closest}");
        // Far from the outline, so that it shows against every colour.
        assert!(colours.iter().all(|c| c[0] - oklab(OUTLINE)[0] >= 0.6));
    }

    const TAG: [f32; 2] = [50.0, 20.0];
    const BOUNDS: [f32; 2] = [400.0, 300.0];

    #[test]
    fn a_label_sits_above_its_box_when_there_is_room_and_inside_it_otherwise() {
        let places = place_labels(
            &[
                Corners::new(40.0, 30.0, 90.0, 80.0),
                Corners::new(200.0, 20.0, 260.0, 80.0),
                Corners::new(300.0, 19.5, 350.0, 80.0),
            ],
            &[TAG; 3],
            BOUNDS,
        );
        assert_eq!(places, vec![[40.0, 10.0], [200.0, 0.0], [300.0, 19.5]]);
    }

    #[test]
    fn a_label_stays_within_the_picture() {
        let places = place_labels(
            &[
                Corners::new(380.0, 100.0, 400.0, 150.0),
                Corners::new(-5.0, 295.0, 10.0, 300.0),
            ],
            &[TAG; 2],
            BOUNDS,
        );
        assert_eq!(places, vec![[350.0, 80.0], [0.0, 275.0]]);
    }

    #[test]
    fn colliding_labels_move_to_the_nearest_free_place() {
        // A bicycle exactly under a motorbike: the second label goes just below the
        // first, inside the box (20 px away; above it is as far, but listed later), the
        // third above the first.
        let bike = Corners::new(100.0, 100.0, 200.0, 200.0);
        let places = place_labels(&[bike, bike, bike], &[TAG; 3], BOUNDS);
        assert_eq!(places, vec![[100.0, 80.0], [100.0, 100.0], [100.0, 60.0]]);

        // A box whose label would overlap the first label by 10 px sideways: moved
        // right of it (10 px) rather than below it (20 px).
        let places = place_labels(
            &[
                Corners::new(100.0, 100.0, 200.0, 200.0),
                Corners::new(140.0, 100.0, 220.0, 200.0),
            ],
            &[TAG; 2],
            BOUNDS,
        );
        assert_eq!(places, vec![[100.0, 80.0], [150.0, 80.0]]);
    }

    #[test]
    fn many_labels_on_one_spot_never_overlap() {
        let spot = Corners::new(150.0, 120.0, 250.0, 200.0);
        let boxes = [spot; 12];
        let places = place_labels(&boxes, &[TAG; 12], BOUNDS);
        for (i, a) in places.iter().enumerate() {
            for b in &places[..i] {
                let apart = a[0] >= b[0] + TAG[0]
                    || b[0] >= a[0] + TAG[0]
                    || a[1] >= b[1] + TAG[1]
                    || b[1] >= a[1] + TAG[1];
                assert!(apart, "{a:?} and {b:?} overlap: {places:?}");
            }
            assert!(a[0] >= 0.0 && a[0] + TAG[0] <= BOUNDS[0]);
            assert!(a[1] >= 0.0 && a[1] + TAG[1] <= BOUNDS[1]);
        }
    }

    #[test]
    fn tags_read_class_and_score_and_keep_their_order() {
        let detection = |class_id, label: &str, score| Detection {
            class_id,
            label: label.into(),
            score,
            bbox: Corners::new(40.0, 30.0, 90.0, 80.0),
        };
        let (cat, dog) = (detection(8, "cat", 0.871), detection(12, "dog", 0.42));
        let tags = label_tags(
            [(tag_text(&cat), cat.bbox), (tag_text(&dog), dog.bbox)],
            BOUNDS,
            [6.0, 4.0],
            |text| [text.len() as f32 * 5.0, 16.0],
        );
        assert_eq!(tags[0].text, "cat 0.87");
        assert_eq!((tags[0].min, tags[0].size), ([40.0, 10.0], [46.0, 20.0]));
        assert_eq!(tags[0].text_origin(), [43.0, 11.0]);
        assert_eq!(tags[1].text, "dog 0.42");
        assert_eq!(tags[1].min, [40.0, 30.0], "inside its box, under the cat's");
    }

    #[test]
    fn labels_are_drawn_over_every_box_line() {
        // The second box's left line (x 30, from y 20 down) runs through the first
        // box's label (from x 20, just above y 60).
        let mut image = RgbImage::from_pixel(200, 150, Rgb([128, 128, 128]));
        let detection = |class_id, x: f32, y: f32| Detection {
            class_id,
            label: "cat".into(),
            score: 0.9,
            bbox: Corners::new(x, y, x + 80.0, 140.0),
        };
        draw_detections(
            &mut image,
            &[detection(8, 20.0, 60.0), detection(15, 30.0, 20.0)],
        );
        // The label is drawn over the line: its colour (or its text's) is there.
        let tag_colour = Rgb(class_color(8));
        let text = Rgb(label_text_color(8));
        let at = *image.get_pixel(30, 58);
        assert!(at == tag_colour || at == text, "{at:?}");
        // Below the tags, the second box's line is drawn.
        assert_eq!(*image.get_pixel(30, 100), Rgb(class_color(15)));
    }
}
