//! The engine's fork/join threads: the thread that runs the network and `helpers`
//! more, which share out the items of each parallel step, each thread taking its own
//! contiguous part first (see [`Job`]). On two threads that affinity made the network
//! 8-11 % faster than one shared counter, which handed each layer's pixels to whichever
//! thread came first (Intel Xeon with AVX-512 and 2 MB of L2 a core: `tinyssd bench
//! --threads 2`, three alternating rounds, 6.34-6.50 → 5.87-5.94 ms; docs/speed-history.md).
//!
//! Between steps the helpers spin instead of sleeping (for [`SPIN`] after their last
//! item), as ONNX Runtime's and XNNPACK's pools do. A frame is some seventy parallel
//! steps, and a thread that sleeps between them must be woken for each: on a busy
//! machine (a background job on the other core, the UI) the scheduler lets that job
//! finish its slice first, so with rayon's sleeping workers a second thread gained
//! nothing there. A spinning helper stays runnable and keeps its core.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a helper spins for the next step before it sleeps: well above the gap
/// between two steps of a frame, far below the gap between frames of a camera.
const SPIN: Duration = Duration::from_millis(2);

/// One parallel step: `run(i)` for every `i < len`, each index claimed once.
///
/// The items are dealt in contiguous parts, one per thread, and each thread works through
/// its own part first: consecutive steps over the same grid (a Fire module's squeeze,
/// then its expands) then hand each thread the pixels it wrote itself, still in its own
/// L2, instead of the other core's. A thread that finishes its part takes items from the
/// others', so a late or preempted thread holds no one up.
struct Job<'a> {
    run: &'a (dyn Fn(usize) + Sync),
    len: usize,
    /// Per part, the next item to claim ([`part_start`]); the part ends where the next begins.
    cursors: &'a [Cursor],
    finished: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// A part's cursor, on a cache line of its own, so that claiming in one part does not
/// slow down claims in another.
#[repr(align(128))]
struct Cursor(AtomicUsize);

/// The first item of part `part` of `parts` over `len` items.
fn part_start(part: usize, parts: usize, len: usize) -> usize {
    part * len / parts
}

impl Job<'_> {
    /// Claims and runs items, of thread `me`'s part first, then of the others', until
    /// none is left. A panic is kept for the caller of [`Team::for_each`], so that every
    /// claimed item is still counted as finished.
    fn work(&self, me: usize) {
        let parts = self.cursors.len();
        for part in (me..parts).chain(0..me) {
            let end = part_start(part + 1, parts, self.len);
            loop {
                // Each index of a part comes out of its cursor once.
                let i = self.cursors[part].0.fetch_add(1, SeqCst);
                if i >= end {
                    break;
                }
                if let Err(payload) =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.run)(i)))
                {
                    self.panic
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(payload);
                }
                self.finished.fetch_add(1, SeqCst);
            }
        }
    }
}

/// What the threads share.
struct Shared {
    /// The step in progress, or null. It points into the frame of a running
    /// [`Team::for_each`], which clears it and waits for `entered` to fall to zero
    /// before it returns, so a helper that saw it non-null can use it until it leaves.
    job: AtomicPtr<Job<'static>>,
    /// Helpers inside `job`.
    entered: AtomicUsize,
    /// Counts published steps, so a helper tells a new step from the one it left.
    epoch: AtomicUsize,
    /// Per helper: it is asleep (or about to be) and must be unparked for a new step.
    sleeping: Vec<AtomicBool>,
    /// Per thread (the caller's first), the cursor of its part of the step in progress;
    /// set by [`Team::for_each`] before it publishes the step.
    cursors: Vec<Cursor>,
    stop: AtomicBool,
}

pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

impl Team {
    /// A team of `threads` (at least 1): the calling thread and `threads - 1` helpers.
    pub fn new(threads: usize) -> std::io::Result<Team> {
        let helpers = threads.saturating_sub(1);
        let shared = Arc::new(Shared {
            job: AtomicPtr::new(std::ptr::null_mut()),
            entered: AtomicUsize::new(0),
            epoch: AtomicUsize::new(0),
            sleeping: (0..helpers).map(|_| AtomicBool::new(false)).collect(),
            cursors: (0..=helpers).map(|_| Cursor(AtomicUsize::new(0))).collect(),
            stop: AtomicBool::new(false),
        });
        let mut team = Team {
            shared,
            helpers: Vec::with_capacity(helpers),
        };
        for index in 0..helpers {
            let shared = team.shared.clone();
            // On failure `team` drops here, which stops the helpers already started.
            team.helpers.push(
                thread::Builder::new()
                    .name(format!("tinyssd-engine-{}", index + 1))
                    .spawn(move || help(&shared, index))?,
            );
        }
        Ok(team)
    }

