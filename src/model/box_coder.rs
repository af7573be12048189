//! SSD centre-size box coding with variances.

use super::anchors::CenterBox;

/// Exponent cap for decoded width/height offsets, so a wild prediction cannot overflow.
const MAX_LOG_SCALE: f32 = 4.135_166_6; // ln(1000 / 16), as torchvision's bbox_xform_clip

/// A box as corners, in whatever frame the caller uses (normalised or pixels).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Corners {
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

impl Corners {
    pub const fn new(x_min: f32, y_min: f32, x_max: f32, y_max: f32) -> Corners {
        Corners {
            x_min,
            y_min,
            x_max,
            y_max,
        }
    }

    pub fn area(&self) -> f32 {
        (self.x_max - self.x_min).max(0.0) * (self.y_max - self.y_min).max(0.0)
    }

    pub fn iou(&self, other: &Corners) -> f32 {
        let w = (self.x_max.min(other.x_max) - self.x_min.max(other.x_min)).max(0.0);
        let h = (self.y_max.min(other.y_max) - self.y_min.max(other.y_min)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// Decodes one predicted offset (lx, ly, lw, lh) against its default box.
pub fn decode(prior: &CenterBox, offset: &[f32], variances: &[f32; 4]) -> Corners {
    let cx = prior.cx + offset[0] * variances[0] * prior.w;
    let cy = prior.cy + offset[1] * variances[1] * prior.h;
    let w = prior.w * (offset[2] * variances[2]).min(MAX_LOG_SCALE).exp();
    let h = prior.h * (offset[3] * variances[3]).min(MAX_LOG_SCALE).exp();
    Corners {
        x_min: cx - w / 2.0,
        y_min: cy - h / 2.0,
        x_max: cx + w / 2.0,
        y_max: cy + h / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_offset_decodes_to_the_prior() {
        let prior = CenterBox {
            cx: 0.5,
            cy: 0.25,
            w: 0.2,
            h: 0.1,
        };
        let b = decode(&prior, &[0.0; 4], &[0.1, 0.1, 0.2, 0.2]);
        assert_eq!(
            b,
            Corners {
                x_min: 0.4,
                y_min: 0.2,
                x_max: 0.6,
                y_max: 0.3
            }
        );
    }

    #[test]
    fn offsets_scale_by_variances() {
        let prior = CenterBox {
            cx: 0.5,
            cy: 0.5,
            w: 0.2,
            h: 0.4,
        };
        let b = decode(
            &prior,
            &[1.0, -1.0, 5.0_f32.ln(), 0.0],
            &[0.1, 0.1, 0.2, 0.2],
        );
        // cx = 0.5 + 1*0.1*0.2, w = 0.2 * exp(ln5 * 0.2) = 0.2 * 5^0.2
        let w = 0.2 * 5.0_f32.powf(0.2);
        assert!((b.x_min - (0.52 - w / 2.0)).abs() < 1e-6);
        assert!((b.y_min - (0.46 - 0.2)).abs() < 1e-6);
    }

    #[test]
    fn iou_of_half_overlap() {
        let a = Corners::new(0.0, 0.0, 2.0, 1.0);
        let b = Corners::new(1.0, 0.0, 3.0, 1.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        let empty = Corners::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(empty.iou(&empty), 0.0);
    }
}
