//! The whole per-image path in one owner: pre-processing, the engine, post-processing.

use super::postprocess::{DetectConfig, Detection, Postprocessor};
use super::preprocess::Preprocessor;
use crate::engine::{Engine, EngineError, PackedModel};
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
    /// Raised by the pipeline's worker when a processor panics (the panic is contained).
    #[error("the detector crashed on this frame (the next frame is tried)")]
    Panicked,
}

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

    /// A detector on a model packed once and shared with others (the eval workers).
    pub fn from_packed(
        packed: Arc<PackedModel>,
        threads: usize,
    ) -> Result<Detector, DetectorError> {
        let metadata = &packed.model().metadata;
        let preprocessor = Preprocessor::new(metadata.input_size, &metadata.normalization);
        let postprocessor = Postprocessor::new(metadata);
        Ok(Detector {
            engine: Engine::from_packed(packed, threads)?,
            preprocessor,
            postprocessor,
        })
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
