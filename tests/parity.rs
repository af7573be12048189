//! The Rust engine against the PyTorch twin: same weights, same input, same outputs.

mod common;

use common::{Golden, golden_weights, max_relative_error};
use tinyssd::engine::Engine;
use tinyssd::model::{Architecture, Model, default_boxes};

const TOLERANCE: f32 = 1e-4;

fn run_engine(threads: usize) -> (Engine, Golden) {
    let golden = Golden::load();
    let model = Model::load(&golden_weights()).expect("golden weights load");
    let mut engine = Engine::new(model, threads).expect("engine starts");
    let (input, shape) = golden.tensor("input");
    assert_eq!(shape, vec![1, 3, 300, 300]);
    engine.input_mut().copy_from_slice(&input);
    engine.forward();
    (engine, golden)
}

#[test]
fn outputs_and_feature_maps_match_pytorch() {
    for threads in [1, 2] {
        let (engine, golden) = run_engine(threads);
        for name in ["fire8", "fire9", "fire10", "conv13_2"] {
            let (expected, shape) = golden.tensor(&format!("feature.{name}"));
            let actual = engine.feature(name).expect("layer exists");
            assert_eq!(actual.shape(), &shape[1..], "{name} shape");
            let actual: Vec<f32> = actual.iter().copied().collect();
            let err = max_relative_error(&actual, &expected);
            assert!(
                err <= TOLERANCE,
                "{name}: relative error {err} with {threads} threads"
            );
        }
        for (name, actual) in [("loc", engine.loc()), ("conf", engine.conf())] {
            let (expected, _) = golden.tensor(name);
            let err = max_relative_error(actual, &expected);
            assert!(
                err <= TOLERANCE,
                "{name}: relative error {err} with {threads} threads"
            );
        }
    }
}

/// Every micro-kernel this CPU can run (the portable fallback always) gives the same
/// network outputs.
#[test]
fn every_instruction_set_matches_pytorch() {
    use tinyssd::engine::ops::gemm::Isa;
    let golden = Golden::load();
    let model = Model::load(&golden_weights()).expect("golden weights load");
    let (input, _) = golden.tensor("input");
    for isa in Isa::available() {
        let mut engine = Engine::with_isa(model.clone(), 2, isa).expect("engine starts");
        engine.input_mut().copy_from_slice(&input);
        engine.forward();
        for (name, actual) in [("loc", engine.loc()), ("conf", engine.conf())] {
            let (expected, _) = golden.tensor(name);
            let err = max_relative_error(actual, &expected);
            assert!(err <= TOLERANCE, "{isa:?} {name}: relative error {err}");
        }
    }
}

#[test]
fn repeated_forward_passes_give_identical_outputs() {
    let (mut engine, _) = run_engine(2);
    let first = engine.conf().to_vec();
    engine.forward();
    assert_eq!(engine.conf(), &first[..]);
}

#[test]
fn default_boxes_match_pytorch() {
    let arch = Architecture::tiny_ssd();
    let boxes = default_boxes(&arch.default_boxes, arch.input_size);
    assert_eq!(boxes.len(), 8030);
    let (expected, shape) = Golden::load().tensor("priors");
    assert_eq!(shape, vec![8030, 4]);
    for (b, e) in boxes.iter().zip(expected.chunks_exact(4)) {
        for (a, e) in [b.cx, b.cy, b.w, b.h].iter().zip(e) {
            assert!((a - e).abs() < 1e-6, "prior {b:?} vs {e:?}");
        }
    }
}

#[test]
fn engine_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Engine>();
    assert_send::<tinyssd::detect::Detector>();
}
