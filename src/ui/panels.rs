//! The drawing: the top bar (controls, messages), the status bar (live numbers),
//! the side panel (sources, sliders, profiles) and the video with its overlay.
//! Each function reads or edits [`AppState`] and returns [`Command`]s.

use super::command::Command;
use super::state::{AppState, NEAR_MISS_BAND, SCORE_BINS, SCORE_WINDOW, bin_start};
use crate::detect::{class_color, label_tag, label_text_color};
use crate::pipeline::Playback;
use egui::{
    Color32, CornerRadius, FontId, Key, Modifiers, Pos2, Rect, RichText, Sense, Stroke, StrokeKind,
    TextureHandle, Vec2,
};
use std::time::{Duration, Instant};

/// Widest the side panel starts.
pub const SIDE_PANEL_WIDTH: f32 = 330.0;
/// The camera note when the list is simply empty.
pub const NO_CAMERA: &str = "No camera found.";
const ERROR_COLOR: Color32 = Color32::from_rgb(230, 80, 70);
/// Padding of the tags on screen, around egui's text measure (which includes the
/// line spacing).
const SCREEN_TAG_PADDING: [f32; 2] = [6.0, 2.0];

pub fn color32(class_id: usize) -> Color32 {
    let [r, g, b] = class_color(class_id);
    Color32::from_rgb(r, g, b)
}

/// The keys that nudge the selected class's threshold, and by how many steps.
const NUDGE_KEYS: [(Key, i32); 5] = [
    (Key::ArrowUp, 1),
    (Key::Plus, 1),
    (Key::Equals, 1),
    (Key::ArrowDown, -1),
    (Key::Minus, -1),
];

/// Space pauses, S saves a snapshot, Q or Esc quits, Tab presents, F11 goes full
/// screen, N shows near misses, and with a class selected Up/Down/+/- tune it; not
/// while typing in a field. Runs before any widget so a focused button does not also
/// take the space bar.
pub fn shortcuts(ui: &mut egui::Ui, class_selected: bool) -> Vec<Command> {
    if ui.ctx().text_edit_focused() {
        return Vec::new();
    }
    ui.input_mut(|input| {
        let mut commands = Vec::new();
        let mut pressed = |key| input.consume_key(Modifiers::NONE, key);
        if pressed(Key::Space) {
            commands.push(Command::TogglePause);
        }
        if pressed(Key::S) {
            commands.push(Command::Snapshot);
        }
        if pressed(Key::Q) | pressed(Key::Escape) {
            commands.push(Command::Quit);
        }
        if pressed(Key::Tab) {
            commands.push(Command::TogglePresenting);
        }
        if pressed(Key::F11) {
            commands.push(Command::ToggleFullscreen);
        }
        if pressed(Key::N) {
            commands.push(Command::ToggleNearMisses);
        }
        // The selected class's threshold: Up/+ raise it, Down/- lower it; Shift by 5.
        // Without a selection the keys are left to the widgets.
        let nudges = if class_selected { &NUDGE_KEYS[..] } else { &[] };
        for &(key, step) in nudges {
            // Shift first: a pattern without it matches a press with it too. (Only
            // the arrows: "+" is itself typed with Shift on many keyboards.)
            let arrow = matches!(key, Key::ArrowUp | Key::ArrowDown);
            if arrow && input.consume_key(Modifiers::SHIFT, key) {
                commands.push(Command::NudgeThreshold(step * 5));
            }
            if input.consume_key(Modifiers::NONE, key) {
                commands.push(Command::NudgeThreshold(step));
            }
        }
        commands
    })
}

