//! Around the network: images in, detections out, and detections drawn.

pub mod camera_path;
pub mod detector;
pub mod draw;
pub mod image_io;
pub mod json;
pub mod nms;
pub mod postprocess;
pub mod preprocess;
pub mod profile;
pub mod resample;

pub use detector::{Detector, DetectorError, Timings};
pub use draw::{
    LabelTag, OUTLINE, class_color, draw_detections, label_tags, label_text_color, place_labels,
    tag_text,
};
pub use image_io::{
    IMAGE_EXTENSIONS, ImageReadError, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, PixelBudget, PixelPermit,
    decode_image, has_image_extension, image_files_in, read_image,
};
pub use json::{DetectionJson, serialize_detections};
pub use nms::{keep_one_class_per_object, suppress_across_classes};
pub use postprocess::{DetectConfig, Detection, Postprocessor, passes_threshold};
pub use preprocess::Preprocessor;
pub use profile::{ProfileError, ThresholdProfile};
