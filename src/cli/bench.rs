//! `tinyssd bench`: latency of the network alone and of a whole camera-like frame,
//! per thread count, with a per-layer profile and the throughput achieved.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::ModelArgs;
use anyhow::{Context, bail};
use serde::Serialize;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tinyssd::detect::{Detector, Timings};
use tinyssd::model::Architecture;
use tinyssd::model::architecture::BOX_COORDS;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 100, value_name = "N")]
    runs: usize,
    /// Untimed runs before each measurement.
    #[arg(long, default_value_t = 10, value_name = "N")]
    warmup: usize,
    /// Photo for the whole-frame measurement, re-encoded once as a JPEG of `--frame` size.
    #[arg(long, default_value = "assets/astronaut.png", value_name = "IMAGE")]
    image: PathBuf,
    /// Size of the camera-like frame the whole-frame measurement decodes every time.
    #[arg(long, default_value = "640x480", value_name = "WIDTHxHEIGHT", value_parser = parse_frame_size)]
    frame: (u32, u32),
    /// Print the time of every layer.
    #[arg(long)]
    layers: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Network input from a safetensors file (tensor `input`, 1x3x300x300), for comparisons.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write the network outputs (`loc`, `conf`) for that input to a safetensors file.
    #[arg(long, value_name = "FILE", requires = "input")]
    save_outputs: Option<PathBuf>,
}

/// Milliseconds over the timed runs.
#[derive(Debug, Clone, Copy, Serialize)]
struct Latency {
    median: f64,
    p90: f64,
    min: f64,
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
struct FrameParts {
    decode: Latency,
    preprocess: Latency,
    network: Latency,
    postprocess: Latency,
}

#[derive(Debug, Serialize)]
struct ThreadResult {
    threads: usize,
    network: Latency,
    /// Decode + pre-processing + network + post-processing.
    frame: Latency,
    frame_parts: FrameParts,
    /// Multiply-accumulates per second at the network's median latency, in billions.
    gmac_per_s: f64,
}

#[derive(Debug, Serialize)]
struct LayerTime {
    name: String,
    method: &'static str,
    ms: f64,
    share: f64,
    macs: usize,
    gmac_per_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    macs_per_frame: usize,
    /// Width and height of the decoded camera-like frame.
    frame_size: (u32, u32),
    runs: usize,
    cpu: CpuPeak,
    results: Vec<ThreadResult>,
    /// Mean time per layer at the largest thread count.
    layers: Vec<LayerTime>,
}

/// The CPU's fp32 multiply-accumulate peak, from /proc/cpuinfo.
#[derive(Debug, Serialize)]
struct CpuPeak {
    model: String,
    ghz: f64,
    fma_per_cycle: usize,
    gmac_per_s_per_core: f64,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let model = args.model.load_model()?;
    let input = args.input.as_deref().map(read_input).transpose()?;
    let frame_jpeg = camera_frame(&args.image, args.frame)?;
    // 0 threads: every count from 1 up to the one a run with 0 threads uses.
    let thread_counts: Vec<usize> = match args.model.threads {
        0 => (1..=tinyssd::engine::resolve_threads(0)?).collect(),
        n => vec![n],
    };

    let mut results = Vec::new();
    let mut layers = Vec::new();
    for &threads in &thread_counts {
        let mut detector = Detector::new(model.clone(), threads)?;
        results.push(measure(&mut detector, &frame_jpeg, args, input.as_deref())?);
        layers = profile_layers(&mut detector, args);
        if let (Some(path), Some(_)) = (&args.save_outputs, &input) {
            save_outputs(path, detector.engine().loc(), detector.engine().conf())?;
        }
    }
    let report = Report {
        macs_per_frame: tinyssd::engine::Plan::new(Architecture::tiny_ssd()).total_macs(),
        frame_size: args.frame,
        runs: args.runs,
        cpu: cpu_peak(),
        results,
        layers,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.layers);
    }
    Ok(ExitCode::SUCCESS)
}

