//! The engine allocates nothing per frame: every buffer is made once, when it starts;
//! nor do the tracker and the app's inference worker once they are warm.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tinyssd::engine::{Engine, PackedModel, Precision};
use tinyssd::model::Model;

/// Counts every allocation in the process (all threads, the engine's pool included),
/// and apart those of the threads that asked to be watched.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static WATCHED_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if WATCHED.try_with(Cell::get).unwrap_or(false) {
            WATCHED_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
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
    tracking_does_not_allocate();
    #[cfg(feature = "app")]
    app_worker::the_worker_loop_does_not_allocate();
}

/// At fp32 (the golden weights) and at int8 (the shipped model, calibrated).
fn forward_passes_do_not_allocate() {
    let golden = Model::load(&common::golden_weights()).expect("golden weights load");
    let shipped = Model::load(&tinyssd::model::shipped_model_path()).expect("the shipped model");
    let packed = [
        PackedModel::new(golden),
        PackedModel::with_precision(shipped, Precision::Int8).expect("calibrated"),
    ]
    .map(Arc::new);
    for (packed, threads) in packed.iter().flat_map(|p| [(p, 1), (p, 2)]) {
        let precision = packed.precision();
        let mut engine = Engine::from_packed(packed.clone(), threads).expect("engine starts");
        engine.input_mut().fill(0.25);
        engine.forward(); // warm-up: thread-local state in the pool's threads
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..5 {
            engine.forward();
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert_eq!(
            allocations, 0,
            "{precision}, {threads} thread(s): {allocations} allocations in 5 forward passes"
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

/// Objects coming, moving, flickering and leaving, in a pattern that repeats every 120
/// frames: once one period has grown the tracker's buffers, the next allocate nothing.
fn tracking_does_not_allocate() {
    use std::sync::Arc;
    use tinyssd::detect::Detection;
    use tinyssd::model::box_coder::Corners;
    use tinyssd::track::{Tracker, TrackerConfig};

    let labels: Vec<Arc<str>> = ["background", "person", "chair"].map(Arc::from).to_vec();
    let thresholds = [1.0, 0.5, 0.4];
    let scene = |frame: usize, out: &mut Vec<Detection>| {
        out.clear();
        let t = (frame % 120) as f32;
        for object in 0..8usize {
            let present = (frame % 120) / 15 != object % 8 && !(frame + object).is_multiple_of(9);
            if present {
                let class_id = 1 + object % 2;
                let x = 40.0 * object as f32 + 2.0 * t;
                out.push(Detection {
                    class_id,
                    label: labels[class_id].clone(),
                    score: 0.3 + 0.08 * object as f32 + 0.05 * ((frame % 4) as f32),
                    bbox: Corners {
                        x_min: x,
                        y_min: 10.0,
                        x_max: x + 30.0,
                        y_max: 70.0,
                    },
                });
            }
        }
    };
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut detections = Vec::with_capacity(8);
    for frame in 0..240 {
        scene(frame, &mut detections);
        tracker.update(&detections, &thresholds);
    }
    assert!(tracker.shown().count() > 0, "the scene shows tracks");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for frame in 240..480 {
        scene(frame, &mut detections);
        tracker.update(&detections, &thresholds);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in 240 tracked frames"
    );
}

/// The app's path: the real pipeline's worker thread running the real detector, its
/// results taken and handed back as the UI does.
#[cfg(feature = "app")]
mod app_worker {
    use super::{WATCHED, WATCHED_ALLOCATIONS};
    use image::RgbImage;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    use tinyssd::detect::{DetectConfig, Detection, Detector, DetectorError, Timings};
    use tinyssd::pipeline::{FrameProcessor, FrameSource, Pipeline, SourceError, opener};

    /// The real detector, watching the allocations of the thread it runs on (the worker).
    struct Watched(Detector);

    impl FrameProcessor for Watched {
        fn process(
            &mut self,
            image: &RgbImage,
            config: &DetectConfig,
            detections: &mut Vec<Detection>,
        ) -> Result<Timings, DetectorError> {
            WATCHED.with(|watched| watched.set(true));
            self.0.process(image, config, detections)
        }
    }

    /// One photo, again and again, as fast as the worker takes it.
    struct Photo(RgbImage);

    impl FrameSource for Photo {
        fn name(&self) -> String {
            "photo".into()
        }

        fn next_frame(&mut self) -> Result<RgbImage, SourceError> {
            std::thread::sleep(Duration::from_millis(2));
            Ok(self.0.clone())
        }
    }

    /// Takes `count` results, handing each back once the next one replaces it.
    fn show(pipeline: &Pipeline, count: usize, shown: &mut Option<tinyssd::pipeline::FrameResult>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut taken = 0;
        while taken < count {
            assert!(
                Instant::now() < deadline,
                "only {taken} of {count} results came"
            );
            match pipeline.try_recv() {
                Some(result) => {
                    assert!(
                        !result.detections.is_empty(),
                        "the golden weights find boxes"
                    );
                    if let Some(old) = shown.replace(result) {
                        pipeline.recycle(old);
                    }
                    taken += 1;
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    pub fn the_worker_loop_does_not_allocate() {
        let detector = Detector::from_file(&crate::common::golden_weights(), 2).expect("detector");
        let photo = image::open(crate::common::repo_path("assets/chelsea.png"))
            .expect("asset")
            .to_rgb8();
        let mut pipeline = Pipeline::start(
            opener(Photo(photo)),
            Box::new(Watched(detector)),
            DetectConfig::uniform(21, 0.3),
            crate::common::app::no_waker(),
        )
        .expect("pipeline starts");
        let mut shown = None;
        show(&pipeline, 5, &mut shown); // warm-up: vectors grow to their size
        let before = WATCHED_ALLOCATIONS.load(Ordering::Relaxed);
        let processed_before = pipeline.stats().processed;
        show(&pipeline, 10, &mut shown);
        let allocations = WATCHED_ALLOCATIONS.load(Ordering::Relaxed) - before;
        let frames = pipeline.stats().processed - processed_before;
        assert!(pipeline.shutdown(Duration::from_secs(5)).joined);
        assert!(frames >= 10, "{frames} frames processed");
        assert_eq!(
            allocations, 0,
            "the worker thread allocated {allocations} times in {frames} frames"
        );
    }
}
