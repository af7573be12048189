//! The one JSON form of a detection, shared by `tinyssd detect --json` and the app's
//! `--log` lines:
//!
//! ```json
//! {"class": "person", "score": 0.912, "box": [x_min, y_min, x_max, y_max]}
//! ```
//!
//! with the box in the image's pixels (0, 0 the top-left corner).

use super::postprocess::Detection;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetectionJson<'a> {
    pub class: &'a str,
    pub score: f32,
    /// `[x_min, y_min, x_max, y_max]` in the image's pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl<'a> DetectionJson<'a> {
    pub fn new(detection: &'a Detection) -> DetectionJson<'a> {
        let b = &detection.bbox;
        DetectionJson {
            class: &detection.label,
            score: detection.score,
            bbox: [b.x_min, b.y_min, b.x_max, b.y_max],
        }
    }

    /// The score to 0.001 and the box to 0.1 pixel, as the log writes them: shorter
    /// lines, and nothing a slider or a drawing could tell apart.
    pub fn rounded(self) -> DetectionJson<'a> {
        DetectionJson {
            score: (self.score * 1000.0).round() / 1000.0,
            bbox: self.bbox.map(|v| (v * 10.0).round() / 10.0),
            ..self
        }
    }
}

/// Serializes detections in their JSON form (for `#[serde(serialize_with)]`).
pub fn serialize_detections<S: Serializer>(
    detections: &[Detection],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(detections.iter().map(DetectionJson::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Corners;

    #[test]
    fn a_detection_is_class_score_and_box_rounded_for_the_log() {
        let detection = Detection {
            class_id: 15,
            label: "person".into(),
            score: 0.912_345,
            bbox: Corners {
                x_min: 1.04,
                y_min: 2.0,
                x_max: 30.26,
                y_max: 40.0,
            },
        };
        let full = serde_json::to_value(DetectionJson::new(&detection)).expect("encodes");
        assert_eq!(
            full,
            serde_json::json!({"class": "person", "score": 0.912_345_f32, "box": [1.04_f32, 2.0, 30.26_f32, 40.0]})
        );
        let rounded =
            serde_json::to_value(DetectionJson::new(&detection).rounded()).expect("encodes");
        assert_eq!(
            rounded,
            serde_json::json!({"class": "person", "score": 0.912_f32, "box": [1.0, 2.0, 30.3_f32, 40.0]})
        );
    }
}
