//! The side panel: the source picker, the marks ([`super::marks`]), tracks or raw boxes,
//! the sliders with their score strips and counts, and the threshold profile file.

use super::marks::{marks_section, suggestion_line};
use super::{NO_CAMERA, SIDE_PANEL_MIN_WIDTH, color32, side_panel_default_width};
use crate::detect::DetectConfig;
use crate::pipeline::CameraEntry;
use crate::ui::command::Command;
use crate::ui::dialog::OpenKind;
use crate::ui::state::{
    AppState, NEAR_MISS_BAND, SCORE_BINS, SCORE_WINDOW, THRESHOLD_DECIMALS, bin_start, typed_path,
};
use egui::{Color32, Pos2, Rect, RichText, Sense, SliderClamping, Stroke, Vec2};
use std::time::Instant;

/// The length of the All classes and NMS sliders, and the longest a class's gets.
const GLOBAL_SLIDER_WIDTH: f32 = 130.0;
/// The shortest a class's threshold slider gets in a narrow panel.
const SHORTEST_CLASS_SLIDER: f32 = 60.0;
/// About what the class table's other columns (name, value, strip, counts) take.
const CLASS_TABLE_BESIDE_SLIDERS: f32 = 335.0;

pub fn side_panel(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    let window_width = ui.available_width();
    egui::Panel::left("controls")
        .default_size(side_panel_default_width(window_width))
        .size_range(SIDE_PANEL_MIN_WIDTH..=(window_width / 2.0).max(SIDE_PANEL_MIN_WIDTH))
        .resizable(true)
        .show(ui, |ui| {
            // The profile's Save, Load and Defaults stay in reach at the panel's foot,
            // however small the window; the class list scrolls above them.
            egui::Panel::bottom("profile").show(ui, |ui| {
                ui.add_space(4.0);
                one_class_toggle(ui, state);
                ui.separator();
                profile_section(ui, state, commands);
                ui.add_space(4.0);
            });
            // Sideways too: in a narrow panel the class table's right columns (the
            // counts) scroll into view rather than widen the panel over the picture.
            let room = ui.available_width();
            egui::ScrollArea::both().show(ui, |ui| {
                ui.set_max_width(room);
                ui.add_space(4.0);
                source_section(ui, state, commands);
                ui.separator();
                marks_section(ui, state, commands);
                ui.separator();
                ui.scope(|ui| threshold_section(ui, state, room));
            });
        });
}

fn source_section(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let has_cameras = !state.source.cameras.is_empty();
        let entry = |camera: &CameraEntry| format!("{}: {}", camera.index, camera.name);
        let shown = state
            .source
            .cameras
            .iter()
            .find(|camera| Some(camera.index) == state.source.camera);
        let label = ui.label("Camera");
        let picker = ui.add_enabled_ui(has_cameras, |ui| {
            egui::ComboBox::from_id_salt("camera")
                .selected_text(match shown {
                    Some(camera) => entry(camera),
                    None if has_cameras => "choose…".to_string(),
                    None => "none found".to_string(),
                })
                .width(110.0)
                .show_ui(ui, |ui| {
                    for camera in &state.source.cameras {
                        let selected = Some(camera.index) == state.source.camera;
                        if ui.selectable_label(selected, entry(camera)).clicked() {
                            commands.push(Command::UseCamera(camera.index));
                        }
                    }
                })
                .response
                .labelled_by(label.id)
        });
        let listing_failed = state.source.camera_list_error.as_deref();
        picker
            .inner
            .on_disabled_hover_text(listing_failed.unwrap_or(NO_CAMERA));
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
    ui.horizontal(|ui| {
        let field = egui::TextEdit::singleline(&mut state.open_path)
            .desired_width(ui.available_width() - 52.0)
            .hint_text("photo, folder, video or .safetensors model (or drop it)");
        let typed = ui.add(field).accessible_name("file or folder to play");
        let entered = typed.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Play").clicked() || entered) && !state.open_path.trim().is_empty() {
            commands.push(Command::Open(vec![typed_path(&state.open_path)]));
        }
    });
    ui.horizontal_wrapped(|ui| {
        for kind in OpenKind::ALL {
            if ui
                .button(kind.button())
                .on_hover_text(kind.title())
                .clicked()
            {
                commands.push(Command::Browse(kind));
            }
        }
    });
    // A failure to list the cameras is worth a line; "none found" says the rest.
    if let Some(error) = &state.source.camera_list_error {
        ui.label(RichText::new(error).weak());
    }
}

