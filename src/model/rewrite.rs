//! A model file rewritten with metadata entries set: every tensor as it was (same
//! names, dtypes and bytes), the other entries kept. How `tinyssd calibrate` adds its
//! calibration to a model without touching its weights.

use super::weights::ModelError;
use safetensors::SafeTensors;
use std::collections::HashMap;

/// The bytes of the model file `bytes` with `entries` set in its metadata.
pub fn with_metadata_entries(
    bytes: &[u8],
    entries: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<u8>, ModelError> {
    let not_safetensors =
        |e: safetensors::SafeTensorError| ModelError::NotSafetensors(e.to_string());
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
    let tensors = SafeTensors::deserialize(bytes).map_err(not_safetensors)?;
    let mut metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    metadata.extend(entries);
    safetensors::serialize(tensors.tensors(), Some(metadata)).map_err(not_safetensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;

    #[test]
    fn entries_are_set_and_the_weights_kept() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/weights.safetensors");
        let bytes = std::fs::read(&path).expect("golden weights");
        let before = Model::from_bytes(&bytes).expect("loads");
        let scales = r#"{"fire1.squeeze": 0.5}"#.to_string();
        let entries = [
            ("int8_input_scales".to_string(), scales),
            ("source".to_string(), "rewritten".to_string()),
        ];
        let after = Model::from_bytes(&with_metadata_entries(&bytes, entries).expect("rewrites"))
            .expect("loads");
        assert_eq!(after.metadata.source, "rewritten");
        assert_eq!(
            after.metadata.int8_input_scales.get("fire1.squeeze"),
            Some(&0.5)
        );
        assert_eq!(after.metadata.class_names, before.metadata.class_names);
        for (a, b) in after.convolutions.iter().zip(&before.convolutions) {
            assert_eq!(
                (&a.weight, &a.bias),
                (&b.weight, &b.bias),
                "{}",
                a.spec.name
            );
        }
        assert!(with_metadata_entries(b"not a model", []).is_err());
    }
}
