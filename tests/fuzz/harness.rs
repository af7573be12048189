//! What each fuzz target does with one input, shared by the libFuzzer targets
//! (`tests/fuzz/fuzz_targets/`) and the regression test that replays the committed
//! seeds in `cargo test` (`tests/fuzz_regressions.rs`). A panic is a bug: the readers
//! must answer every input with a value or an error. The checks below assert what a
//! successful read promises.
#![allow(dead_code)] // each includer uses a subset

use std::path::Path;
use tinyssd::detect::{
    DetectConfig, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, Preprocessor, ThresholdProfile,
};
use tinyssd::eval::Problems;
use tinyssd::model::Model;

/// A valid model file (the random-weight golden model) whose header mode 1 replaces.
pub static GOLDEN_WEIGHTS: &[u8] = include_bytes!("../golden/weights.safetensors");

/// The 21 VOC class names, background first.
pub fn class_names() -> Vec<String> {
    tinyssd::model::Architecture::tiny_ssd().class_names.clone()
}

/// The golden file's tensor data (everything after its JSON header).
pub fn golden_data() -> &'static [u8] {
    let (length, rest) = GOLDEN_WEIGHTS
        .split_first_chunk::<8>()
        .expect("the golden file has a header");
    let length = usize::try_from(u64::from_le_bytes(*length)).expect("small header");
    rest.get(length..).expect("the golden header fits")
}

/// The golden file's JSON header.
pub fn golden_header() -> &'static [u8] {
    let rest = GOLDEN_WEIGHTS.get(8..).expect("header length");
    rest.get(..rest.len() - golden_data().len())
        .expect("header")
}

/// The model loader. The first byte picks the mode: even, the rest is the whole file
/// (arbitrary bytes); odd, the rest is a JSON header put in front of the golden
/// model's tensor data (a mutated valid file: names, shapes, dtypes, offsets and
/// metadata all under the fuzzer's control, with real data behind them).
pub fn weights(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let tensors = golden_data();
        let mut file = Vec::with_capacity(8 + rest.len() + tensors.len());
        file.extend_from_slice(&(rest.len() as u64).to_le_bytes());
        file.extend_from_slice(rest);
        file.extend_from_slice(tensors);
        file
    };
    if let Ok(model) = Model::from_bytes(&file) {
        assert_eq!(model.metadata.class_names.len(), 21);
        for conv in &model.convolutions {
            assert_eq!(conv.weight.nrows(), conv.spec.out_channels);
            assert_eq!(conv.bias.len(), conv.spec.out_channels);
            assert!(conv.weight.iter().chain(&conv.bias).all(|v| v.is_finite()));
        }
    }
}

/// Image decoding as `tinyssd detect` does it, then the resize to the network input.
pub fn image_decode(data: &[u8]) {
    if let Ok(image) = tinyssd::detect::decode_image(data) {
        let (width, height) = image.dimensions();
        assert!(width > 0 && height > 0 && width <= MAX_IMAGE_SIDE && height <= MAX_IMAGE_SIDE);
        assert!(u64::from(width) * u64::from(height) <= MAX_IMAGE_PIXELS);
        let normalization = tinyssd::model::Normalization {
            channel_order: tinyssd::model::ChannelOrder::Rgb,
            mean: [0.5; 3],
            std: [0.25; 3],
        };
        let size = 32;
        let mut preprocessor = Preprocessor::new(size, &normalization);
        let mut out = vec![0.0; 3 * size * size];
        preprocessor.run(&image, &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

/// The threshold-profile reader, and what the app does with a profile it read.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    if let Ok(profile) = ThresholdProfile::parse(text, path) {
        let names = class_names();
        let base = DetectConfig::uniform(names.len(), 0.5);
        let config = profile.apply(&base, &names);
        assert_eq!(config.thresholds.len(), names.len());
        assert!(
            config
                .thresholds
                .iter()
                .chain(std::iter::once(&config.nms_iou))
                .all(|t| (0.0..=1.0).contains(t))
        );
        let _ = profile.unknown_classes(&names);
        let back = ThresholdProfile::from_config(&profile.name, &config, &names);
        assert_eq!(back.nms_iou, profile.nms_iou);
    }
}

/// The JSON-lines reader of `eval` (and, on the same text, the VOCdevkit XML reader).
pub fn eval_data(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let names = class_names();
    let mut problems = Problems::default();
    let samples =
        tinyssd::eval::data::parse_json_lines(text, Path::new("fuzz.jsonl"), &names, &mut problems);
    let xml = tinyssd::eval::data::parse_voc_xml(
        text,
        Path::new("fuzz.xml"),
        "fuzz",
        "fuzz.jpg".into(),
        &names,
        &mut problems,
    );
    for sample in samples.iter().chain(&xml) {
        assert!(sample.width > 0 && sample.height > 0);
        let (w, h) = (sample.width as f32, sample.height as f32);
        for object in &sample.objects {
            assert!(object.class_id > 0 && object.class_id < names.len());
            let b = object.bbox;
            assert!(
                [b.x_min, b.y_min, b.x_max, b.y_max]
                    .iter()
                    .all(|v| v.is_finite()),
                "{b:?}"
            );
            assert!(b.x_min < b.x_max && b.y_min < b.y_max, "{b:?}");
            assert!(b.x_min >= -1.0 && b.y_min >= -1.0 && b.x_max <= w + 1.0 && b.y_max <= h + 1.0);
        }
    }
    let _ = problems.summary();
}
