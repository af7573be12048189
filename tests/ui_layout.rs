//! The window small and large (issue 26), headless with egui_kittest: at 800x500 the
//! side panel leaves the picture most of the width, every button is inside the window
//! and clear of the status bar, and the status bar gives the keys a line of their own
//! rather than cutting them to nothing; at 1280x800 the keys share the live numbers'
//! line and the class table has all its columns.

mod common;

use egui::{Pos2, Rect};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tinyssd::detect::DetectConfig;
use tinyssd::ui::{App, AppState, SIDE_PANEL_MAX_WIDTH, SettingsStore, side_panel_default_width};

/// The buttons that must be in reach however small the window.
const BUTTONS: [&str; 12] = [
    "Pause",
    "Snapshot",
    "Quit",
    "Refresh",
    "Demo",
    "Play",
    "Photo…",
    "Folder…",
    "Video…",
    "Model…",
    "Save",
    "Load",
];

fn window(width: f32, height: f32) -> Harness<'static, App> {
    let state = AppState::new(
        common::class_names(),
        DetectConfig::uniform(21, 0.5),
        SettingsStore::none(),
    );
    let mut harness = Harness::builder()
        .with_size([width, height])
        .build_ui_state(|ui, app: &mut App| app.show(ui), App::headless(state));
    harness.run_steps(3);
    harness
}

/// The rect of the status bar's line of keys.
fn keys(harness: &Harness<'_, App>) -> Rect {
    harness.get_by_label_contains("Space pause").rect()
}

#[test]
fn at_800_by_500_the_buttons_are_in_the_window_and_the_status_bar_is_readable() {
    let harness = window(800.0, 500.0);
    let screen = Rect::from_min_size(Pos2::ZERO, egui::vec2(800.0, 500.0));
    let stats = harness.get_by_label_contains("Capture").rect();
    let keys = keys(&harness);

    for button in BUTTONS {
        let rect = harness.get_by_label(button).rect();
        assert!(screen.contains_rect(rect), "{button} at {rect:?}");
        assert!(
            rect.bottom() <= stats.top(),
            "{button} at {rect:?} reaches into the status bar at {stats:?}"
        );
    }
    // The side panel (its profile field spans it) leaves the picture more than half.
    let panel = harness.get_by_label("profile file").rect();
    assert!(
        panel.right() <= side_panel_default_width(800.0) + 1.0,
        "the panel reaches {}",
        panel.right()
    );
    assert!(panel.right() < 400.0, "the panel reaches {}", panel.right());

    // The keys under the live numbers, in the window, with room to be read.
    assert!(keys.top() >= stats.bottom(), "{keys:?} beside {stats:?}");
    assert!(screen.contains_rect(keys), "{keys:?}");
    assert!(keys.width() > 600.0, "the keys get {} px", keys.width());
}

#[test]
fn at_1280_by_800_the_keys_share_the_numbers_line_and_the_table_has_every_column() {
    let harness = window(1280.0, 800.0);
    let stats = harness.get_by_label_contains("Capture").rect();
    let keys = keys(&harness);
    assert!(
        keys.left() > stats.right() && (keys.center().y - stats.center().y).abs() < 2.0,
        "{keys:?} beside {stats:?}"
    );
    assert!(keys.right() <= 1280.0, "{keys:?}");

    let panel = harness.get_by_label("profile file").rect();
    assert!(
        panel.right() <= SIDE_PANEL_MAX_WIDTH + 1.0,
        "the panel reaches {}",
        panel.right()
    );
    // The last column (objects seen) is inside the panel: nothing to scroll sideways for.
    let seen = harness.get_by_label("seen").rect();
    assert!(
        seen.right() <= panel.right() + 8.0,
        "{seen:?} past {panel:?}"
    );
}
