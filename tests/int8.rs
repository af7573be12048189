//! The int8 path end to end: the shipped (calibrated) model at int8 against fp32,
//! every int8 kernel against the portable one over the whole network, and the errors
//! for a model without a calibration.

mod common;

use common::{assert_fails_saying, golden_weights, repo_path, stdout, tinyssd};
use std::sync::Arc;
use tinyssd::detect::{Detection, Detector, read_image};
use tinyssd::engine::ops::gemm::Isa;
use tinyssd::engine::ops::gemm::int8::{Int8Isa, Int8Kernel};
use tinyssd::engine::{Engine, EngineError, PackedModel, Precision, PrecisionChoice};
use tinyssd::model::{Model, shipped_model_path};

fn shipped() -> Model {
    Model::load(&shipped_model_path()).expect("the shipped model")
}

fn detections(precision: Precision, photo: &str) -> Vec<Detection> {
    let mut detector = Detector::with_precision(shipped(), 1, precision).expect("a detector");
    let image = read_image(&repo_path(&format!("assets/{photo}.png"))).expect("the photo");
    let config = detector.default_config();
    detector.detect(&image, &config).expect("detects").0
}

/// What a user sees at int8 is what fp32 shows: on the demo's photos every fp32 box at
/// or above a score of 0.3 has an int8 box of its class on the same place (IoU >= 0.8)
/// with a score within 0.08, and the other way round.
#[test]
fn int8_detections_match_fp32_on_the_demo_photos() {
    assert!(
        !shipped().metadata.int8_input_scales.is_empty(),
        "the shipped model carries its int8 calibration"
    );
    let mut compared = 0;
    for photo in ["astronaut", "chelsea", "coffee"] {
        let fp32 = detections(Precision::Fp32, photo);
        let int8 = detections(Precision::Int8, photo);
        for (these, those, what) in [
            (&fp32, &int8, "fp32 -> int8"),
            (&int8, &fp32, "int8 -> fp32"),
        ] {
            for found in these.iter().filter(|d| d.score >= 0.3) {
                let twin = those
                    .iter()
                    .filter(|d| d.class_id == found.class_id)
                    .max_by(|a, b| a.bbox.iou(&found.bbox).total_cmp(&b.bbox.iou(&found.bbox)));
                let twin = twin.unwrap_or_else(|| panic!("{photo} {what}: no twin for {found:?}"));
                assert!(
                    twin.bbox.iou(&found.bbox) >= 0.8,
                    "{photo} {what}: {found:?} vs {twin:?}"
                );
                assert!(
                    (twin.score - found.score).abs() <= 0.08,
                    "{photo} {what}: {found:?} vs {twin:?}"
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared >= 4,
        "the photos have boxes to compare ({compared})"
    );
}

/// Every int8 kernel this CPU has computes the whole network bit for bit as the
/// portable one does (integer sums, the same scaling): the network-level parity.
#[test]
fn every_int8_kernel_runs_the_network_alike() {
    let outputs = |isa: Int8Isa| {
        let packed =
            PackedModel::with_int8_kernels(shipped(), Isa::detect(), isa).expect("calibrated");
        assert_eq!(packed.int8_kernel(), Some(isa.kernel()));
        let mut engine = Engine::from_packed(Arc::new(packed), 2).expect("engine");
        for (i, v) in engine.input_mut().iter_mut().enumerate() {
            *v = ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
        }
        engine.forward();
        (engine.loc().to_vec(), engine.conf().to_vec())
    };
    let available = Int8Isa::available();
    let reference = outputs(available[0]);
    assert!(
        reference
            .0
            .iter()
            .chain(&reference.1)
            .all(|v| v.is_finite())
    );
    for &isa in &available[1..] {
        assert!(
            outputs(isa) == reference,
            "{:?} differs from the portable kernel",
            isa.kernel()
        );
    }
    for kernel in [
        Int8Kernel::Avx2,
        Int8Kernel::AvxVnni,
        Int8Kernel::Avx512Vnni,
    ] {
        if Int8Isa::of(kernel).is_none() {
            eprintln!("skipped: this CPU has no {kernel:?}");
        }
    }
}

#[test]
fn a_model_without_calibration_is_refused_at_int8_and_auto_runs_it_at_fp32() {
    let golden = Model::load(&golden_weights()).expect("golden weights");
    assert!(matches!(
        PackedModel::with_precision(golden.clone(), Precision::Int8),
        Err(EngineError::NotCalibrated)
    ));
    assert_eq!(PrecisionChoice::Auto.resolve(&golden), Precision::Fp32);
    let golden = golden_weights();
    let golden = golden.to_str().expect("a UTF-8 path");
    let out = tinyssd(&[
        "detect",
        "assets/chelsea.png",
        "--model",
        golden,
        "--precision",
        "int8",
    ]);
    assert_fails_saying(&out, "no int8 calibration");
    assert_fails_saying(&out, "tinyssd calibrate");
}

/// `calibrate` writes a calibrated copy that runs at int8, never over an existing file
/// without --force nor over the model it reads, and says what it could not use.
#[test]
fn calibrate_writes_a_copy_that_runs_at_int8() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("calibrated.safetensors");
    let out_text = out.to_str().expect("a UTF-8 path");
    let golden = golden_weights();
    let golden = golden.to_str().expect("a UTF-8 path");
    let missing = dir.path().join("missing.png");
    let run = tinyssd(&["calibrate", "assets", "--model", golden, "--out", out_text]);
    assert_eq!(run.status.code(), Some(0), "{}", common::stderr(&run));
    assert!(stdout(&run).contains("calibrated on"), "{}", stdout(&run));
    let model = Model::load(&out).expect("the calibrated copy loads");
    let scales = &model.metadata.int8_input_scales;
    assert_eq!(scales.len(), model.convolutions.len(), "every convolution");
    assert_eq!(
        scales.get("conv1"),
        Some(&(1.0 / 255.0)),
        "the image is quantised back to its pixels"
    );
    assert!(stdout(&run).contains("at fp32: none"), "{}", stdout(&run));
    let packed = PackedModel::with_precision(model, Precision::Int8).expect("runs at int8");
    assert_eq!(packed.precision(), Precision::Int8);
    let steps = packed.plan().steps.iter().enumerate();
    let convolutions: Vec<usize> = steps.filter(|(_, s)| s.macs > 0).map(|(i, _)| i).collect();
    assert!(convolutions.iter().all(|&i| packed.step_is_int8(i)));

    let keeping_at_fp32 = |name: &str| {
        let args = ["calibrate", "assets", "--model", golden, "--out", out_text];
        tinyssd(&[&args[..], &["--force", "--keep-fp32", name]].concat())
    };
    let keep = keeping_at_fp32("conv1");
    assert_eq!(keep.status.code(), Some(0), "{}", common::stderr(&keep));
    assert!(
        stdout(&keep).contains("at fp32: conv1"),
        "{}",
        stdout(&keep)
    );
    let model = Model::load(&out).expect("the calibrated copy loads");
    assert!(!model.metadata.int8_input_scales.contains_key("conv1"));

    let again = tinyssd(&["calibrate", "assets", "--model", golden, "--out", out_text]);
    assert_fails_saying(&again, "exists already");
    let over_input = tinyssd(&[
        "calibrate",
        "assets",
        "--model",
        golden,
        "--out",
        golden,
        "--force",
    ]);
    assert_fails_saying(&over_input, "one of this run's inputs");
    let nothing = tinyssd(&[
        "calibrate",
        missing.to_str().expect("UTF-8"),
        "--model",
        golden,
        "--out",
        out_text,
        "--force",
    ]);
    assert_fails_saying(&nothing, "no such file or folder");
    let unknown = keeping_at_fp32("fire99");
    assert_fails_saying(&unknown, "not a convolution");
}
