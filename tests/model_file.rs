//! The model loader refuses every kind of bad file with an error that names the problem.

mod common;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use tinyssd::detect::Detector;
use tinyssd::model::{Model, ModelError};

/// A model file as editable parts: tensors (name, dtype, shape, bytes) and metadata.
struct Parts {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

fn golden_bytes() -> Vec<u8> {
    std::fs::read(common::golden_weights()).expect("golden weights are committed")
}

fn golden_parts() -> Parts {
    let bytes = golden_bytes();
    let (_, header) = SafeTensors::read_metadata(&bytes).expect("valid");
    let tensors = SafeTensors::deserialize(&bytes).expect("valid");
    Parts {
        tensors: tensors
            .tensors()
            .into_iter()
            .map(|(name, v)| (name, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect(),
        metadata: header.metadata().clone().unwrap_or_default(),
    }
}

impl Parts {
    fn serialize(&self) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    TensorView::new(*d, s.clone(), b).expect("consistent"),
                )
            })
            .collect();
        safetensors::serialize(views, Some(self.metadata.clone())).expect("serializes")
    }

    fn load(&self) -> Result<Model, ModelError> {
        Model::from_bytes(&self.serialize())
    }

    fn tensor_mut(&mut self, name: &str) -> &mut (String, Dtype, Vec<usize>, Vec<u8>) {
        self.tensors
            .iter_mut()
            .find(|t| t.0 == name)
            .expect("tensor exists")
    }
}

