//! The Rust side against the training side: the engine against the PyTorch twin (same
//! weights, same input, same outputs), and the pre-processing against PIL's resize.

mod common;

use common::{Golden, golden_weights, max_relative_error, repo_path};
use tinyssd::detect::Preprocessor;
use tinyssd::engine::Engine;
use tinyssd::model::{Architecture, ChannelOrder, Model, Normalization, default_boxes};

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
    use tinyssd::engine::PackedModel;
    use tinyssd::engine::ops::gemm::Isa;
    let golden = Golden::load();
    let model = Model::load(&golden_weights()).expect("golden weights load");
    let (input, _) = golden.tensor("input");
    for isa in Isa::available() {
        let packed = std::sync::Arc::new(PackedModel::with_isa(model.clone(), isa));
        let mut engine = Engine::from_packed(packed, 2).expect("engine starts");
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

/// A part of an asset: x, y, width, height.
type Crop = (u32, u32, u32, u32);

/// The references `python -m training.golden` wrote with PIL's `resize(.., BILINEAR)`:
/// (asset, crop, output side).
const PIL_RESIZES: [(&str, Option<Crop>, usize); 4] = [
    ("astronaut", None, 300), // 512x512: both axes shrink by 1.7
    ("coffee", None, 150),    // 600x400: by 4 and 2.7
    ("chelsea", None, 320),   // 451x300: one shrinks, the other grows
    ("chelsea", Some((200, 60, 100, 80)), 160), // both grow
];

#[test]
fn preprocessing_resamples_as_pil_bilinear_does() {
    // Mean 0 and std 1/255: the network input is the resampled pixel values themselves.
    let identity = Normalization {
        channel_order: ChannelOrder::Rgb,
        mean: [0.0; 3],
        std: [1.0 / 255.0; 3],
    };
    for (asset, crop, size) in PIL_RESIZES {
        let mut image = image::open(repo_path(&format!("assets/{asset}.png")))
            .expect("asset")
            .to_rgb8();
        let mut name = asset.to_string();
        if let Some((x, y, w, h)) = crop {
            image = image::imageops::crop_imm(&image, x, y, w, h).to_image();
            name += &format!("_crop_{x}_{y}_{}_{}", x + w, y + h);
        }
        let reference = image::open(repo_path(&format!(
            "tests/golden/pil_bilinear/{name}_{size}.png"
        )))
        .expect("reference written by python -m training.golden")
        .to_rgb8();
        assert_eq!(reference.dimensions(), (size as u32, size as u32));
        let mut out = vec![0.0; 3 * size * size];
        Preprocessor::new(size, &identity).run(&image, &mut out);
        let plane = size * size;
        let (mut worst, mut total) = (0.0_f32, 0.0_f32);
        for (i, pixel) in reference.pixels().enumerate() {
            for c in 0..3 {
                let diff = (out[c * plane + i] - f32::from(pixel[c])).abs();
                worst = worst.max(diff);
                total += diff;
            }
        }
        let mean = total / (3 * plane) as f32;
        // PIL rounds to bytes after each axis: up to one level apart, a third of one on
        // average. Plain two-tap bilinear was 18 to 106 levels off where these shrink.
        assert!(
            worst <= 1.001,
            "{name} to {size}: {worst} levels apart at worst"
        );
        assert!(
            mean <= 0.35,
            "{name} to {size}: {mean} levels apart on average"
        );
    }
}

#[test]
fn engine_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Engine>();
    assert_send::<tinyssd::detect::Detector>();
}