/// `room`: the panel's width; the class sliders shrink to fit it, down to a usable
/// length.
fn threshold_section(ui: &mut egui::Ui, state: &mut AppState, room: f32) {
    ui.spacing_mut().slider_width = GLOBAL_SLIDER_WIDTH;
    egui::Grid::new("global_sliders")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("All classes");
            let common = state.common_threshold();
            let mut all = common.unwrap_or_else(|| state.mean_threshold());
            let mut slider = threshold_slider(&mut all);
            if common.is_none() {
                slider = slider.custom_formatter(|_, _| "mixed".to_owned());
            }
            let response = ui
                .add(slider)
                .accessible_name("all classes threshold")
                .on_hover_text(if common.is_some() {
                    "Moves every class's threshold together"
                } else {
                    "Mixed: the classes have thresholds of their own (the model suggests one \
                     per class); moving this gives them all one"
                });
            // Only a move by the user changes the classes: the slider never writes on
            // its own.
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
    ui.horizontal(|ui| {
        ui.checkbox(&mut state.show_tracks, "Tracks").on_hover_text(
            "Boxes are objects followed over frames, steady and with their track score; \
             off: each frame's raw detections, for tuning (T)",
        );
        ui.add_enabled(
            state.show_tracks,
            egui::Checkbox::new(&mut state.show_track_ids, "IDs"),
        )
        .on_hover_text("Each track's number on its tag");
        if ui
            .button("Reset counts")
            .on_hover_text("Start counting the distinct objects seen (the right column) again")
            .clicked()
        {
            state.reset_seen();
        }
    });
    ui.add_space(4.0);
    let counts = state.counts();
    let now = Instant::now();
    ui.spacing_mut().item_spacing.y = 1.0;
    ui.spacing_mut().interact_size.y = 18.0;
    ui.spacing_mut().slider_width =
        (room - CLASS_TABLE_BESIDE_SLIDERS).clamp(SHORTEST_CLASS_SLIDER, GLOBAL_SLIDER_WIDTH);
    egui::Grid::new("classes")
        .num_columns(5)
        .striped(true)
        .show(ui, |ui| {
            let strip = format!("last {} s", SCORE_WINDOW.as_secs());
            for heading in ["class", "threshold", strip.as_str(), "in view", "seen"] {
                ui.label(RichText::new(heading).small().weak());
            }
            ui.end_row();
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
                    .add(threshold_slider(&mut state.thresholds[id]))
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
                .accessible_name(format!("{name} count"))
                .on_hover_text(format!("{name}: objects in view"));
                let seen = state.seen(id);
                ui.label(RichText::new(seen.to_string()).monospace().weak())
                    .accessible_name(format!("{name} seen"))
                    .on_hover_text(format!(
                        "{name}: distinct objects seen since the counts were reset"
                    ));
                ui.end_row();
                let suggestion = state
                    .marking
                    .suggestions
                    .iter()
                    .flatten()
                    .find(|s| s.class_id == id);
                if let Some(suggestion) = suggestion {
                    ui.label("");
                    suggestion_line(ui, suggestion);
                    ui.end_row();
                }
            }
        });
}

/// A threshold slider that changes its value only when the user moves it: egui's
/// default clamping would round the value to the decimals shown on every frame, turning
/// the model's 0.507 into 0.51 before anyone touched it.
fn threshold_slider(value: &mut f32) -> egui::Slider<'_> {
    egui::Slider::new(value, 0.0..=1.0)
        .fixed_decimals(THRESHOLD_DECIMALS)
        .clamping(SliderClamping::Edits)
}

/// The class-agnostic suppression, on or off.
fn one_class_toggle(ui: &mut egui::Ui, state: &mut AppState) {
    let iou = state
        .defaults
        .cross_class_iou
        .unwrap_or(DetectConfig::DEFAULT_CROSS_CLASS_IOU);
    ui.checkbox(&mut state.one_class_per_object, "One class per object")
        .on_hover_text(format!(
            "Of boxes of different classes on one object (IoU above {iou:.2}), show and \
             count only the best"
        ));
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
