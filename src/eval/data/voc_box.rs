//! VOC boxes are 1-based inclusive pixels (pixel k covers [k-1, k]); they are turned into
//! the continuous 0-based frame of our detections as [xmin-1, ymin-1, xmax, ymax], so
//! that plain IoU there equals VOC's "+1" IoU on the original numbers. Boxes outside
//! their image are clipped or dropped, and objects of unknown classes dropped, each
//! recorded as a problem.

use super::{Object, ProblemKind, Problems};
use crate::model::Corners;

/// How far (pixels) a box may stick out of its image before it counts as a problem;
/// the JSON-lines boxes are rounded to 2 decimals.
const BOX_TOLERANCE: f32 = 0.5;

pub(super) struct RawObject<'a> {
    pub name: &'a str,
    /// VOC's 1-based inclusive pixels.
    pub bbox: [f32; 4],
    pub difficult: bool,
}

impl RawObject<'_> {
    /// The object in continuous coordinates, or None (recorded) when it cannot be used.
    pub fn convert(
        &self,
        width: u32,
        height: u32,
        class_names: &[String],
        place: &str,
        problems: &mut Problems,
    ) -> Option<Object> {
        let name = self.name.trim();
        let Some(class_id) = class_names
            .iter()
            .skip(1)
            .position(|n| n == name)
            .map(|i| i + 1)
        else {
            problems.push(
                ProblemKind::UnknownClass,
                format!("{place}: unknown class name '{name}' (object dropped)"),
            );
            return None;
        };
        let [xmin, ymin, xmax, ymax] = self.bbox;
        let bbox = Corners {
            x_min: xmin - 1.0,
            y_min: ymin - 1.0,
            x_max: xmax,
            y_max: ymax,
        };
        let (w, h) = (width as f32, height as f32);
        let finite = self.bbox.iter().all(|v| v.is_finite());
        let outside = bbox.x_min < -BOX_TOLERANCE
            || bbox.y_min < -BOX_TOLERANCE
            || bbox.x_max > w + BOX_TOLERANCE
            || bbox.y_max > h + BOX_TOLERANCE;
        if finite && !outside && bbox.x_max > bbox.x_min && bbox.y_max > bbox.y_min {
            return Some(Object {
                class_id,
                bbox,
                difficult: self.difficult,
            });
        }
        let clipped = Corners {
            x_min: bbox.x_min.clamp(0.0, w),
            y_min: bbox.y_min.clamp(0.0, h),
            x_max: bbox.x_max.clamp(0.0, w),
            y_max: bbox.y_max.clamp(0.0, h),
        };
        let usable = finite && clipped.x_max > clipped.x_min && clipped.y_max > clipped.y_min;
        problems.push(
            ProblemKind::BoxOutsideImage,
            format!(
                "{place}: the {name} box [{xmin}, {ymin}, {xmax}, {ymax}] is {} the {width} x {height} image ({})",
                if usable { "outside" } else { "empty or outside" },
                if usable { "clipped" } else { "object dropped" }
            ),
        );
        usable.then_some(Object {
            class_id,
            bbox: clipped,
            difficult: self.difficult,
        })
    }
}
