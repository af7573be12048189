//! The whole per-image path in one owner: pre-processing, the engine, post-processing.

use super::postprocess::{DetectConfig, Detection, Postprocessor};
use super::preprocess::Preprocessor;
use crate::engine::{Engine, EngineError, PackedModel, Precision};
use crate::model::{Model, ModelError, ModelMetadata};
use image::RgbImage;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the image is empty ({width} x {height} pixels)")]
    EmptyImage { width: u32, height: u32 },
    #[error("the model cannot be used: {0} on a test picture")]
    Overflows(&'static str),
    /// Raised by the pipeline's worker when a processor panics (the panic is contained).
    #[error("the detector crashed on this frame (the next frame is tried)")]
    Panicked,
}

/// The largest raw network output (a box offset or a class logit) a usable model gives
/// on the load-time test picture; NaN fails the comparison too.
const MAX_RAW_OUTPUT: f32 = 1e6;

/// Where one frame's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub preprocess: Duration,
    pub network: Duration,
    pub postprocess: Duration,
}

impl Timings {
    pub fn total(&self) -> Duration {
        self.preprocess + self.network + self.postprocess
    }
}

/// Detects objects in RGB images. `Send`: a worker thread can own one.
pub struct Detector {
    engine: Engine,
    preprocessor: Preprocessor,
    postprocessor: Postprocessor,
}

impl Detector {
    /// `threads` = 0 uses one thread per core.
    pub fn new(model: Model, threads: usize) -> Result<Detector, DetectorError> {
        Detector::from_packed(Arc::new(PackedModel::new(model)), threads)
    }

    /// [`Detector::new`] at `precision` (int8 needs a calibrated model).
    pub fn with_precision(
        model: Model,
        threads: usize,
        precision: Precision,
    ) -> Result<Detector, DetectorError> {
        let packed = PackedModel::with_precision(model, precision)?;
        Detector::from_packed(Arc::new(packed), threads)
    }

    /// A detector on a model packed once and shared with others (the eval workers).
    pub fn from_packed(
        packed: Arc<PackedModel>,
        threads: usize,
    ) -> Result<Detector, DetectorError> {
        let metadata = &packed.model().metadata;
        let preprocessor = Preprocessor::new(metadata.input_size, &metadata.normalization);
        let postprocessor = Postprocessor::new(metadata);
        let mut detector = Detector {
            engine: Engine::from_packed(packed, threads)?,
            preprocessor,
            postprocessor,
        };
        detector.check_in_range()?;
        Ok(detector)
    }

    /// Runs the network once on a picture of black, white and grey stripes: a model
    /// whose numbers overflow there (a tiny normalisation std, weights of 1e30) would
    /// print nonsense for every image, so it is refused at load. One forward pass.
    /// A trained network's outputs are box offsets and class logits of a few tens at
    /// most; above [`MAX_RAW_OUTPUT`] they are overflow in all but name.
    fn check_in_range(&mut self) -> Result<(), DetectorError> {
        let size = self.metadata().input_size as u32;
        let stripes = RgbImage::from_fn(size, size, |x, _| {
            image::Rgb([[0, 255, 128][(x / 8 % 3) as usize]; 3])
        });
        self.preprocessor.run(&stripes, self.engine.input_mut());
        if !self.engine.input_mut().iter().all(|v| v.is_finite()) {
            return Err(DetectorError::Overflows(
                "its normalisation makes the network's input overflow",
            ));
        }
        self.engine.forward();
        let mut outputs = self.engine.loc().iter().chain(self.engine.conf());
        if !outputs.all(|v| v.abs() <= MAX_RAW_OUTPUT) {
            return Err(DetectorError::Overflows(
                "its weights make the network's output overflow",
            ));
        }
        Ok(())
    }

    pub fn from_file(path: &Path, threads: usize) -> Result<Detector, DetectorError> {
        Detector::new(Model::load(path)?, threads)
    }

    pub fn metadata(&self) -> &ModelMetadata {
        &self.engine.model().metadata
    }

    pub fn class_names(&self) -> &[String] {
        &self.metadata().class_names
    }

    /// The model's suggested post-processing settings.
    pub fn default_config(&self) -> DetectConfig {
        DetectConfig::for_model(self.metadata())
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// For benchmarks that drive the network directly.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn detect(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
    ) -> Result<(Vec<Detection>, Timings), DetectorError> {
        let mut detections = Vec::new();
        let timings = self.detect_into(image, config, &mut detections)?;
        Ok((detections, timings))
    }

    /// As [`Detector::detect`], replacing the contents of `detections`; with a
    /// reused vector, frames of one size allocate nothing.
    pub fn detect_into(
        &mut self,
        image: &RgbImage,
        config: &DetectConfig,
        detections: &mut Vec<Detection>,
    ) -> Result<Timings, DetectorError> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(DetectorError::EmptyImage { width, height });
        }
        let start = Instant::now();
        self.preprocessor.run(image, self.engine.input_mut());
        let preprocessed = Instant::now();
        self.engine.forward();
        let networked = Instant::now();
        self.postprocessor.run_into(
            self.engine.loc(),
            self.engine.conf(),
            config,
            width,
            height,
            detections,
        );
        Ok(Timings {
            preprocess: preprocessed - start,
            network: networked - preprocessed,
            postprocess: networked.elapsed(),
        })
    }
}
