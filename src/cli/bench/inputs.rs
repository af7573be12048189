//! The files `tinyssd bench` reads and writes: the photo made into a camera-like
//! frame, and the optional network input and outputs (safetensors) for comparisons.

use anyhow::{Context, bail};
use std::io::Cursor;
use std::path::Path;
use tinyssd::files::{AtomicOutput, RunInputs, read_capped};
use tinyssd::model::Architecture;
use tinyssd::model::architecture::BOX_COORDS;

/// Largest `--input` file read: an F32 input for Tiny SSD is about 1 MB.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// The photo resized to width x height and JPEG-encoded, as a webcam delivers MJPEG.
pub fn camera_frame(path: &Path, (width, height): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let path = if path.exists() {
        path.to_path_buf()
    } else {
        tinyssd::bundled_path(&path.to_string_lossy())
    };
    let photo = tinyssd::detect::read_image(&path).with_context(|| path.display().to_string())?;
    let frame =
        image::imageops::resize(&photo, width, height, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    frame.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
    Ok(jpeg)
}

/// The network input, tensor `input` of a safetensors file, in the network's shape.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = read_capped(path, MAX_INPUT_BYTES, "a network input")
        .with_context(|| format!("cannot read {}", path.display()))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let view = tensors
        .tensor("input")
        .with_context(|| format!("{}: no tensor named 'input'", path.display()))?;
    let arch = Architecture::tiny_ssd();
    let shape = [1, arch.in_channels, arch.input_size, arch.input_size];
    if view.shape() != shape {
        bail!(
            "{}: 'input' has shape {:?}, expected {shape:?}",
            path.display(),
            view.shape()
        );
    }
    tinyssd::model::weights::decode_floats(view.dtype(), view.data())
        .with_context(|| format!("{}: 'input' must be F16 or F32", path.display()))
}

/// Writes the network outputs as tensors `loc` [boxes, 4] and `conf` [boxes, classes];
/// a file already at `path` is replaced only when `replace`, one of `inputs` never.
pub fn save_outputs(
    path: &Path,
    loc: &[f32],
    conf: &[f32],
    replace: bool,
    inputs: &RunInputs,
) -> anyhow::Result<()> {
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (loc_bytes, conf_bytes) = (bytes(loc), bytes(conf));
    let boxes = loc.len() / BOX_COORDS;
    let views = [
        (
            "loc",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![boxes, BOX_COORDS],
                &loc_bytes,
            )?,
        ),
        (
            "conf",
            safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![boxes, conf.len() / boxes],
                &conf_bytes,
            )?,
        ),
    ];
    let cannot = || format!("cannot write {}", path.display());
    let bytes = safetensors::serialize(views, None).with_context(cannot)?;
    let mut out = AtomicOutput::create(path, replace, inputs)
        .map_err(|error| crate::cli::write_error(path, error))?;
    std::io::Write::write_all(&mut out, &bytes).with_context(cannot)?;
    out.commit()
        .map_err(|error| crate::cli::write_error(path, error))
}