    /// Threads that run a step, the caller's included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `run(i)` for every `i < len` on the team; returns when all have finished.
    /// A panic in any of them is raised again here, after the others have finished.
    pub fn for_each(&self, len: usize, run: impl Fn(usize) + Sync) {
        if self.helpers.is_empty() || len <= 1 {
            (0..len).for_each(run);
            return;
        }
        let shared = &*self.shared;
        // No helper is inside a step now (the last call waited for `entered` to fall to
        // zero), and none sees this one before it is published below.
        let parts = shared.cursors.len();
        for (part, cursor) in shared.cursors.iter().enumerate() {
            cursor.0.store(part_start(part, parts, len), SeqCst);
        }
        let job = Job {
            run: &run,
            len,
            cursors: &shared.cursors,
            finished: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        // The lifetime is erased only for as long as this call: see `Shared::job`.
        shared.job.store((&raw const job).cast_mut().cast(), SeqCst);
        shared.epoch.fetch_add(1, SeqCst);
        for (sleeping, helper) in shared.sleeping.iter().zip(&self.helpers) {
            if sleeping.swap(false, SeqCst) {
                helper.thread().unpark();
            }
        }
        job.work(0);
        while job.finished.load(SeqCst) < len {
            std::hint::spin_loop();
        }
        shared.job.store(std::ptr::null_mut(), SeqCst);
        while shared.entered.load(SeqCst) > 0 {
            std::hint::spin_loop();
        }
        let panic = job
            .panic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
    }

    /// Runs `run(i, chunk)` on every `chunk_len`-long chunk of `data` (the last may be
    /// shorter), as [`Team::for_each`] does.
    pub fn for_each_chunk<T: Send>(
        &self,
        data: &mut [T],
        chunk_len: usize,
        run: impl Fn(usize, &mut [T]) + Sync,
    ) {
        assert!(chunk_len > 0, "chunks hold at least one item");
        let (start, len) = (SendPtr(data.as_mut_ptr()), data.len());
        self.for_each(len.div_ceil(chunk_len), |i| {
            let first = i * chunk_len;
            let count = chunk_len.min(len - first);
            // SAFETY: `for_each` hands out each index once, so chunks [first, first +
            // count) of different calls are disjoint, and all lie within `data`, which
            // stays mutably borrowed until `for_each` has returned.
            let chunk = unsafe { std::slice::from_raw_parts_mut(start.get().add(first), count) };
            run(i, chunk);
        });
    }
}

/// A pointer that the chunks' closures share (they write disjoint parts).
struct SendPtr<T>(*mut T);

// By hand: derived, they would ask `T: Copy`.
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: used only by `for_each_chunk`, whose calls touch disjoint chunks of `T: Send`.
unsafe impl<T: Send> Send for SendPtr<T> {}
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    // A method, so closures capture the whole (Sync) wrapper, not the bare pointer.
    fn get(self) -> *mut T {
        self.0
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.shared.epoch.fetch_add(1, SeqCst);
        for helper in self.helpers.drain(..) {
            helper.thread().unpark();
            // A helper's panic was already caught per item; nothing else can panic.
            let _ = helper.join();
        }
    }
}

