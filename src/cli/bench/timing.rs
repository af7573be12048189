//! The timed runs: whole frames as the app's worker sees them, the network alone, and
//! the network layer by layer.

use serde::Serialize;
use std::time::{Duration, Instant};
use tinyssd::detect::{Detector, Timings};

/// How many runs a measurement makes.
#[derive(Debug, Clone, Copy)]
pub struct Runs {
    /// Untimed runs first.
    pub warmup: usize,
    pub timed: usize,
}

impl Runs {
    fn total(self) -> usize {
        self.warmup + self.timed
    }

    fn is_timed(self, run: usize) -> bool {
        run >= self.warmup
    }
}

/// Milliseconds over the timed runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub median: f64,
    pub p90: f64,
    pub min: f64,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let last = samples.len().saturating_sub(1);
        let at = |q: f64| {
            samples
                .get((last as f64 * q).round() as usize)
                .map_or(0.0, |&d| ms(d))
        };
        Latency {
            median: at(0.5),
            p90: at(0.9),
            min: at(0.0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FrameParts {
    pub decode: Latency,
    pub preprocess: Latency,
    pub network: Latency,
    pub postprocess: Latency,
}

#[derive(Debug, Serialize)]
pub struct ThreadResult {
    pub threads: usize,
    pub network: Latency,
    /// Decode + pre-processing + network + post-processing.
    pub frame: Latency,
    pub frame_parts: FrameParts,
    /// Multiply-accumulates per second at the network's median latency, in billions.
    pub gmac_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct LayerTime {
    pub name: String,
    pub method: &'static str,
    pub ms: f64,
    pub share: f64,
    pub macs: usize,
    pub gmac_per_s: f64,
}

/// Times whole frames (decoding `frame_jpeg` each time) and then the network alone, on
/// `input` when given.
pub fn measure(
    detector: &mut Detector,
    frame_jpeg: &[u8],
    runs: Runs,
    input: Option<&[f32]>,
) -> anyhow::Result<ThreadResult> {
    let config = detector.default_config();
    let decode = || -> anyhow::Result<image::RgbImage> {
        Ok(image::load_from_memory_with_format(frame_jpeg, image::ImageFormat::Jpeg)?.to_rgb8())
    };

    // The whole frame, as the app's worker sees it.
    let mut decode_times = Vec::new();
    let mut parts: Vec<Timings> = Vec::new();
    let mut frame_times = Vec::new();
    for run in 0..runs.total() {
        let start = Instant::now();
        let frame = decode()?;
        let decoded = start.elapsed();
        let (_, timings) = detector.detect(&frame, &config)?;
        if runs.is_timed(run) {
            decode_times.push(decoded);
            frame_times.push(start.elapsed());
            parts.push(timings);
        }
    }

    // The network alone.
    let engine = detector.engine_mut();
    if let Some(input) = input {
        engine.input_mut().copy_from_slice(input);
    }
    let mut network_times = Vec::new();
    for run in 0..runs.total() {
        let start = Instant::now();
        engine.forward();
        if runs.is_timed(run) {
            network_times.push(start.elapsed());
        }
    }
    let network = Latency::of(network_times);
    let macs = engine.plan().total_macs() as f64;
    let part = |f: fn(&Timings) -> Duration| Latency::of(parts.iter().map(f).collect());
    Ok(ThreadResult {
        threads: engine.threads(),
        network,
        frame: Latency::of(frame_times),
        frame_parts: FrameParts {
            decode: Latency::of(decode_times),
            preprocess: part(|t| t.preprocess),
            network: part(|t| t.network),
            postprocess: part(|t| t.postprocess),
        },
        gmac_per_s: macs / (network.median * 1e6),
    })
}

/// The mean time of each layer over `runs` timed runs of the network.
pub fn profile_layers(detector: &mut Detector, runs: usize) -> Vec<LayerTime> {
    let engine = detector.engine_mut();
    let mut times = vec![Duration::ZERO; engine.plan().steps.len()];
    for _ in 0..runs {
        engine.forward_profiled(&mut times);
    }
    let total: Duration = times.iter().sum();
    engine
        .plan()
        .steps
        .iter()
        .zip(&times)
        .enumerate()
        .map(|(i, (step, time))| {
            let ms = time.as_secs_f64() * 1e3 / runs as f64;
            LayerTime {
                name: step.name.clone(),
                method: engine.step_method(i),
                ms,
                share: time.as_secs_f64() / total.as_secs_f64().max(f64::MIN_POSITIVE),
                macs: step.macs,
                gmac_per_s: step.macs as f64 / (ms * 1e6).max(f64::MIN_POSITIVE),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_takes_nearest_rank_quantiles() {
        let samples = (1..=10).map(Duration::from_millis).rev().collect();
        let latency = Latency::of(samples);
        assert_eq!((latency.min, latency.median, latency.p90), (1.0, 6.0, 9.0));
        assert_eq!(Latency::of(Vec::new()).median, 0.0);
    }
}
