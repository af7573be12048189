//! The engine allocates nothing per frame: every buffer is made once, when it starts.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tinyssd::engine::Engine;
use tinyssd::model::Model;

/// Counts every allocation in the process (all threads, the engine's pool included).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// One test function: the counter is process-wide, so nothing else may run beside it.
#[test]
fn frames_do_not_allocate_once_warm() {
    forward_passes_do_not_allocate();
    whole_frames_do_not_allocate();
}

fn forward_passes_do_not_allocate() {
    let model = Model::load(&common::golden_weights()).expect("golden weights load");
    for threads in [1, 2] {
        let mut engine = Engine::new(model.clone(), threads).expect("engine starts");
        engine.input_mut().fill(0.25);
        engine.forward(); // warm-up: thread-local state in the pool's threads
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..5 {
            engine.forward();
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(
            allocations, 0,
            "{threads} thread(s): {allocations} allocations in 5 forward passes"
        );
    }
}

fn whole_frames_do_not_allocate() {
    let mut detector =
        tinyssd::detect::Detector::from_file(&common::golden_weights(), 2).expect("detector");
    let config = tinyssd::detect::DetectConfig::uniform(21, 0.3);
    let frame =
        image::open(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/chelsea.png"))
            .expect("asset")
            .to_rgb8();
    let mut detections = Vec::new();
    detector
        .detect_into(&frame, &config, &mut detections)
        .expect("warm-up");
    assert!(
        !detections.is_empty(),
        "the golden weights are confident: boxes appear"
    );
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..3 {
        detector
            .detect_into(&frame, &config, &mut detections)
            .expect("detect");
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(allocations, 0, "{allocations} allocations in 3 frames");
}
