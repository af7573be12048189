//! Marking on screen: dragging out a missed object on the paused frame, the marks drawn
//! over it, the two small popups that take a verdict or a class, and the side panel's
//! marks section with *Suggest* and the per-class numbers beside the sliders.

use super::{color32, dashed_outline};
use crate::detect::tag_text;
use crate::model::Corners;
use crate::scene::{ClassSuggestion, Mark, Verdict};
use crate::ui::command::Command;
use crate::ui::state::AppState;
use egui::{Color32, Id, Order, Pos2, Rect, RichText, Stroke, StrokeKind, Vec2};

/// Smallest box (screen pixels a side) a drag draws: less is a slip of the hand.
const SMALLEST_DRAWN: f32 = 6.0;
const RIGHT_COLOR: Color32 = Color32::from_rgb(60, 200, 90);
const WRONG_COLOR: Color32 = Color32::from_rgb(235, 60, 60);
const MISSED_COLOR: Color32 = Color32::WHITE;

/// Where the picture lies on screen: its rectangle and its scale from frame pixels.
#[derive(Clone, Copy)]
pub struct Placement {
    pub rect: Rect,
    pub scale: f32,
}

impl Placement {
    pub fn to_frame(self, pos: Pos2) -> Vec2 {
        (pos - self.rect.min) / self.scale
    }

    fn to_screen(self, x: f32, y: f32) -> Pos2 {
        self.rect.min + Vec2::new(x, y) * self.scale
    }

    fn box_on_screen(self, b: &Corners) -> Rect {
        Rect::from_min_max(
            self.to_screen(b.x_min, b.y_min),
            self.to_screen(b.x_max, b.y_max),
        )
    }
}

/// A drag on the paused frame draws a box for a missed object; on release, its class is
/// asked for ([`popups`]).
pub fn drag_to_draw(
    ui: &egui::Ui,
    response: &egui::Response,
    placement: Placement,
    state: &mut AppState,
) {
    if !state.can_mark() {
        return;
    }
    let start_id = response.id.with("drag start");
    // From where the button went down: a drag is recognised only some pixels later.
    if response.drag_started()
        && let Some(origin) = ui.input(|input| input.pointer.press_origin())
    {
        ui.data_mut(|data| data.insert_temp(start_id, origin));
    }
    let Some(start) = ui.data(|data| data.get_temp::<Pos2>(start_id)) else {
        return;
    };
    let pointer = response.interact_pointer_pos().unwrap_or(start);
    let band = Rect::from_two_pos(start, pointer).intersect(placement.rect);
    if response.dragged() {
        let stroke = Stroke::new(1.5, MISSED_COLOR);
        ui.painter()
            .rect_stroke(band, 0.0, stroke, StrokeKind::Middle);
    }
    if response.drag_stopped() {
        ui.data_mut(|data| data.remove::<Pos2>(start_id));
        if band.width() >= SMALLEST_DRAWN && band.height() >= SMALLEST_DRAWN {
            let (min, max) = (placement.to_frame(band.min), placement.to_frame(band.max));
            state.marking.judging = None;
            state.marking.drawn = Some(Corners {
                x_min: min.x,
                y_min: min.y,
                x_max: max.x,
                y_max: max.y,
            });
        }
    }
}

/// The marks of the frame on screen as rings around their boxes in the verdict's colour
/// (dashed for a box drawn), and the box drawn that waits for its class.
pub fn rings(painter: &egui::Painter, placement: Placement, state: &AppState) {
    for mark in state.marks_on_screen() {
        let bbox = placement.box_on_screen(&mark.bbox).expand(3.0);
        let color = verdict_color(mark.verdict);
        if mark.verdict == Verdict::Missed {
            dashed(painter, bbox, color);
        } else {
            painter.rect_stroke(bbox, 0.0, Stroke::new(2.5, color), StrokeKind::Inside);
        }
    }
    if let Some(drawn) = &state.marking.drawn {
        dashed(painter, placement.box_on_screen(drawn), MISSED_COLOR);
    }
}

/// A mark's tag ([`mark_text`]), placed with the boxes' tags: dark text on the
/// verdict's colour.
pub fn tag(
    painter: &egui::Painter,
    tag: Rect,
    text_at: Pos2,
    text: std::sync::Arc<egui::Galley>,
    mark: &Mark,
) {
    painter.rect_filled(tag, 2.0, verdict_color(mark.verdict));
    painter.galley(text_at, text, Color32::BLACK);
}

/// The popups over the picture: the verdict for a box clicked, the class for a box drawn.
pub fn popups(ctx: &egui::Context, placement: Placement, state: &mut AppState) {
    if let Some((detection, [x, y])) = state.marking.judging.clone() {
        let at = placement.to_screen(x, y) + Vec2::new(10.0, 10.0);
        popup(ctx, "judge", at, |ui| {
            ui.label(RichText::new(tag_text(&detection)).strong());
            ui.horizontal(|ui| {
                if ui.button("Right (R)").clicked() {
                    state.judge(true);
                }
                if ui.button("Wrong (W)").clicked() {
                    state.judge(false);
                }
                if ui.button("Cancel").clicked() {
                    state.marking.judging = None;
                }
            });
        });
    }
    if let Some(drawn) = state.marking.drawn {
        let at = placement.to_screen(drawn.x_min, drawn.y_max) + Vec2::new(0.0, 8.0);
        popup(ctx, "missed class", at, |ui| {
            ui.label(RichText::new("Missed object: its class?").strong());
            egui::Grid::new("missed classes")
                .num_columns(4)
                .show(ui, |ui| {
                    for id in 1..state.class_names.len() {
                        let name = state.class_names[id].clone();
                        let chip = RichText::new(&name).color(color32(id));
                        if ui.small_button(chip).clicked() {
                            state.draw_missed(id);
                        }
                        if id % 4 == 0 {
                            ui.end_row();
                        }
                    }
                });
            if ui.button("Cancel").clicked() {
                state.marking.drawn = None;
            }
        });
    }
}