fn message(result: Result<Model, ModelError>) -> String {
    match result {
        Ok(_) => panic!("a bad model file was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn golden_file_loads_and_round_trips() {
    let model = golden_parts().load().expect("loads");
    assert_eq!(model.metadata.class_names.len(), 21);
    assert_eq!(model.convolutions.len(), 5 + 30 + 12);
    assert_eq!(model.metadata.source, "random init, seed 0, for tests");
}

#[test]
fn f32_weights_load_like_f16() {
    let mut parts = golden_parts();
    for t in &mut parts.tensors {
        let values = tinyssd::model::weights::decode_floats(t.1, &t.3).expect("f16");
        t.1 = Dtype::F32;
        t.3 = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    let f32_model = parts.load().expect("f32 loads");
    let f16_model = golden_parts().load().expect("f16 loads");
    assert_eq!(
        f32_model.convolutions[5].weight,
        f16_model.convolutions[5].weight
    );
}

#[test]
fn truncated_file_is_refused() {
    let bytes = golden_bytes();
    for len in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = Model::from_bytes(&bytes[..len]).expect_err("truncated");
        assert!(
            matches!(err, ModelError::NotSafetensors(_)),
            "{len} bytes: {err}"
        );
    }
}

#[test]
fn a_file_that_is_not_safetensors_is_refused() {
    let png = std::fs::read(common::repo_path("assets/chelsea.png")).expect("asset");
    assert!(message(Model::from_bytes(&png)).contains("not a safetensors file"));
    assert!(matches!(
        Model::from_bytes(b"{}"),
        Err(ModelError::NotSafetensors(_))
    ));
}

#[test]
fn a_header_claiming_terabytes_is_refused_without_allocating() {
    let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert!(matches!(
        Model::from_bytes(&bytes),
        Err(ModelError::NotSafetensors(_))
    ));
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let mut parts = golden_parts();
    let t = parts.tensor_mut("fire3.squeeze.weight");
    t.2 = vec![29, 53, 1, 2]; // same number of values, wrong shape
    let msg = message(parts.load());
    assert!(msg.contains("fire3.squeeze.weight"), "{msg}");
    assert!(
        msg.contains("[29, 53, 1, 2]") && msg.contains("[29, 106, 1, 1]"),
        "{msg}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let mut parts = golden_parts();
    parts.tensors.retain(|t| t.0 != "conf.fire9.bias");
    assert_eq!(
        message(parts.load()),
        "tensor 'conf.fire9.bias' is missing from the model file"
    );
}

#[test]
fn unexpected_tensor_is_named() {
    let mut parts = golden_parts();
    parts.tensors.push((
        "fire11.squeeze.weight".into(),
        Dtype::F32,
        vec![1],
        vec![0; 4],
    ));
    assert!(message(parts.load()).contains("fire11.squeeze.weight"));
}

#[test]
fn wrong_dtype_is_named() {
    let mut parts = golden_parts();
    let t = parts.tensor_mut("conv1.bias");
    t.1 = Dtype::I16;
    let msg = message(parts.load());
    assert!(msg.contains("conv1.bias") && msg.contains("I16"), "{msg}");
}

#[test]
fn non_finite_weights_are_refused() {
    let mut parts = golden_parts();
    let t = parts.tensor_mut("conv1.bias");
    t.3[0..2].copy_from_slice(&half::f16::NAN.to_le_bytes());
    assert!(message(parts.load()).contains("conv1.bias"));
}

#[test]
fn missing_metadata_is_named() {
    for key in [
        "architecture",
        "class_names",
        "normalization",
        "default_boxes",
        "source",
        "input_size",
    ] {
        let mut parts = golden_parts();
        parts.metadata.remove(key);
        let msg = message(parts.load());
        assert!(msg.contains(key), "{key}: {msg}");
    }
}

#[test]
fn a_model_for_other_classes_is_refused() {
    let mut parts = golden_parts();
    parts.metadata.insert(
        "class_names".into(),
        r#"["background", "cat", "dog"]"#.into(),
    );
    let err = parts.load().expect_err("wrong class count");
    assert!(
        matches!(
            err,
            ModelError::ClassCount {
                found: 3,
                expected: 21
            }
        ),
        "{err}"
    );
}

#[test]
fn another_architecture_is_refused() {
    let mut parts = golden_parts();
    parts.metadata.insert("architecture".into(), "yolo".into());
    assert!(message(parts.load()).contains("yolo"));
}

#[test]
fn malformed_metadata_values_are_refused() {
    for (key, value) in [
        ("normalization", "{\"channel_order\": \"RGB\"}"),
        (
            "normalization",
            "{\"channel_order\": \"RGB\", \"mean\": [0, 0, 0], \"std\": [0, 1, 1]}",
        ),
        (
            "default_boxes",
            "{\"variances\": [0.1, 0.1, 0.2, 0.2], \"sources\": []}",
        ),
        ("input_size", "512"),
        ("score_threshold", "1.5"),
        ("class_score_thresholds", r#"{"person": 1.5}"#),
        ("class_score_thresholds", r#"{"unicorn": 0.3}"#),
        ("class_score_thresholds", "[0.3]"),
        ("int8_input_scales", r#"{"fire1.squeeze": -0.1}"#),
        ("int8_input_scales", r#"{"fire1.squeeze": 0}"#),
        ("int8_input_scales", r#"{"fire99.squeeze": 0.1}"#),
        ("int8_input_scales", "[0.1]"),
        ("class_names", "not json"),
    ] {
        let mut parts = golden_parts();
        parts.metadata.insert(key.into(), value.into());
        let msg = message(parts.load());
        assert!(msg.contains(key), "{key}={value}: {msg}");
    }
}

#[test]
fn the_model_suggests_a_threshold_per_class_where_it_has_one() {
    let mut parts = golden_parts();
    parts
        .metadata
        .insert("score_threshold".into(), "0.4".into());
    parts.metadata.insert(
        "class_score_thresholds".into(),
        r#"{"person": 0.29, "bottle": 0.1}"#.into(),
    );
    let model = parts.load().expect("loads");
    let config = tinyssd::detect::DetectConfig::for_model(&model.metadata);
    let names = &model.metadata.class_names;
    let threshold = |name: &str| {
        let class = names.iter().position(|n| n == name).expect("a class");
        config.thresholds[class]
    };
    assert_eq!(threshold("person"), 0.29);
    assert_eq!(threshold("bottle"), 0.1);
    assert_eq!(threshold("cat"), 0.4, "the model's one for all elsewhere");
}

#[test]
fn missing_file_names_the_path() {
    let err = Model::load(std::path::Path::new("no/such/model.safetensors")).expect_err("missing");
    assert!(err.to_string().contains("no/such/model.safetensors"));
}

#[test]
fn class_names_must_be_unique_non_empty_and_printable() {
    let names = common::class_names();
    for (index, bad, wanted) in [
        (8, "person", "'person' appears more than once"),
        (8, " ", "a class name is empty"),
        (8, "cat\u{1b}[2J", "holds control characters"),
    ] {
        let mut edited = names.clone();
        edited[index] = bad.to_owned();
        let mut parts = golden_parts();
        parts.metadata.insert(
            "class_names".into(),
            serde_json::to_string(&edited).expect("json"),
        );
        let msg = message(parts.load());
        assert!(
            msg.contains("class_names") && msg.contains(wanted),
            "{bad:?}: {msg}"
        );
    }
}

/// The golden model's class names with `name` in place of "cat" (class 8).
fn with_cat_named(name: &str) -> Parts {
    let mut parts = golden_parts();
    let mut names: Vec<String> =
        serde_json::from_str(&parts.metadata["class_names"]).expect("a list");
    names[8] = name.to_owned();
    parts.metadata.insert(
        "class_names".into(),
        serde_json::to_string(&names).expect("json"),
    );
    parts
}

#[test]
fn class_names_that_only_look_different_are_refused() {
    // "dog" is class 12: a look-alike of it must not pass as a second class.
    for (look_alike, why) in [
        ("dog ", "look the same"),
        ("d\u{043E}g", "look the same"), // a Cyrillic o
        ("do\u{200B}g", "invisible characters"),
        ("\u{FEFF}dog", "invisible characters"),
    ] {
        let msg = message(with_cat_named(look_alike).load());
        assert!(
            msg.contains("class_names") && msg.contains(why),
            "{look_alike:?}: {msg}"
        );
    }
    let long = "x".repeat(65);
    assert!(message(with_cat_named(&long).load()).contains("longer than 64"));
    with_cat_named("chat")
        .load()
        .expect("a different name is fine");
    with_cat_named("猫").load().expect("any script is fine");
}

#[test]
fn an_overlong_or_unprintable_description_is_refused() {
    for bad in ["x".repeat(4097), "trained\u{1b}[2J".to_owned()] {
        let mut parts = golden_parts();
        parts.metadata.insert("source".into(), bad);
        assert!(message(parts.load()).contains("source"));
    }
}

/// Normalisation and weights that pass every range check one by one but overflow the
/// network: refused when the detector is made, not printed as nonsense later.
#[test]
fn a_model_that_overflows_on_a_test_picture_is_refused() {
    let mut tiny_std = golden_parts();
    tiny_std.metadata.insert(
        "normalization".into(),
        r#"{"channel_order": "RGB", "mean": [0.5, 0.5, 0.5], "std": [1e-45, 1e-45, 1e-45]}"#.into(),
    );
    let mut huge_weights = golden_parts();
    let bias = huge_weights.tensor_mut("conv1.bias");
    let count = bias.2.iter().product::<usize>();
    bias.1 = Dtype::F32;
    bias.3 = std::iter::repeat_n(1e30_f32.to_le_bytes(), count)
        .flatten()
        .collect();
    for (parts, what) in [(tiny_std, "input"), (huge_weights, "output")] {
        let model = parts.load().expect("each number is in range");
        let error = Detector::new(model, 1)
            .err()
            .unwrap_or_else(|| panic!("the model whose {what} overflows was accepted"))
            .to_string();
        assert!(
            error.contains(&format!("the network's {what} overflow")),
            "{error}"
        );
    }
}
