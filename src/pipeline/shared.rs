//! What the threads share besides their channels: the pause switch, the counters and
//! the scene number.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::channel::LatestSender;
use super::messages::Frame;
use image::RgbImage;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Counters shared by the threads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(super) captured: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) processed: AtomicU64,
    pub(super) stale_results: AtomicU64,
    pub(super) source_errors: AtomicU64,
    pub(super) detect_errors: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(super) paused: AtomicBool,
    pub(super) counters: Counters,
    /// Counts the scenes: one more when a source is announced or the picture jumps
    /// ([`Pipeline::new_scene`](super::Pipeline::new_scene)); each frame is stamped with it.
    pub(super) scene: AtomicU64,
}

impl Shared {
    /// Hands `image` to the worker as the next frame (numbered from 1 in the order
    /// given); a frame it had not taken yet is replaced and counted as dropped.
    pub(super) fn offer_frame(
        &self,
        frames: &LatestSender<Frame>,
        image: RgbImage,
        captured_at: Instant,
        source: Arc<str>,
    ) {
        let counters = &self.counters;
        let frame = Frame {
            seq: counters.captured.fetch_add(1, Ordering::Relaxed) + 1,
            image,
            captured_at,
            source,
            scene: self.scene.load(Ordering::Relaxed),
        };
        if frames.offer(frame).is_some() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
