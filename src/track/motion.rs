//! A constant-velocity Kalman filter for a box, as SORT and ByteTrack keep one per track.
//!
//! The state is the box's centre, width and height, each with its velocity in pixels per
//! frame. With the noise diagonal (ByteTrack's choice), the four coordinates do not
//! interact, so the 8-state filter is four independent 2-state filters: [`Axis`].

use crate::model::box_coder::Corners;

/// Position noise per frame as a share of the box's size (ByteTrack's `std_weight_position`).
const POSITION_NOISE: f32 = 1.0 / 20.0;
/// A detection's error as a share of the box's size. ByteTrack uses its position noise
/// (1/20) for YOLOX's boxes; a 2 MB SSD's boxes are looser: on `tinyssd track-eval` 1/5
/// (with [`VELOCITY_NOISE`] doubled, so the box still keeps up with a pan or a zoom) moves
/// boxes a tenth less from frame to frame than 1/10 did, and flicker no more (README,
/// "Tracking").
const MEASUREMENT_NOISE: f32 = 1.0 / 5.0;
/// Velocity noise per frame as a share of the box's size: twice ByteTrack's
/// `std_weight_velocity` (1/160), to go with the larger [`MEASUREMENT_NOISE`].
const VELOCITY_NOISE: f32 = 1.0 / 80.0;
/// Boxes never shrink below this many pixels while a track coasts on its velocity.
const MIN_SIDE: f32 = 1.0;

/// One coordinate and its velocity, with their covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    position: f32,
    velocity: f32,
    /// Covariance [[p00, p01], [p01, p11]].
    p00: f32,
    p01: f32,
    p11: f32,
}

impl Axis {
    fn new(measured: f32, size: f32) -> Axis {
        Axis {
            position: measured,
            velocity: 0.0,
            p00: (2.0 * POSITION_NOISE * size).powi(2),
            p01: 0.0,
            p11: (10.0 * VELOCITY_NOISE * size).powi(2),
        }
    }

    /// One frame ahead: x += v; P = F P F' + Q.
    fn predict(&mut self, size: f32) {
        self.position += self.velocity;
        self.p00 += 2.0 * self.p01 + self.p11 + (POSITION_NOISE * size).powi(2);
        self.p01 += self.p11;
        self.p11 += (VELOCITY_NOISE * size).powi(2);
    }

    /// The measurement folded in with the Kalman gain.
    fn update(&mut self, measured: f32, size: f32) {
        let innovation = self.p00 + (MEASUREMENT_NOISE * size).powi(2);
        let (k0, k1) = (self.p00 / innovation, self.p01 / innovation);
        let residual = measured - self.position;
        self.position += k0 * residual;
        self.velocity += k1 * residual;
        self.p11 -= k1 * self.p01;
        self.p00 *= 1.0 - k0;
        self.p01 *= 1.0 - k0;
    }
}

/// A box's centre and size, each filtered with its velocity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxFilter {
    cx: Axis,
    cy: Axis,
    w: Axis,
    h: Axis,
}

impl BoxFilter {
    pub fn new(measured: &Corners) -> BoxFilter {
        let (cx, cy, w, h) = center_size(measured);
        BoxFilter {
            cx: Axis::new(cx, w),
            cy: Axis::new(cy, h),
            w: Axis::new(w, w),
            h: Axis::new(h, h),
        }
    }

    /// Moves the box one frame ahead on its velocity.
    pub fn predict(&mut self) {
        let (w, h) = self.size();
        self.cx.predict(w);
        self.cy.predict(h);
        self.w.predict(w);
        self.h.predict(h);
    }

    pub fn update(&mut self, measured: &Corners) {
        let (cx, cy, w, h) = center_size(measured);
        self.cx.update(cx, w);
        self.cy.update(cy, h);
        self.w.update(w, w);
        self.h.update(h, h);
    }

    /// The filtered box (after `predict`: where it is expected this frame).
    pub fn corners(&self) -> Corners {
        let (w, h) = self.size();
        Corners {
            x_min: self.cx.position - w / 2.0,
            y_min: self.cy.position - h / 2.0,
            x_max: self.cx.position + w / 2.0,
            y_max: self.cy.position + h / 2.0,
        }
    }