fn measure(
    detector: &mut Detector,
    frame_jpeg: &[u8],
    args: &BenchArgs,
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
    for run in 0..args.warmup + args.runs {
        let start = Instant::now();
        let frame = decode()?;
        let decoded = start.elapsed();
        let (_, timings) = detector.detect(&frame, &config)?;
        if run >= args.warmup {
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
    for run in 0..args.warmup + args.runs {
        let start = Instant::now();
        engine.forward();
        if run >= args.warmup {
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

fn profile_layers(detector: &mut Detector, args: &BenchArgs) -> Vec<LayerTime> {
    let engine = detector.engine_mut();
    let mut times = vec![Duration::ZERO; engine.plan().steps.len()];
    for _ in 0..args.runs {
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
            let ms = time.as_secs_f64() * 1e3 / args.runs as f64;
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

fn parse_frame_size(text: &str) -> Result<(u32, u32), String> {
    let side = |s: &str| match s.parse::<u32>() {
        Ok(n) if (1..=tinyssd::detect::MAX_IMAGE_SIDE).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not WIDTHxHEIGHT with sides from 1 to {}",
            tinyssd::detect::MAX_IMAGE_SIDE
        )),
    };
    let (width, height) = text
        .split_once('x')
        .ok_or_else(|| format!("'{text}' is not WIDTHxHEIGHT (as 640x480)"))?;
    Ok((side(width)?, side(height)?))
}

/// The photo resized to width x height and JPEG-encoded, as a webcam delivers MJPEG.
fn camera_frame(path: &Path, (width, height): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let path = if path.exists() {
        path.to_path_buf()
    } else {
        tinyssd::bundled_path(&path.to_string_lossy())
    };
    let photo = image::open(&path)
        .with_context(|| format!("{}: not a readable image", path.display()))?
        .resize_exact(width, height, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut jpeg = Vec::new();
    photo.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
    Ok(jpeg)
}

fn read_input(path: &Path) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
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

fn save_outputs(path: &Path, loc: &[f32], conf: &[f32]) -> anyhow::Result<()> {
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
    safetensors::serialize_to_file(views, None, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn cpu_peak() -> CpuPeak {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let ghz = field("cpu MHz").parse::<f64>().unwrap_or(0.0) / 1e3;
    let flags = field("flags");
    let has = |flag: &str| flags.split(' ').any(|f| f == flag);
    // Two FMA pipes per core: 512 bits wide on Zen 5 (AMD family 26) with AVX-512,
    // 256 bits (or AVX-512 double-pumped, as on Zen 4) elsewhere; 4 lanes without FMA.
    let zen5 = field("vendor_id") == "AuthenticAMD" && field("cpu family") == "26";
    let fma_per_cycle = match (has("avx512f") && zen5, has("fma")) {
        (true, _) => 32,
        (false, true) => 16,
        (false, false) => 4,
    };
    CpuPeak {
        model: field("model name"),
        ghz,
        fma_per_cycle,
        gmac_per_s_per_core: ghz * fma_per_cycle as f64,
    }
}

fn print_report(report: &Report, layers: bool) {
    let cpu = &report.cpu;
    println!(
        "{:.2} M multiply-accumulates per frame, {} timed runs, whole frames {}x{}; CPU: {} at {:.2} GHz, peak {:.1} GMAC/s per core ({} fp32 FMA/cycle)",
        report.macs_per_frame as f64 / 1e6,
        report.runs,
        report.frame_size.0,
        report.frame_size.1,
        cpu.model,
        cpu.ghz,
        cpu.gmac_per_s_per_core,
        cpu.fma_per_cycle
    );
    println!();
    println!(
        "threads | network ms (median / p90 / min) | GMAC/s | % of peak | whole frame ms (median / p90) | decode | pre | net | post"
    );
    for r in &report.results {
        let peak = cpu.gmac_per_s_per_core * r.threads as f64;
        let p = &r.frame_parts;
        println!(
            "{:>7} | {:>8.2} / {:>6.2} / {:>6.2}        | {:>6.1} | {:>8.1}% | {:>8.2} / {:>6.2}             | {:>6.2} | {:>4.2} | {:>4.2} | {:>4.2}",
            r.threads,
            r.network.median,
            r.network.p90,
            r.network.min,
            r.gmac_per_s,
            100.0 * r.gmac_per_s / peak.max(f64::MIN_POSITIVE),
            r.frame.median,
            r.frame.p90,
            p.decode.median,
            p.preprocess.median,
            p.network.median,
            p.postprocess.median,
        );
    }
    if layers {
        let threads = report.results.last().map_or(0, |r| r.threads);
        println!();
        println!("per layer, {threads} thread(s), mean over the runs:");
        println!(
            "{:<22} {:<14} {:>8} {:>7} {:>9} {:>7}",
            "layer", "method", "ms", "share", "MMAC", "GMAC/s"
        );
        for l in &report.layers {
            println!(
                "{:<22} {:<14} {:>8.3} {:>6.1}% {:>9.2} {:>7.1}",
                l.name,
                l.method,
                l.ms,
                100.0 * l.share,
                l.macs as f64 / 1e6,
                l.gmac_per_s
            );
        }
    }
}
