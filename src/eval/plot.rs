//! Charts of an evaluation as PNG: one precision-recall curve per class and a summary of
//! AP per class as bars.

use super::EvalError;
use super::run::{ClassEvaluation, Evaluation};
use crate::files::{AtomicOutput, RunInputs, WriteError, numbered_path};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const FONT: &str = "sans-serif";

/// plotters draws text with a registered font: the one egui bundles.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(
                FONT,
                FontStyle::Normal,
                epaint_default_fonts::UBUNTU_LIGHT,
            )
            .map_err(|_| "the bundled font cannot be read".to_owned())
        })
        .clone()
}

/// Draws into an RGB buffer of `size` and saves it as PNG at `path` (replacing a file
/// there only when `replace`, never one of `inputs`).
fn render(
    path: &Path,
    replace: bool,
    inputs: &RunInputs,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), EvalError> {
    let fail = |message: String| EvalError::Plot {
        path: path.to_path_buf(),
        message,
    };
    register_font().map_err(fail)?;
    let mut buffer = vec![0_u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(root.clone()).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(size.0, size.1, buffer)
        .ok_or_else(|| fail("the picture buffer has the wrong size".to_owned()))?;
    let mut out = match AtomicOutput::create(path, replace, inputs) {
        Ok(out) => out,
        Err(WriteError::Exists) => return Err(EvalError::Exists(path.to_path_buf())),
        Err(error) => return Err(fail(error.to_string())),
    };
    image
        .write_to(
            &mut std::io::BufWriter::new(&mut out),
            image::ImageFormat::Png,
        )
        .map_err(|e| fail(e.to_string()))?;
    out.commit().map_err(|e| fail(e.to_string()))
}

/// A chart's frame as every chart here has it: the caption, the margins and the axes'
/// label areas (the y one `y_labels` wide).
fn framed<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: String,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_labels);
    builder
}

fn text_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One class's precision-recall curve.
fn pr_curve(
    path: &Path,
    replace: bool,
    inputs: &RunInputs,
    class: &ClassEvaluation,
) -> Result<(), EvalError> {
    let recall = class.curve.recall();
    let precision = class.curve.precision();
    render(path, replace, inputs, (480, 480), |root| {
        let caption = format!(
            "{}: AP {:.1} (11-point) / {:.1} (all-point)",
            class.name,
            100.0 * class.ap11,
            100.0 * class.ap_all
        );
        let mut chart = framed(&root, caption, 48)
            .build_cartesian_2d(0.0_f64..1.0, 0.0_f64..1.02)
            .map_err(text_error)?;
        chart
            .configure_mesh()
            .x_desc(format!("recall ({} objects)", class.num_gt))
            .y_desc("precision")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(text_error)?;
        let points = recall.iter().copied().zip(precision.iter().copied());
        chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(text_error)?;
        Ok(())
    })
}

