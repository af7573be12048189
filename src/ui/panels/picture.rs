//! The newest frame fitted to the central panel, with the boxes on screen (tracks, or
//! raw detections), the near misses and the marks drawn over it; a click picks the
//! class of a box (and, paused, asks whether it is right), a drag draws a missed one.

use super::marks::{self, Placement};
use super::{color32, dashed_outline};
use crate::detect::{Detection, OUTLINE, label_tags, label_text_color, tag_text};
use crate::model::Corners;
use crate::ui::state::{AppState, ShownBox};
use egui::{Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, TextureHandle, Vec2};

/// Padding of the tags on screen, around egui's text measure (which includes the
/// line spacing).
const SCREEN_TAG_PADDING: [f32; 2] = [6.0, 2.0];

/// The newest frame, fitted to the panel, with the boxes on screen drawn over it.
pub fn video(ui: &mut egui::Ui, state: &mut AppState, texture: Option<&TextureHandle>) {
    egui::CentralPanel::default().show(ui, |ui| {
        let (Some(texture), Some(frame)) = (texture, state.current.as_ref()) else {
            ui.centered_and_justified(|ui| {
                let what = if state.source.name.is_empty() {
                    "the source"
                } else {
                    state.source.name.as_str()
                };
                ui.label(format!("Waiting for frames from {what}…"));
            });
            return;
        };
        let available = ui.available_rect_before_wrap();
        let (width, height) = (frame.image.width() as f32, frame.image.height() as f32);
        let scale = (available.width() / width).min(available.height() / height);
        let rect = Rect::from_center_size(available.center(), Vec2::new(width, height) * scale);
        // (The "click a box" hint is in the status bar: a tooltip here would cover it.)
        let response = ui.allocate_rect(rect, Sense::click_and_drag());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "video"));
        let placement = Placement { rect, scale };
        if response.clicked()
            && let Some(pointer) = response.interact_pointer_pos()
        {
            let at = placement.to_frame(pointer);
            state.select_at(at.x, at.y);
            state.pick_for_judging(at.x, at.y);
        }
        marks::drag_to_draw(ui, &response, placement, state);
        let painter = ui.painter_at(rect);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        painter.image(texture.id(), rect, uv, Color32::WHITE);
        // Relative to the picture, whose top-left corner is 0, 0.
        let scaled = |b: &Corners| Corners {
            x_min: b.x_min * scale,
            y_min: b.y_min * scale,
            x_max: b.x_max * scale,
            y_max: b.y_max * scale,
        };
        let on_screen = |b: &Corners| {
            Rect::from_min_max(
                rect.min + Vec2::new(b.x_min, b.y_min),
                rect.min + Vec2::new(b.x_max, b.y_max),
            )
        };
        let shown = state.on_screen();
        let near: Vec<&Detection> = if state.show_near_misses {
            state.near_misses().collect()
        } else {
            Vec::new()
        };
        // All boxes first, the near misses under the real ones; then all labels, the
        // real ones last, so that nothing crosses them.
        for detection in &near {
            let bbox = on_screen(&scaled(&detection.bbox));
            let stroke = Stroke::new(1.5, color32(detection.class_id));
            dashed_outline(&painter, bbox, stroke);
        }
        let [r, g, b] = OUTLINE;
        let outline = Color32::from_rgba_unmultiplied(r, g, b, 170);
        for ShownBox { detection, .. } in &shown {
            let bbox = on_screen(&scaled(&detection.bbox));
            let color = color32(detection.class_id);
            painter.rect_stroke(bbox.expand(1.0), 0.0, (4.0, outline), StrokeKind::Inside);
            painter.rect_stroke(bbox, 0.0, Stroke::new(2.0, color), StrokeKind::Inside);
        }
        let font = FontId::proportional(14.0);
        // Laid out with the placeholder colour, so that one galley serves every class.
        let layout =
            |text: String| painter.layout_no_wrap(text, font.clone(), Color32::PLACEHOLDER);
        let with_id = state.show_track_ids;
        let shown_boxes = shown
            .iter()
            .map(|b| (b.tag_text(with_id), scaled(&b.detection.bbox)));
        let near_boxes = near.iter().map(|d| (tag_text(d), scaled(&d.bbox)));
        let marks = state.marks_on_screen();
        let mark_boxes = marks
            .iter()
            .map(|m| (marks::mark_text(m, &state.class_names), scaled(&m.bbox)));
        // The marks' tags last: they yield to the boxes' own.
        let boxes = shown_boxes.chain(near_boxes).chain(mark_boxes);
        let tags = label_tags(boxes, rect.size().into(), SCREEN_TAG_PADDING, |text| {
            layout(text.to_owned()).size().into()
        });
        let (shown_tags, rest) = tags.split_at(shown.len().min(tags.len()));
        let (near_tags, mark_tags) = rest.split_at(near.len().min(rest.len()));
        let near_tags = near_tags
            .iter()
            .zip(near.iter().copied())
            .map(|tag| (tag, true));
        let shown_tags = shown_tags
            .iter()
            .zip(shown.iter().map(|b| &b.detection))
            .map(|tag| (tag, false));
        marks::rings(&painter, placement, state);
        for ((tag, detection), near_miss) in near_tags.chain(shown_tags) {
            let at = |point: [f32; 2]| rect.min + Vec2::from(point);
            let tag_rect = Rect::from_min_size(at(tag.min), tag.size.into());
            let color = color32(detection.class_id);
            // A near miss reads the other way round: the class colour on a dark tag.
            let (fill, border, text) = if near_miss {
                (Color32::from_black_alpha(170), color, color)
            } else {
                let [r, g, b] = label_text_color(detection.class_id);
                (color, outline, Color32::from_rgb(r, g, b))
            };
            painter.rect_filled(tag_rect, 2.0, fill);
            painter.rect_stroke(tag_rect, 2.0, (1.0, border), StrokeKind::Outside);
            // Laid out again to draw: egui keeps this frame's galleys, so it is a look-up.
            painter.galley(at(tag.text_origin()), layout(tag.text.clone()), text);
        }
        for (tag, mark) in mark_tags.iter().zip(marks) {
            let tag_rect = Rect::from_min_size(rect.min + Vec2::from(tag.min), tag.size.into());
            let text = layout(tag.text.clone());
            marks::tag(
                &painter,
                tag_rect,
                rect.min + Vec2::from(tag.text_origin()),
                text,
                mark,
            );
        }
        marks::popups(ui.ctx(), placement, state);
        if state.presenting {
            let fps = format!("{:.0} fps", state.stats.inference.rate());
            let galley = painter.layout_no_wrap(fps, FontId::proportional(40.0), Color32::WHITE);
            let tag = Rect::from_min_size(
                rect.left_top() + Vec2::new(12.0, 12.0),
                galley.size() + Vec2::new(20.0, 8.0),
            );
            painter.rect_filled(tag, 6.0, Color32::from_black_alpha(160));
            painter.galley(tag.min + Vec2::new(10.0, 4.0), galley, Color32::WHITE);
        }
        if state.paused {
            let galley =
                painter.layout_no_wrap("PAUSED".into(), FontId::proportional(18.0), Color32::WHITE);
            let size = galley.size() + Vec2::new(16.0, 8.0);
            let tag = Rect::from_min_size(rect.right_top() + Vec2::new(-size.x - 8.0, 8.0), size);
            painter.rect_filled(tag, 4.0, Color32::from_black_alpha(180));
            painter.galley(tag.min + Vec2::new(8.0, 4.0), galley, Color32::WHITE);
        }
    });
}
