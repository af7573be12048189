//! Tiny SSD object detection: the network as data ([`model`]), our inference
//! engine ([`engine`]) and the pre- and post-processing around it ([`detect`]).
//!
//! Data flows one way: frame -> tensor -> raw outputs -> detections -> overlay.

pub mod detect;
pub mod engine;
pub mod model;
