//! The capture thread: reads the source (paced when the source asks for it), stamps
//! each frame, and offers it to the worker through a latest-wins slot. A source
//! that fails is reported, ripgrep-style (counted, shown, the loop goes on), and
//! read again after a backoff.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::channel::LatestSender;
use super::clock::Clock;
use super::messages::{Frame, PipelineEvent, Waker, send_event};
use super::shared::Shared;
use super::sources::{FrameSource, SourceError, SourceOpener, is_exact_rgb};
use crossbeam_channel::{Receiver, Sender};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The first wait after a failure; it doubles with each failure in a row.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// How often a waiting capture thread looks whether it should read now: resumed, or a
/// frame asked for ([`FrameSource::wants_frame_now`]).
const POLL: Duration = Duration::from_millis(50);

/// The wait before try number `failures + 1`.
pub fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(8);
    (FIRST_BACKOFF * factor).min(MAX_BACKOFF)
}

pub(crate) struct CaptureLoop {
    pub frames: LatestSender<Frame>,
    pub events: Sender<PipelineEvent>,
    pub stop: Receiver<()>,
    pub shared: Arc<Shared>,
    pub wake: Waker,
    pub clock: Arc<dyn Clock>,
}

impl CaptureLoop {
    pub fn run(self, opener: SourceOpener) {
        let mut source = match opener() {
            Ok(source) => source,
            Err(error) => {
                log::error!("cannot open the source: {error}");
                self.send_event(PipelineEvent::SourceOpenFailed {
                    message: error.to_string(),
                });
                return;
            }
        };
        self.read_frames(source.as_mut());
    }

    /// Tells the UI what the source is, again whenever that changes (a camera
    /// names its model and format once it is open); its frames are a new scene.
    fn announce(&self, source: &dyn FrameSource, announced: &mut Arc<str>) {
        let name = source.name();
        if *name != **announced {
            *announced = Arc::from(name.as_str());
            self.shared.scene.fetch_add(1, Ordering::Relaxed);
            self.send_event(PipelineEvent::SourceOpened {
                source: name,
                description: source.description(),
            });
        }
    }

    fn read_frames(&self, source: &mut dyn FrameSource) {
        let mut announced: Arc<str> = Arc::from("");
        self.announce(source, &mut announced);
        let mut failures = 0u32;
        let mut waiting = false;
        let mut next_due = self.clock.now();
        loop {
            if self.held(source) {
                if self.wait_or_stop(POLL) {
                    return;
                }
                next_due = self.clock.now();
                continue;
            }
            if let Some(interval) = source.frame_interval() {
                if self.wait_until(next_due, source) {
                    return;
                }
                if self.held(source) {
                    continue;
                }
                // Keep the rhythm when a little late; later than a whole interval (a
                // stall), start afresh from now instead of reading again at once; early
                // (a frame asked for), start afresh from now too.
                let now = self.clock.now();
                next_due += interval;
                if next_due <= now || next_due > now + interval {
                    next_due = now + interval;
                }
            }
            if self.stop_requested() {
                return;
            }
            let read = catch_unwind(AssertUnwindSafe(|| source.next_frame()))
                .unwrap_or_else(|_| Err(SourceError::Other("the source panicked".into())))
                .and_then(|image| {
                    if is_exact_rgb(&image) {
                        Ok(image)
                    } else {
                        Err(SourceError::Other(format!(
                            "a {} x {} frame came with {} bytes, not {} (dropped)",
                            image.width(),
                            image.height(),
                            image.as_raw().len(),
                            image.width() as usize * image.height() as usize * 3
                        )))
                    }
                });
            // A source that blocked past a stop request (a stalled camera) must not
            // slip its late frame in front of the next source's.
            if self.stop_requested() {
                return;
            }
            match read {
                Err(SourceError::NoFrameYet) => {}
                Ok(image) => {
                    waiting = false;
                    self.announce(source, &mut announced);
                    if failures > 0 {
                        failures = 0;
                        self.send_event(PipelineEvent::SourceRecovered {
                            source: source.name(),
                        });
                    }
                    self.shared.offer_frame(
                        &self.frames,
                        image,
                        self.clock.now(),
                        announced.clone(),
                    );
                }
                Err(error) if error.waits_for_a_change() => {
                    // Said once: trying again costs a look at the files, not a decode.
                    if !waiting {
                        waiting = true;
                        failures = failures.max(1);
                        log::warn!("{error}");
                        self.send_event(PipelineEvent::SourceWaiting {
                            source: source.name(),
                            message: error.to_string(),
                        });
                    }
                    if self.wait_or_stop(MAX_BACKOFF) {
                        return;
                    }
                    next_due = self.clock.now();
                }
                Err(error) => {
                    waiting = false;
                    failures = failures.saturating_add(1);
                    self.shared
                        .counters
                        .source_errors
                        .fetch_add(1, Ordering::Relaxed);
                    let retry_in = backoff(failures);
                    log::warn!("{error} (try {failures}; again in {retry_in:?})");
                    self.send_event(PipelineEvent::SourceFailed {
                        source: source.name(),
                        message: error.to_string(),
                        failures,
                        retry_in,
                    });
                    if self.wait_or_stop(retry_in) {
                        return;
                    }
                    next_due = self.clock.now();
                }
            }
        }
    }

    /// Whether to read nothing now: paused, and the source wants no frame.
    fn held(&self, source: &dyn FrameSource) -> bool {
        self.shared.paused.load(Ordering::Relaxed) && !source.wants_frame_now()
    }

    /// Waits until `due`, or until the source wants a frame sooner, or a pause; true
    /// when stopping was asked for.
    fn wait_until(&self, due: Instant, source: &dyn FrameSource) -> bool {
        loop {
            let now = self.clock.now();
            if now >= due || source.wants_frame_now() || self.held(source) {
                return false;
            }
            if self.wait_or_stop((due - now).min(POLL)) {
                return true;
            }
        }
    }

    /// Waits `wait` on the clock; true when stopping was asked for.
    fn wait_or_stop(&self, wait: Duration) -> bool {
        self.clock.wait_or_stop(&self.stop, wait)
    }

    fn stop_requested(&self) -> bool {
        !matches!(
            self.stop.try_recv(),
            Err(crossbeam_channel::TryRecvError::Empty)
        )
    }

    fn send_event(&self, event: PipelineEvent) {
        send_event(&self.events, event);
        (self.wake)();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), FIRST_BACKOFF);
        assert_eq!(backoff(2), FIRST_BACKOFF * 2);
        assert_eq!(backoff(3), FIRST_BACKOFF * 4);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
