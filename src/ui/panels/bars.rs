//! The top bar (source, pause, the video's seek bar or the image list's previous and
//! next, snapshot, quit, and the banners of lasting states) and the status bar (live
//! numbers, and the latest notice or the keys).
//! A notice comes and goes in the status bar's own line, so nothing above it moves:
//! a click meant for a button never lands on the space a message pushed it from.

use super::{ERROR_COLOR, NEXT_IMAGE_KEYS, PREVIOUS_IMAGE_KEYS};
use crate::pipeline::{ImageCursor, Playback, SourceControl};
use crate::ui::command::Command;
use crate::ui::state::AppState;
use egui::{Color32, CornerRadius, RichText, Stroke};
use std::time::{Duration, Instant};

pub fn top_bar(
    ui: &mut egui::Ui,
    state: &mut AppState,
    control: Option<&SourceControl>,
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
            match control {
                Some(SourceControl::Video(playback)) => seek_bar(ui, playback),
                Some(SourceControl::Images(cursor)) if cursor.can_step() => {
                    image_steps(ui, cursor, commands);
                }
                _ => {}
            }
            if ui
                .button("Snapshot")
                .on_hover_text("S: save the frame with its boxes as PNG")
                .clicked()
            {
                commands.push(Command::Snapshot);
            }
            ui.label("to");
            // Shorter in a narrow window, so that Quit keeps its place.
            let field_width = (ui.available_width() - QUIT_ROOM).clamp(80.0, 260.0);
            ui.add(
                egui::TextEdit::singleline(&mut state.snapshot_dir)
                    .desired_width(field_width)
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
        ui.add_space(2.0);
    });
}

/// What the top bar keeps free at its right end for Quit.
const QUIT_ROOM: f32 = 60.0;

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

/// The keys, in the status bar while no notice is up.
const KEYS: &str = "Space pause · S snapshot · click a box, then Up/Down tune it · T tracks/raw · \
                    N near misses · Tab present · Q/Esc quit";
/// The keys while paused, when the frame can be marked.
const MARKING_KEYS: &str = "Paused: click a box to mark it right (R) or wrong (W) · drag to draw \
                            a missed one · Ctrl+Z undo · Space resume";

/// Added to the keys while several photos play.
const PHOTO_KEYS: &str = " · Page Up/Down another photo";

/// Narrower than this, the status bar puts the notice or the keys on a line of their
/// own under the live numbers (which take about 750 px), so they are never cut to
/// nothing. Decided by the width alone, so a notice coming or going moves nothing.
pub const STATUS_ONE_LINE_MIN_WIDTH: f32 = 1100.0;

/// `photos`: the source is several photos, stepped through with Page Up/Down.
pub fn status_bar(ui: &mut egui::Ui, state: &AppState, photos: bool) {
    egui::Panel::bottom("status_bar").show(ui, |ui| {
        ui.add_space(2.0);
        let text = match state.live_notice(Instant::now()) {
            Some(notice) if notice.is_error => RichText::new(&notice.text).color(ERROR_COLOR),
            Some(notice) => RichText::new(&notice.text).strong(),
            None => {
                let keys = if state.can_mark() { MARKING_KEYS } else { KEYS };
                let photo_keys = if photos { PHOTO_KEYS } else { "" };
                RichText::new(format!("{keys}{photo_keys}")).weak()
            }
        };
        // Cut short where it does not fit (the whole on hover).
        let message = egui::Label::new(text).truncate();
        if ui.available_width() < STATUS_ONE_LINE_MIN_WIDTH {
            // Wrapped: on a narrow window the numbers take two lines rather than lose
            // their end.
            ui.horizontal_wrapped(|ui| {
                state.stats.ui(ui);
                precision_label(ui, state);
            });
            ui.add(message);
        } else {
            ui.horizontal(|ui| {
                state.stats.ui(ui);
                precision_label(ui, state);
                ui.separator();
                ui.add(message);
            });
        }
    });
}

/// The arithmetic the network runs in (`--precision`).
fn precision_label(ui: &mut egui::Ui, state: &AppState) {
    ui.separator();
    ui.label(state.precision.to_string()).on_hover_text(
        "The arithmetic of the network's convolutions: int8 (a calibrated model, on a CPU \
         with VNNI) or fp32; --precision chooses",
    );
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

/// Previous and next image, and which image of how many is shown, with its file name.
fn image_steps(ui: &mut egui::Ui, cursor: &ImageCursor, commands: &mut Vec<Command>) {
    if ui
        .small_button("‹")
        .accessible_name("previous image")
        .on_hover_text(format!("Previous image ({PREVIOUS_IMAGE_KEYS})"))
        .clicked()
    {
        commands.push(Command::StepImage(-1));
    }
    if ui
        .small_button("›")
        .accessible_name("next image")
        .on_hover_text(format!("Next image ({NEXT_IMAGE_KEYS})"))
        .clicked()
    {
        commands.push(Command::StepImage(1));
    }
    if let Some((index, file)) = cursor.shown() {
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        ui.label(format!("{} / {}  {name}", index + 1, cursor.count()))
            .on_hover_text(file.display().to_string());
    }
}

/// `1:05` for 65 s.
fn clock(time: Duration) -> String {
    let seconds = time.as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}
