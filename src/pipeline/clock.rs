//! The time the pipeline's threads read and wait on: the system's in the app, a
//! [`ManualClock`] in tests, which step through seconds of backoff or a stall
//! without sleeping them.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the capture and worker threads ask the time of.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;

    /// Waits `wait` on this clock; true when stopping was asked for first (or the
    /// stop handle is gone).
    fn wait_or_stop(&self, stop: &Receiver<()>, wait: Duration) -> bool;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wait_or_stop(&self, stop: &Receiver<()>, wait: Duration) -> bool {
        !matches!(stop.recv_timeout(wait), Err(RecvTimeoutError::Timeout))
    }
}

/// A clock that moves only when told, for tests: a thread waiting on it wakes when
/// [`ManualClock::advance`] reaches its deadline (or when it is told to stop);
/// [`ManualClock::until_next_wake`] says how far that is.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
    /// Signalled when the time moves or a thread starts waiting.
    changed: Condvar,
}

#[derive(Debug)]
struct ManualState {
    now: Instant,
    /// When each waiting thread wakes.
    wakes: Vec<Instant>,
}

/// How often a thread waiting on a [`ManualClock`] looks at its stop signal.
const STOP_POLL: Duration = Duration::from_millis(1);

impl ManualClock {
    /// Starts at the real time now, and stays there until moved.
    pub fn new() -> ManualClock {
        ManualClock {
            state: Mutex::new(ManualState {
                now: Instant::now(),
                wakes: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.state().now += by;
        self.changed.notify_all();
    }

    /// How long until the first thread waiting on this clock wakes, once one waits
    /// (for at most `patience` of real time); `None` when none waits.
    pub fn until_next_wake(&self, patience: Duration) -> Option<Duration> {
        let give_up = Instant::now() + patience;
        let mut state = self.state();
        loop {
            let now = state.now;
            if let Some(&wake) = state.wakes.iter().filter(|&&wake| wake > now).min() {
                return Some(wake - now);
            }
            let left = give_up.checked_duration_since(Instant::now())?;
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    fn state(&self) -> MutexGuard<'_, ManualState> {
        // The state stays consistent whatever panicked while holding it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.state().now
    }

    fn wait_or_stop(&self, stop: &Receiver<()>, wait: Duration) -> bool {
        let mut state = self.state();
        let wake = state.now + wait;
        state.wakes.push(wake);
        self.changed.notify_all();
        let stopped = loop {
            if !matches!(stop.try_recv(), Err(TryRecvError::Empty)) {
                break true;
            }
            if state.now >= wake {
                break false;
            }
            state = self
                .changed
                .wait_timeout(state, STOP_POLL)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        };
        if let Some(index) = state.wakes.iter().position(|&w| w == wake) {
            state.wakes.swap_remove(index);
        }
        stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_wait_on_the_manual_clock_ends_when_the_time_reaches_it() {
        let clock = Arc::new(ManualClock::new());
        let start = clock.now();
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        let waiter = {
            let clock = clock.clone();
            std::thread::spawn(move || {
                let stopped = clock.wait_or_stop(&stop, Duration::from_secs(3));
                (stopped, clock.now())
            })
        };
        let patience = Duration::from_secs(10);
        assert_eq!(
            clock.until_next_wake(patience),
            Some(Duration::from_secs(3))
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            clock.until_next_wake(patience),
            Some(Duration::from_secs(2))
        );
        clock.advance(Duration::from_secs(2));
        let (stopped, woke_at) = waiter.join().expect("the waiter ends");
        assert!(!stopped);
        assert_eq!(woke_at - start, Duration::from_secs(3));
        assert_eq!(clock.until_next_wake(Duration::ZERO), None);
    }

    #[test]
    fn a_stop_ends_a_wait_on_the_manual_clock() {
        let clock = ManualClock::new();
        let (stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        drop(stop_tx);
        assert!(clock.wait_or_stop(&stop, Duration::from_secs(3600)));
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(0);
        assert!(!SystemClock.wait_or_stop(&stop, Duration::from_millis(1)));
    }
}