/// A helper's life: wait for a step (spinning, then asleep), work on it, repeat.
fn help(shared: &Shared, index: usize) {
    // The epoch the team started at, not a fresh load: a step published before this
    // thread first ran is new to it too.
    let mut seen = 0;
    loop {
        let spin_until = Instant::now() + SPIN;
        let mut spins = 0u32;
        // `stop` too: a helper that starts after its team was dropped saw the last epoch.
        while shared.epoch.load(SeqCst) == seen && !shared.stop.load(SeqCst) {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            // Look at the clock only now and then: it costs more than a spin.
            if spins.is_multiple_of(64) && Instant::now() >= spin_until {
                shared.sleeping[index].store(true, SeqCst);
                // Published after the flag was set: either this load sees the new
                // epoch or the publisher sees the flag and unparks this thread.
                while shared.epoch.load(SeqCst) == seen && !shared.stop.load(SeqCst) {
                    thread::park();
                }
                shared.sleeping[index].store(false, SeqCst);
            }
        }
        seen = shared.epoch.load(SeqCst);
        if shared.stop.load(SeqCst) {
            return;
        }
        shared.entered.fetch_add(1, SeqCst);
        let job = shared.job.load(SeqCst);
        // SAFETY: non-null, it points to the `Job` of a `for_each` that has not yet
        // returned: that call clears `job` before waiting for `entered` to reach zero,
        // and this thread entered before it loaded the pointer.
        if let Some(job) = unsafe { job.as_ref() } {
            job.work(index + 1);
        }
        shared.entered.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_on_every_team_size() {
        for threads in [1, 2, 3, 5] {
            let team = Team::new(threads).expect("team");
            assert_eq!(team.threads(), threads);
            for len in [0, 1, 2, 7, 1000] {
                let counts: Vec<AtomicUsize> = (0..len).map(|_| AtomicUsize::new(0)).collect();
                team.for_each(len, |i| {
                    counts[i].fetch_add(1, SeqCst);
                });
                assert!(
                    counts.iter().all(|c| c.load(SeqCst) == 1),
                    "{threads} threads, {len} items"
                );
            }
        }
    }

    #[test]
    fn each_thread_starts_on_its_own_part() {
        let team = Team::new(2).expect("team");
        let caller = thread::current().id();
        let ran_by: Vec<Mutex<Option<thread::ThreadId>>> =
            (0..8).map(|_| Mutex::new(None)).collect();
        team.for_each(8, |i| {
            *ran_by[i].lock().expect("not poisoned") = Some(thread::current().id());
            // The helper's part is slow: it cannot get through it and on to the
            // caller's first item before the caller, who claims that one at once.
            if i >= 4 {
                thread::sleep(Duration::from_millis(50));
            }
        });
        let first = *ran_by[0].lock().expect("not poisoned");
        assert_eq!(first, Some(caller), "item 0 is the caller's");
        assert!(
            ran_by
                .iter()
                .all(|r| r.lock().expect("not poisoned").is_some())
        );
    }

    #[test]
    fn chunks_cover_the_slice_once_including_a_short_last_one() {
        let team = Team::new(3).expect("team");
        let mut data = vec![0usize; 103];
        team.for_each_chunk(&mut data, 10, |i, chunk| {
            assert!(chunk.len() == 10 || (i == 10 && chunk.len() == 3));
            chunk.iter_mut().for_each(|v| *v += i + 1);
        });
        assert!(data.iter().enumerate().all(|(n, &v)| v == n / 10 + 1));
    }

    #[test]
    fn helpers_do_part_of_the_work_and_wake_after_sleeping() {
        let team = Team::new(2).expect("team");
        let caller = thread::current().id();
        for round in 0..3 {
            let helper_took_one = AtomicBool::new(false);
            // Whichever item the caller runs waits for the helper to take the other, so
            // a busy test machine only delays the round; a helper that never comes
            // fails it after the waits run out.
            team.for_each(2, |_| {
                if thread::current().id() != caller {
                    helper_took_one.store(true, SeqCst);
                    return;
                }
                let give_up = Instant::now() + Duration::from_secs(10);
                while !helper_took_one.load(SeqCst) && Instant::now() < give_up {
                    thread::yield_now();
                }
            });
            assert!(
                helper_took_one.load(SeqCst),
                "round {round}: the helper took an item"
            );
            // past the spin: the helper is asleep for the next round
            thread::sleep(SPIN * 3);
        }
    }

    #[test]
    fn a_panic_reaches_the_caller_after_the_other_items_and_the_team_goes_on() {
        let team = Team::new(2).expect("team");
        let done = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            team.for_each(50, |i| {
                if i == 7 {
                    panic!("item 7 fails");
                }
                thread::sleep(Duration::from_micros(200));
                done.fetch_add(1, SeqCst);
            })
        }));
        let payload = result.expect_err("the panic is raised again");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"item 7 fails"));
        assert_eq!(done.load(SeqCst), 49, "every other item ran");
        let after = AtomicUsize::new(0);
        team.for_each(10, |_| {
            after.fetch_add(1, SeqCst);
        });
        assert_eq!(after.load(SeqCst), 10);
    }
}
