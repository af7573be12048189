//! The drawing: the top and status bars ([`bars`]: controls, messages, live numbers),
//! the side panel ([`side`]: sources, sliders with their score strips, profiles), the
//! picture with its overlay ([`picture`]) and marking on it ([`marks`]), plus the
//! keyboard shortcuts. Each
//! function reads or edits [`AppState`](crate::ui::AppState) and returns [`Command`]s.

mod bars;
mod marks;
mod picture;
mod side;

pub use bars::{status_bar, top_bar};
pub use picture::video;
pub use side::side_panel;

use super::command::Command;
use super::state::AppState;
use crate::detect::class_color;
use egui::{Color32, Key, Modifiers};

/// The side panel starts at this fraction of the window's width, between
/// [`SIDE_PANEL_MIN_WIDTH`] and [`SIDE_PANEL_MAX_WIDTH`]: at 800 px wide it leaves the
/// picture 480 px, at 1280 the class table has all its columns.
pub const SIDE_PANEL_FRACTION: f32 = 0.4;
/// The narrowest the side panel gets (dragging its edge): the Open buttons still fit.
pub const SIDE_PANEL_MIN_WIDTH: f32 = 260.0;
/// The widest the side panel starts: the class table needs no more.
pub const SIDE_PANEL_MAX_WIDTH: f32 = 480.0;

/// The side panel's width when it starts (or when no width was kept) in a window this wide.
pub fn side_panel_default_width(window_width: f32) -> f32 {
    (window_width * SIDE_PANEL_FRACTION).clamp(SIDE_PANEL_MIN_WIDTH, SIDE_PANEL_MAX_WIDTH)
}
/// The camera picker's hover text when the list is simply empty.
const NO_CAMERA: &str = "No camera found.";
pub(super) const ERROR_COLOR: Color32 = Color32::from_rgb(230, 80, 70);

/// Files dropped on the window this frame, as the command that plays them.
pub fn dropped_files(ui: &egui::Ui) -> Option<Command> {
    let paths: Vec<std::path::PathBuf> = ui.input(|input| {
        input
            .raw
            .dropped_files
            .iter()
            .map(|file| file.path().to_path_buf())
            .collect()
    });
    (!paths.is_empty()).then_some(Command::Open(paths))
}

/// While files are dragged over the window, what dropping them does, over everything.
pub fn drop_hint(ctx: &egui::Context) {
    if ctx.input(|input| input.raw.hovered_files.is_empty()) {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop hint"),
    ));
    let screen = ctx.content_rect();
    painter.rect_filled(screen, 0.0, Color32::from_black_alpha(170));
    painter.text(
        screen.center(),
        egui::Align2::CENTER_CENTER,
        "Drop to play a photo, several photos, a folder of photos or a video, \
         or to use a .safetensors model",
        egui::FontId::proportional(22.0),
        Color32::WHITE,
    );
}

/// A box's outline, dashed (near misses, boxes drawn by the user).
pub(super) fn dashed_outline(painter: &egui::Painter, bbox: egui::Rect, stroke: egui::Stroke) {
    let outline = [
        bbox.left_top(),
        bbox.right_top(),
        bbox.right_bottom(),
        bbox.left_bottom(),
        bbox.left_top(),
    ];
    painter.extend(egui::Shape::dashed_line(&outline, stroke, 6.0, 4.0));
}

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

/// The keys that step through an image list, and by how many images: Page Down/Up
/// always, the arrows after them only while they tune no class and no widget (a
/// slider) has the focus.
const STEP_KEYS: [(Key, isize); 4] = [
    (Key::PageDown, 1),
    (Key::PageUp, -1),
    (Key::ArrowRight, 1),
    (Key::ArrowLeft, -1),
];
/// The step keys, for hover texts.
const NEXT_IMAGE_KEYS: &str = "Page Down, or Right";
const PREVIOUS_IMAGE_KEYS: &str = "Page Up, or Left";

/// Space pauses, S saves a snapshot, Q or Esc quits, Tab presents, F11 goes full
/// screen, N shows near misses, T switches between tracks and raw detections, with a
/// class selected Up/Down/+/- tune it, R and W mark the box clicked on a paused frame
/// right or wrong, Ctrl+Z takes back the last mark, and with `steps_images` (the source
/// is several images) Page Down/Up and Right/Left show the next or previous image; not
/// while typing in a field. Runs before any widget so a focused button does not also
/// take the space bar.
pub fn shortcuts(ui: &mut egui::Ui, state: &AppState, steps_images: bool) -> Vec<Command> {
    if ui.ctx().text_edit_focused() {
        return Vec::new();
    }
    let class_selected = state.selected_class.is_some();
    let judging = state.marking.judging.is_some();
    let widget_focused = ui.ctx().memory(|memory| memory.focused().is_some());
    let step_keys = match (steps_images, class_selected || widget_focused) {
        (false, _) => &[][..],
        (true, true) => &STEP_KEYS[..2],
        (true, false) => &STEP_KEYS[..],
    };
    ui.input_mut(|input| {
        let mut commands = Vec::new();
        if input.consume_key(Modifiers::COMMAND, Key::Z) {
            commands.push(Command::UndoMark);
        }
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
        if pressed(Key::T) {
            commands.push(Command::ToggleTracks);
        }
        if judging && pressed(Key::R) {
            commands.push(Command::Judge(true));
        }
        if judging && pressed(Key::W) {
            commands.push(Command::Judge(false));
        }
        for &(key, steps) in step_keys {
            if input.consume_key(Modifiers::NONE, key) {
                commands.push(Command::StepImage(steps));
            }
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