/// The side panel's marks section: the folder, the counts, undo, *Suggest* and *Apply*.
pub fn marks_section(ui: &mut egui::Ui, state: &mut AppState, commands: &mut Vec<Command>) {
    let (marks, frames) = state.marking.counts();
    let header = match marks {
        0 => "Your marks".to_owned(),
        marks => format!("Your marks: {marks} on {frames} frame{}", plural(frames)),
    };
    // Closed at first, for the sliders' room; the status bar says how to mark.
    egui::CollapsingHeader::new(header)
        .id_salt("marks")
        .default_open(false)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label("Folder");
                ui.add(
                    egui::TextEdit::singleline(&mut state.marking.dir)
                        .desired_width(f32::INFINITY)
                        .hint_text("where marks are kept"),
                )
                .accessible_name("marks folder")
                .on_hover_text(
                    "Marked frames are saved here as a VOC data set (tinyssd tune and eval \
                     read it) and continued in later runs",
                );
            });
            if marks == 0 {
                let hint = "Pause (Space), click a box: right (R) or wrong (W); drag to draw a \
                            missed one. Then Suggest.";
                ui.label(RichText::new(hint).small());
            }
            ui.horizontal(|ui| {
                let undo = ui.add_enabled(state.marking.can_undo(), egui::Button::new("Undo"));
                if undo
                    .on_hover_text("Take back the last mark (Ctrl+Z)")
                    .clicked()
                {
                    commands.push(Command::UndoMark);
                }
                if ui
                    .button("Suggest")
                    .on_hover_text("Thresholds from the marks, by tinyssd tune's rule")
                    .clicked()
                {
                    state.suggest_thresholds();
                }
                let can_apply = state
                    .marking
                    .suggestions
                    .iter()
                    .flatten()
                    .any(|s| s.suggested.is_some());
                let apply = ui.add_enabled(can_apply, egui::Button::new("Apply"));
                if apply
                    .on_hover_text("Move the classes with a suggestion to it")
                    .clicked()
                {
                    state.apply_suggestions();
                }
                let undo_apply = ui.add_enabled(
                    state.marking.can_undo_apply(),
                    egui::Button::new("Undo apply"),
                );
                if undo_apply.clicked() {
                    state.undo_apply();
                }
            });
            ui.horizontal(|ui| {
                let goal = ui
                    .checkbox(&mut state.marking.precision_goal, "Precision at least")
                    .on_hover_text(
                        "Suggest the lowest threshold reaching this precision on the marks \
                         (off: the best F1)",
                    );
                let target = ui
                    .add_enabled(
                        state.marking.precision_goal,
                        egui::DragValue::new(&mut state.marking.target_precision)
                            .range(0.0..=1.0)
                            .speed(0.01)
                            .fixed_decimals(2),
                    )
                    .accessible_name("target precision");
                if goal.changed() || target.changed() {
                    state.refresh_suggestions();
                }
            });
        });
}

/// Beside a class's slider after *Suggest*: precision / recall on its marks now, and at
/// the suggested threshold; or how many more marks it needs.
pub fn suggestion_line(ui: &mut egui::Ui, suggestion: &ClassSuggestion) {
    let (precision, recall) = suggestion.now;
    let (text, hover) = match &suggestion.suggested {
        Some(tuned) => (
            format!(
                "{precision:.2}/{recall:.2} -> {:.3}: {:.2}/{:.2}",
                tuned.threshold, tuned.precision, tuned.recall
            ),
            format!(
                "Precision/recall on the class's {} marks at its threshold now, and at the \
                 suggested one. {}",
                suggestion.marks,
                tuned.outcome.note()
            ),
        ),
        None => (
            format!(
                "{} mark{}, {} more needed",
                suggestion.marks,
                plural(suggestion.marks),
                suggestion.marks_needed()
            ),
            format!("Precision/recall on the marks now: {precision:.2}/{recall:.2}"),
        ),
    };
    ui.label(RichText::new(text).small()).on_hover_text(hover);
}

fn verdict_color(verdict: Verdict) -> Color32 {
    match verdict {
        Verdict::Right => RIGHT_COLOR,
        Verdict::Wrong => WRONG_COLOR,
        Verdict::Missed => MISSED_COLOR,
    }
}

/// "right: person 0.62", "missed: chair 0.00".
pub fn mark_text(mark: &Mark, class_names: &[String]) -> String {
    let verdict = match mark.verdict {
        Verdict::Right => "right",
        Verdict::Wrong => "wrong",
        Verdict::Missed => "missed",
    };
    let name = class_names.get(mark.class_id).map_or("?", String::as_str);
    format!("{verdict}: {name} {:.2}", mark.score)
}

fn dashed(painter: &egui::Painter, bbox: Rect, color: Color32) {
    dashed_outline(painter, bbox, Stroke::new(2.0, color));
}

fn popup(ctx: &egui::Context, name: &str, at: Pos2, content: impl FnOnce(&mut egui::Ui)) {
    egui::Area::new(Id::unique(name))
        .order(Order::Foreground)
        .fixed_pos(at)
        .constrain(true)
        .show(ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, content);
        });
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