/// AP per class as horizontal bars (11-point filled, all-point as an outline, the value
/// written beside), and the mAP as a line.
fn summary(
    path: &Path,
    replace: bool,
    inputs: &RunInputs,
    evaluation: &Evaluation,
    title: &str,
) -> Result<(), EvalError> {
    let classes = &evaluation.classes;
    let rows = classes.len().max(1) as i32;
    render(
        path,
        replace,
        inputs,
        (800, 120 + 26 * rows as u32),
        |root| {
            let caption = format!(
                "{title}: mAP {:.1} (11-point) / {:.1} (all-point)",
                100.0 * evaluation.map11,
                100.0 * evaluation.map_all
            );
            let mut chart = framed(&root, caption, 100)
                .build_cartesian_2d(0.0_f64..100.0, (0_i32..rows).into_segmented())
                .map_err(text_error)?;
            // Row 0 at the bottom: the first class goes on top.
            let row_of = |i: usize| rows - 1 - i as i32;
            let name_of = |row: i32| {
                usize::try_from(rows - 1 - row)
                    .ok()
                    .and_then(|i| classes.get(i))
                    .map_or_else(String::new, |c| c.name.clone())
            };
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(rows as usize)
                .y_label_formatter(&|value| match value {
                    SegmentValue::CenterOf(row) => name_of(*row),
                    _ => String::new(),
                })
                .x_desc("AP (%)")
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 15))
                .draw()
                .map_err(text_error)?;
            let bar = |i: usize, value: f64| {
                let y = row_of(i);
                [
                    (0.0, SegmentValue::Exact(y)),
                    (100.0 * value, SegmentValue::Exact(y + 1)),
                ]
            };
            let fill = RGBColor(70, 130, 180);
            let shrunk = |mut bar: Rectangle<_>| {
                bar.set_margin(3, 3, 0, 0);
                bar
            };
            // The mAP first, so that bars and values are drawn over it.
            chart
                .draw_series(LineSeries::new(
                    [
                        (100.0 * evaluation.map11, SegmentValue::Exact(0)),
                        (100.0 * evaluation.map11, SegmentValue::Exact(rows)),
                    ],
                    RED.stroke_width(2),
                ))
                .map_err(text_error)?
                .label("mAP (11-point)")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], RED.stroke_width(2)));
            chart
                .draw_series(
                    classes
                        .iter()
                        .enumerate()
                        .map(|(i, c)| shrunk(Rectangle::new(bar(i, c.ap11), fill.filled()))),
                )
                .map_err(text_error)?
                .label("11-point")
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], fill.filled()));
            chart
                .draw_series(
                    classes
                        .iter()
                        .enumerate()
                        .map(|(i, c)| Rectangle::new(bar(i, c.ap_all), BLACK.stroke_width(1))),
                )
                .map_err(text_error)?
                .label("all-point (outline)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLACK.stroke_width(1))
                });
            chart
                .draw_series(classes.iter().enumerate().map(|(i, c)| {
                    Text::new(
                        format!("{:.1} / {:.1}", 100.0 * c.ap11, 100.0 * c.ap_all),
                        (
                            100.0 * c.ap11.max(c.ap_all) + 1.0,
                            SegmentValue::CenterOf(row_of(i)),
                        ),
                        TextStyle::from((FONT, 12).into_font())
                            .pos(Pos::new(HPos::Left, VPos::Center)),
                    )
                }))
                .map_err(text_error)?;
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 13))
                .draw()
                .map_err(text_error)?;
            Ok(())
        },
    )
}

/// Writes `pr_<class>.png` for every class and `summary.png` into `dir` (created if
/// needed); returns the files written. Charts already there are replaced only when
/// `replace`; otherwise nothing is written and the first of them is named. None of
/// `inputs` is ever replaced. Two classes whose names make the same file name get
/// numbered files.
pub fn write_all(
    dir: &Path,
    evaluation: &Evaluation,
    title: &str,
    replace: bool,
    inputs: &RunInputs,
) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(|error| EvalError::Folder {
        path: dir.to_path_buf(),
        error,
    })?;
    let summary_path = dir.join("summary.png");
    let mut paths = class_chart_paths(dir, evaluation, &summary_path);
    paths.push(summary_path);
    if !replace && let Some(existing) = paths.iter().find(|path| path.symlink_metadata().is_ok()) {
        return Err(EvalError::Exists(existing.clone()));
    }
    for (class, path) in evaluation.classes.iter().zip(&paths) {
        pr_curve(path, replace, inputs, class)?;
    }
    if let Some(summary_path) = paths.last() {
        summary(summary_path, replace, inputs, evaluation, title)?;
    }
    Ok(paths)
}

/// Where [`write_all`] puts each class's curve: never the summary's file, never another
/// class's.
fn class_chart_paths(dir: &Path, evaluation: &Evaluation, summary: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::with_capacity(evaluation.classes.len() + 1);
    for class in &evaluation.classes {
        let stem = format!("pr_{}", file_safe(&class.name));
        let path = numbered_path(dir, &stem, ".png", |p| {
            p == summary || paths.iter().any(|taken| taken == p)
        });
        paths.push(path);
    }
    paths
}

/// Class names come from the model file: keep them to safe file-name characters.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