pub fn top_bar(
    ui: &mut egui::Ui,
    state: &mut AppState,
    playback: Option<&Playback>,
    commands: &mut Vec<Command>,
) {
    egui::Panel::top("top_bar").show(ui, |ui| {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.heading("tinyssd");
            ui.separator();
            ui.label(RichText::new(&state.source.name).strong())
                .on_hover_text(&state.source.description);
            ui.separator();
            let pause = if state.paused { "Resume" } else { "Pause" };
            if ui.button(pause).on_hover_text("Space").clicked() {
                commands.push(Command::TogglePause);
            }
            if let Some(playback) = playback {
                seek_bar(ui, playback);
            }
            if ui
                .button("Snapshot")
                .on_hover_text("S: save the frame with its boxes as PNG")
                .clicked()
            {
                commands.push(Command::Snapshot);
            }
            ui.label("to");
            ui.add(
                egui::TextEdit::singleline(&mut state.snapshot_dir)
                    .desired_width(260.0)
                    .hint_text("snapshot folder"),
            )
            .accessible_name("snapshot folder");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("Quit").on_hover_text("Q or Esc").clicked() {
                    commands.push(Command::Quit);
                }
            });
        });
        if let Some(error) = &state.source.error {
            banner(ui, ERROR_COLOR, error);
        }
        if let Some(stall) = state.stall_note(Instant::now()) {
            banner(ui, Color32::from_rgb(220, 160, 40), &stall);
        }
        if let Some(note) = &state.source.note {
            banner(ui, Color32::from_rgb(90, 150, 220), note);
        }
        if let Some(notice) = state.live_notice(Instant::now()) {
            let color = if notice.is_error {
                ERROR_COLOR
            } else {
                ui.visuals().text_color()
            };
            ui.colored_label(color, &notice.text);
        }
        ui.add_space(2.0);
    });
}

fn banner(ui: &mut egui::Ui, color: Color32, text: &str) {
    egui::Frame::new()
        .fill(color.gamma_multiply(0.25))
        .stroke(Stroke::new(1.0, color))
        .corner_radius(CornerRadius::same(4))
        .inner_margin(6.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(text).color(ui.visuals().strong_text_color()));
        });
}

pub fn status_bar(ui: &mut egui::Ui, state: &AppState) {
    egui::Panel::bottom("status_bar").show(ui, |ui| {
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            state.stats.ui(ui);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(
                    RichText::new(
                        "Space pause · S snapshot · N near misses · Tab present · Q/Esc quit",
                    )
                    .weak(),
                );
            });
        });
    });
}

pub fn side_panel(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    egui::Panel::left("controls")
        .default_size(SIDE_PANEL_WIDTH)
        .resizable(true)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                ui.add_space(4.0);
                source_section(ui, state, commands);
                ui.separator();
                ui.scope(|ui| threshold_section(ui, state));
                ui.separator();
                profile_section(ui, state, commands);
            });
        });
}

fn source_section(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let has_cameras = !state.source.cameras.is_empty();
        let label = ui.label("Camera");
        let picker = ui.add_enabled_ui(has_cameras, |ui| {
            egui::ComboBox::from_id_salt("camera")
                .selected_text(if has_cameras {
                    "choose…"
                } else {
                    "none found"
                })
                .width(110.0)
                .show_ui(ui, |ui| {
                    for camera in &state.source.cameras {
                        let label = format!("{}: {}", camera.index, camera.name);
                        if ui.selectable_label(false, label).clicked() {
                            commands.push(Command::UseCamera(camera.index));
                        }
                    }
                })
                .response
                .labelled_by(label.id)
        });
        if let Some(note) = &state.source.camera_note {
            picker.inner.on_disabled_hover_text(note);
        }
        if ui
            .button("Refresh")
            .on_hover_text("List the cameras again")
            .clicked()
        {
            commands.push(Command::RefreshCameras);
        }
        if ui
            .button("Demo")
            .on_hover_text("The built-in demo")
            .clicked()
        {
            commands.push(Command::UseDemo);
        }
    });
    // A failure to list the cameras is worth a line; "none found" says the rest.
    if let Some(note) = state
        .source
        .camera_note
        .as_ref()
        .filter(|_| state.source.cameras.is_empty())
        && note != NO_CAMERA
    {
        ui.label(RichText::new(note).weak());
    }
}

