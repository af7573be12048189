//! The numbers of the evaluation protocol, read from `protocol.json`: `tinyssd eval`
//! and `training/evaluate.py` both read that file, so they score alike.

use crate::detect::DetectConfig;
use serde::Deserialize;
use std::sync::OnceLock;

const PROTOCOL_JSON: &str = include_str!("protocol.json");

/// How detections are made and matched for the VOC2007 scores.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Every detection scoring above this is kept.
    pub score_threshold: f32,
    /// The NMS overlap: boxes of one class overlapping a better one more are dropped.
    pub nms_iou: f32,
    /// At most this many candidates per class enter NMS.
    pub candidates_per_class: usize,
    /// At most this many detections per image, best first.
    pub detections_per_image: usize,
    /// A detection is correct at this IoU or more with an unmatched ground truth.
    pub match_iou: f32,
}

impl Protocol {
    /// The protocol, parsed once.
    pub fn voc2007() -> &'static Protocol {
        static PROTOCOL: OnceLock<Protocol> = OnceLock::new();
        PROTOCOL.get_or_init(|| {
            serde_json::from_str(PROTOCOL_JSON)
                .unwrap_or_else(|e| panic!("built-in protocol.json is invalid: {e}"))
        })
    }

    /// The post-processing settings the protocol's detections are made with.
    pub fn detect_config(&self, num_classes: usize) -> DetectConfig {
        DetectConfig {
            thresholds: vec![self.score_threshold; num_classes],
            nms_iou: self.nms_iou,
            top_k: self.detections_per_image,
            candidates_per_class: self.candidates_per_class,
            cross_class_iou: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_file_parses_and_sets_every_knob() {
        let protocol = Protocol::voc2007();
        for fraction in [
            protocol.score_threshold,
            protocol.nms_iou,
            protocol.match_iou,
        ] {
            assert!((0.0..1.0).contains(&fraction), "{protocol:?}");
        }
        let config = protocol.detect_config(21);
        assert_eq!(config.thresholds, vec![protocol.score_threshold; 21]);
        assert_eq!(config.nms_iou, protocol.nms_iou);
        assert_eq!(config.top_k, protocol.detections_per_image);
        assert_eq!(config.candidates_per_class, protocol.candidates_per_class);
        assert_eq!(
            config.cross_class_iou, None,
            "VOC scores every class's boxes"
        );
    }
}
