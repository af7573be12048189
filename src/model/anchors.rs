//! Default boxes (SSD priors), in the order the predictors emit them:
//! source, row, column, then box within the cell.

use super::architecture::DefaultBoxConfig;

/// A box as centre and size, normalised to the input frame (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CenterBox {
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
}

/// All default boxes of the configuration; `input_size` is the square input side in pixels.
/// Boxes are not clipped, as in the reference.
pub fn default_boxes(config: &DefaultBoxConfig, input_size: usize) -> Vec<CenterBox> {
    let frame = input_size as f32;
    let mut boxes = Vec::new();
    for source in &config.sources {
        let min = source.min_size;
        let prime = (source.min_size * source.max_size).sqrt();
        let mut sizes = vec![(min, min), (prime, prime)];
        for &ratio in &source.aspect_ratios {
            let r = ratio.sqrt();
            sizes.push((min * r, min / r));
            sizes.push((min / r, min * r));
        }
        for i in 0..source.feature_size {
            for j in 0..source.feature_size {
                let cx = (j as f32 + 0.5) * source.step / frame;
                let cy = (i as f32 + 0.5) * source.step / frame;
                boxes.extend(sizes.iter().map(|&(w, h)| CenterBox {
                    cx,
                    cy,
                    w: w / frame,
                    h: h / frame,
                }));
            }
        }
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Architecture;

    #[test]
    fn first_cell_of_fire4_matches_hand_computation() {
        let arch = Architecture::tiny_ssd();
        let boxes = default_boxes(&arch.default_boxes, arch.input_size);
        assert_eq!(boxes.len(), 8030);
        let centre = 4.0 / 300.0;
        let expect = [
            (30.0, 30.0),
            (42.426_407, 42.426_407),
            (42.426_407, 21.213_203),
            (21.213_203, 42.426_407),
        ];
        for (b, (w, h)) in boxes.iter().zip(expect) {
            assert!((b.cx - centre).abs() < 1e-7 && (b.cy - centre).abs() < 1e-7);
            assert!((b.w - w / 300.0).abs() < 1e-6 && (b.h - h / 300.0).abs() < 1e-6);
        }
        let last = boxes[8029];
        assert!((last.cx - 0.5).abs() < 1e-7 && (last.cy - 0.5).abs() < 1e-7);
    }
}