fn threshold_section(ui: &mut egui::Ui, state: &mut AppState) {
    ui.spacing_mut().slider_width = 130.0;
    egui::Grid::new("global_sliders")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("All classes");
            let mut all = state.all_threshold;
            let response = ui
                .add(egui::Slider::new(&mut all, 0.0..=1.0).fixed_decimals(2))
                .accessible_name("all classes threshold")
                .on_hover_text("Moves every class's threshold together");
            if response.changed() {
                state.set_all_thresholds(all);
            }
            ui.end_row();
            ui.label("NMS IoU");
            ui.add(egui::Slider::new(&mut state.nms_iou, 0.05..=1.0).fixed_decimals(2))
                .accessible_name("NMS IoU")
                .on_hover_text(
                    "Boxes of one class overlapping a better one more than this are merged",
                );
            ui.end_row();
        });
    ui.checkbox(&mut state.show_near_misses, "Near misses")
        .on_hover_text(format!(
            "Draw the boxes up to {NEAR_MISS_BAND:.2} below their class's threshold, dashed, \
             with their score (N)"
        ));
    ui.add_space(4.0);
    let counts = state.counts();
    let now = Instant::now();
    ui.spacing_mut().item_spacing.y = 1.0;
    ui.spacing_mut().interact_size.y = 18.0;
    egui::Grid::new("classes")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for id in 1..state.class_names.len() {
                let name = state.class_names[id].clone();
                let selected = state.selected_class == Some(id);
                let row = ui.horizontal(|ui| {
                    let (swatch, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
                    ui.painter().rect_filled(swatch, 2.0, color32(id));
                    let label = if selected {
                        RichText::new(&name).strong().underline()
                    } else {
                        RichText::new(&name)
                    };
                    ui.checkbox(&mut state.shown[id], label)
                        .on_hover_text(format!("Show {name} boxes"));
                });
                if selected && state.scroll_to_selected {
                    row.response.scroll_to_me(Some(egui::Align::Center));
                    state.scroll_to_selected = false;
                }
                let slider = ui
                    .add(egui::Slider::new(&mut state.thresholds[id], 0.0..=1.0).fixed_decimals(2))
                    .accessible_name(format!("{name} threshold"));
                if selected {
                    slider.highlight();
                }
                score_strip(
                    ui,
                    &state.scores.histogram(id, now),
                    state.thresholds[id],
                    id,
                )
                .on_hover_text(format!(
                    "{name}: where the scores of its candidates fell in the last {} s; \
                         coloured above the threshold",
                    SCORE_WINDOW.as_secs()
                ));
                let count = counts.get(id).copied().unwrap_or(0);
                let text = RichText::new(count.to_string()).monospace();
                ui.label(if count == 0 || !state.shown[id] {
                    text.weak()
                } else {
                    text.strong()
                })
                .accessible_name(format!("{name} count"));
                ui.end_row();
            }
        });
}

/// A video's position as a slider: dragging it (or clicking on it) seeks, on release.
fn seek_bar(ui: &mut egui::Ui, playback: &Playback) {
    let Some(duration) = playback.duration() else {
        ui.label(clock(playback.position()));
        return;
    };
    let total = duration.as_secs_f32();
    let mut at = playback.position().as_secs_f32().min(total);
    let id = ui.scope_id().with("video seek");
    // While dragging, the slider shows where the pointer is, not where the video is.
    if let Some(dragged) = ui.data(|d| d.get_temp::<f32>(id)) {
        at = dragged;
    }
    ui.spacing_mut().slider_width = 180.0;
    let response = ui
        .add(egui::Slider::new(&mut at, 0.0..=total).show_value(false))
        .accessible_name("video position")
        .on_hover_text("Drag or click to seek");
    if response.dragged() {
        ui.data_mut(|d| d.insert_temp(id, at));
    }
    if response.drag_stopped() || (response.changed() && !response.dragged()) {
        ui.data_mut(|d| d.remove::<f32>(id));
        playback.seek(Duration::from_secs_f32(at));
    }
    ui.label(format!(
        "{} / {}",
        clock(Duration::from_secs_f32(at)),
        clock(duration)
    ));
}

/// `1:05` for 65 s.
fn clock(time: Duration) -> String {
    let seconds = time.as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// A small histogram of one class's recent candidate scores (0 at the left, 1 at the
/// right), the bins at or above `threshold` in the class colour, the rest grey, and the
/// threshold as a line across.
fn score_strip(
    ui: &mut egui::Ui,
    bins: &[u32; SCORE_BINS],
    threshold: f32,
    class_id: usize,
) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(60.0, 16.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 1.0, ui.visuals().extreme_bg_color);
    let tallest = bins.iter().copied().max().unwrap_or(0).max(1) as f32;
    let width = rect.width() / SCORE_BINS as f32;
    for (bin, &count) in bins.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let height = (rect.height() - 2.0) * (count as f32 / tallest).sqrt();
        let left = rect.left() + bin as f32 * width;
        let bar = Rect::from_min_max(
            Pos2::new(left, rect.bottom() - height.max(1.0)),
            Pos2::new(left + width - 0.5, rect.bottom()),
        );
        let color = if bin_start(bin) + 0.5 / SCORE_BINS as f32 >= threshold {
            color32(class_id)
        } else {
            Color32::GRAY
        };
        painter.rect_filled(bar, 0.0, color);
    }
    let x = rect.left() + rect.width() * threshold.clamp(0.0, 1.0);
    painter.line_segment(
        [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
        Stroke::new(1.0, ui.visuals().strong_text_color()),
    );
    response
}

