//! A model file rewritten with metadata entries set: the tensors' bytes and their
//! header entries as they were, the other metadata kept. How `tinyssd calibrate` adds
//! its calibration to a model without touching its weights. The same file and entries
//! always give the same bytes (the header is rewritten in the order it was read, not
//! through a hash map).

use super::weights::ModelError;
use safetensors::SafeTensors;
use serde_json::{Map, Value};

/// The key of a safetensors header's metadata.
const METADATA: &str = "__metadata__";

/// The bytes of the model file `bytes` with `entries` set in its metadata.
pub fn with_metadata_entries(
    bytes: &[u8],
    entries: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<u8>, ModelError> {
    let not_safetensors = |reason: String| ModelError::NotSafetensors(reason);
    let (header_len, _) =
        SafeTensors::read_metadata(bytes).map_err(|e| not_safetensors(e.to_string()))?;
    let header_end = 8 + header_len;
    let (Some(header), Some(data)) = (bytes.get(8..header_end), bytes.get(header_end..)) else {
        return Err(not_safetensors("the header runs past the file".to_string()));
    };
    let mut header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| not_safetensors(e.to_string()))?;
    let metadata = header
        .entry(METADATA)
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return Err(not_safetensors(format!("its {METADATA} is not an object")));
    };
    metadata.extend(entries.into_iter().map(|(k, v)| (k, Value::String(v))));
    let mut text = serde_json::to_vec(&header).map_err(|e| not_safetensors(e.to_string()))?;
    // The data starts 8-byte aligned, padded with spaces as safetensors pads it.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + data.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    Ok(out)
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
        let again = |value: &str| {
            with_metadata_entries(&bytes, [("source".to_string(), value.to_string())])
                .expect("rewrites")
        };
        assert_eq!(again("same"), again("same"), "the same bytes every time");
    }
}