    fn size(&self) -> (f32, f32) {
        (self.w.position.max(MIN_SIDE), self.h.position.max(MIN_SIDE))
    }
}

fn center_size(b: &Corners) -> (f32, f32, f32, f32) {
    let (w, h) = (
        (b.x_max - b.x_min).max(MIN_SIDE),
        (b.y_max - b.y_min).max(MIN_SIDE),
    );
    ((b.x_min + b.x_max) / 2.0, (b.y_min + b.y_max) / 2.0, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32, w: f32, h: f32) -> Corners {
        Corners {
            x_min: x,
            y_min: y,
            x_max: x + w,
            y_max: y + h,
        }
    }

    #[test]
    fn a_box_moving_at_constant_speed_is_predicted_where_it_goes() {
        let mut filter = BoxFilter::new(&at(0.0, 50.0, 40.0, 80.0));
        for frame in 1..=30 {
            filter.predict();
            filter.update(&at(3.0 * frame as f32, 50.0 - frame as f32, 40.0, 80.0));
        }
        filter.predict(); // frame 31, not measured
        let expected = at(93.0, 19.0, 40.0, 80.0);
        let predicted = filter.corners();
        assert!(
            predicted.iou(&expected) > 0.97,
            "{predicted:?} against {expected:?}"
        );
        // the velocity was learnt: a filter standing still would be 3 px behind in x
        assert!((predicted.x_min - 93.0).abs() < 0.5, "{predicted:?}");
    }

    #[test]
    fn a_box_that_starts_moving_is_caught_up_with() {
        // still for 10 frames, then 8 px a frame (a tenth of its width) to the right
        let mut filter = BoxFilter::new(&at(0.0, 0.0, 80.0, 60.0));
        let mut lags = Vec::new();
        for frame in 1..=40 {
            let x = 8.0 * (frame as f32 - 10.0).max(0.0);
            filter.predict();
            filter.update(&at(x, 0.0, 80.0, 60.0));
            lags.push(x - filter.corners().x_min);
        }
        let worst = lags.iter().copied().fold(0.0, f32::max);
        assert!(worst < 0.15 * 80.0, "{lags:?}");
        // 15 frames into the motion it is within 5 % of the box
        assert!(
            lags[24..].iter().all(|lag| lag.abs() < 0.05 * 80.0),
            "{lags:?}"
        );
    }

    #[test]
    fn measurement_noise_is_smoothed() {
        let truth = at(100.0, 100.0, 50.0, 50.0);
        let mut filter = BoxFilter::new(&truth);
        let mut raw_error = 0.0;
        let mut filtered_error = 0.0;
        for frame in 0..200 {
            // +-4 px of jitter on every side, the same box underneath
            let jitter = if frame % 2 == 0 { 4.0 } else { -4.0 } * ((frame % 3) as f32 - 1.0);
            let measured = at(100.0 + jitter, 100.0 - jitter, 50.0 + jitter, 50.0);
            filter.predict();
            filter.update(&measured);
            if frame >= 20 {
                raw_error += (measured.x_min - truth.x_min).abs();
                filtered_error += (filter.corners().x_min - truth.x_min).abs();
            }
        }
        assert!(
            filtered_error < raw_error * 0.7,
            "filtered {filtered_error} raw {raw_error}"
        );
    }

    #[test]
    fn a_coasting_box_never_turns_inside_out() {
        let mut filter = BoxFilter::new(&at(0.0, 0.0, 40.0, 40.0));
        for frame in 1..10 {
            filter.predict();
            let side = 40.0 - 4.0 * frame as f32;
            filter.update(&at(0.0, 0.0, side, side));
        }
        for _ in 0..100 {
            filter.predict();
        }
        let b = filter.corners();
        assert!(
            b.x_max - b.x_min >= MIN_SIDE && b.y_max - b.y_min >= MIN_SIDE,
            "{b:?}"
        );
    }
}