fn profile_section(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    ui.label("Threshold profile (JSON)");
    ui.add(egui::TextEdit::singleline(&mut state.profile_path).desired_width(f32::INFINITY))
        .accessible_name("profile file");
    ui.horizontal(|ui| {
        if ui.button("Save").clicked() {
            commands.push(Command::SaveProfile);
        }
        if ui.button("Load").clicked() {
            commands.push(Command::LoadProfile);
        }
        if ui
            .button("Defaults")
            .on_hover_text("The model's suggested thresholds")
            .clicked()
        {
            commands.push(Command::ResetDefaults);
        }
    });
}

/// The newest frame, fitted to the panel, with the visible boxes drawn over it.
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
        let response = ui
            .allocate_rect(rect, Sense::click())
            .on_hover_text("Click a box to pick its class: Up/Down then tune it");
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "video"));
        if response.clicked()
            && let Some(pointer) = response.interact_pointer_pos()
        {
            let at = (pointer - rect.min) / scale;
            state.select_at(at.x, at.y);
        }
        let painter = ui.painter_at(rect);
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        painter.image(texture.id(), rect, uv, Color32::WHITE);
        let font = FontId::proportional(14.0);
        for detection in state.visible_detections() {
            let color = color32(detection.class_id);
            let b = &detection.bbox;
            let to_screen = |x: f32, y: f32| rect.min + Vec2::new(x, y) * scale;
            let bbox = Rect::from_min_max(to_screen(b.x_min, b.y_min), to_screen(b.x_max, b.y_max));
            painter.rect_stroke(bbox, 0.0, Stroke::new(2.0, color), StrokeKind::Inside);
            let [r, g, b] = label_text_color(detection.class_id);
            let text_color = Color32::from_rgb(r, g, b);
            let layout = |text: String| painter.layout_no_wrap(text, font.clone(), text_color);
            let corner = bbox.min - rect.min;
            let tag = label_tag(detection, corner.into(), SCREEN_TAG_PADDING, |text| {
                layout(text.to_owned()).size().into()
            });
            let at = |point: [f32; 2]| rect.min + Vec2::from(point);
            let tag_rect = Rect::from_min_size(at(tag.min), tag.size.into());
            painter.rect_filled(tag_rect, 2.0, color);
            // Laid out again to draw: egui keeps this frame's galleys, so it is a look-up.
            painter.galley(at(tag.text_origin()), layout(tag.text), text_color);
        }
        if state.show_near_misses {
            let small = FontId::proportional(12.0);
            for detection in state.near_misses() {
                let color = color32(detection.class_id);
                let b = &detection.bbox;
                let to_screen = |x: f32, y: f32| rect.min + Vec2::new(x, y) * scale;
                let bbox =
                    Rect::from_min_max(to_screen(b.x_min, b.y_min), to_screen(b.x_max, b.y_max));
                let outline = [
                    bbox.left_top(),
                    bbox.right_top(),
                    bbox.right_bottom(),
                    bbox.left_bottom(),
                    bbox.left_top(),
                ];
                painter.extend(egui::Shape::dashed_line(
                    &outline,
                    Stroke::new(1.5, color),
                    6.0,
                    4.0,
                ));
                // The score on a small tag inside the corner, lighter than a shown box's.
                let [r, g, b] = label_text_color(detection.class_id);
                let text = Color32::from_rgb(r, g, b);
                let galley =
                    painter.layout_no_wrap(format!("{:.2}", detection.score), small.clone(), text);
                let tag = Rect::from_min_size(bbox.left_top(), galley.size() + Vec2::new(6.0, 2.0));
                painter.rect_filled(tag, 2.0, color.gamma_multiply(0.75));
                painter.galley(tag.min + Vec2::new(3.0, 1.0), galley, text);
            }
        }
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
