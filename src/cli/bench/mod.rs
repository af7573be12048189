//! `tinyssd bench`: latency of the network alone and of a whole camera-like frame,
//! per thread count, with a per-layer profile and the throughput achieved.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

mod cpu;
mod inputs;
mod memory;
mod report;
mod timing;

use super::ModelArgs;
use anyhow::{Context, bail};
use cpu::CpuPeak;
use inputs::{camera_frame, read_input, save_outputs};
use report::{Report, print_report};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use timing::{Runs, measure, profile_layers};
use tinyssd::detect::Detector;
use tinyssd::engine::ops::gemm::int8::{Int8Isa, Int8Kernel};
use tinyssd::engine::ops::gemm::{Isa, Kernel};
use tinyssd::engine::{PackedModel, Precision};
use tinyssd::files::RunInputs;
use tinyssd::model::Architecture;

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
    /// The int8 micro-kernel to time at --precision int8 (default: the fastest this CPU
    /// runs); one the CPU lacks is refused.
    #[arg(long, value_enum, value_name = "KERNEL")]
    int8_kernel: Option<Int8KernelArg>,
    /// The fp32 micro-kernel to time (default: the fastest this CPU runs), with
    /// --int8-kernel what a CPU without the faster instructions would run; one the CPU
    /// lacks is refused.
    #[arg(long, value_enum, value_name = "KERNEL")]
    fp32_kernel: Option<Fp32KernelArg>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Network input from a safetensors file (tensor `input`, 1x3x300x300), for comparisons.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write the network outputs (`loc`, `conf`) for that input to a safetensors file.
    #[arg(long, value_name = "FILE", requires = "input")]
    save_outputs: Option<PathBuf>,
    /// Replace the --save-outputs file if it exists.
    #[arg(long, requires = "save_outputs")]
    force: bool,
}

/// `--int8-kernel`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Int8KernelArg {
    Portable,
    Avx2,
    AvxVnni,
    Avx512Vnni,
}

impl From<Int8KernelArg> for Int8Kernel {
    fn from(arg: Int8KernelArg) -> Self {
        match arg {
            Int8KernelArg::Portable => Int8Kernel::Portable,
            Int8KernelArg::Avx2 => Int8Kernel::Avx2,
            Int8KernelArg::AvxVnni => Int8Kernel::AvxVnni,
            Int8KernelArg::Avx512Vnni => Int8Kernel::Avx512Vnni,
        }
    }
}

/// `--fp32-kernel`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fp32KernelArg {
    Portable,
    Neon,
    Avx2,
    Avx512,
}

impl From<Fp32KernelArg> for Kernel {
    fn from(arg: Fp32KernelArg) -> Self {
        match arg {
            Fp32KernelArg::Portable => Kernel::Portable,
            Fp32KernelArg::Neon => Kernel::Neon,
            Fp32KernelArg::Avx2 => Kernel::Avx2Fma,
            Fp32KernelArg::Avx512 => Kernel::Avx512,
        }
    }
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

    let runs = Runs {
        warmup: args.warmup,
        timed: args.runs,
    };
    let precision = args.model.precision_for(&model);
    let isa = match args.fp32_kernel.map(Kernel::from) {
        Some(kernel) => Isa::of(kernel)
            .with_context(|| format!("this CPU cannot run the {kernel:?} fp32 kernel"))?,
        None => Isa::detect(),
    };
    let packed = Arc::new(match (precision, args.int8_kernel.map(Int8Kernel::from)) {
        (Precision::Int8, kernel) => {
            let int8 = match kernel {
                Some(kernel) => Int8Isa::of(kernel)
                    .with_context(|| format!("this CPU cannot run the {kernel:?} int8 kernel"))?,
                None => Int8Isa::detect(),
            };
            PackedModel::with_int8_kernels(model, isa, int8)?
        }
        (Precision::Fp32, None) => PackedModel::with_isa(model, isa),
        (Precision::Fp32, Some(_)) => {
            bail!("--int8-kernel times the int8 path: add --precision int8")
        }
    });
    let mut results = Vec::new();
    let mut layers = Vec::new();
    for &threads in &thread_counts {
        let mut detector = Detector::from_packed(packed.clone(), threads)?;
        results.push(measure(&mut detector, &frame_jpeg, runs, input.as_deref())?);
        layers = profile_layers(&mut detector, args.runs);
        // The outputs are the same at every thread count: written once.
        if let (Some(path), Some(_), true) = (&args.save_outputs, &input, results.len() == 1) {
            let engine = detector.engine();
            let model = args.model.path();
            let read = [Some(model.as_path()), args.input.as_deref()];
            let inputs = RunInputs::of(read.into_iter().flatten());
            save_outputs(path, engine.loc(), engine.conf(), args.force, &inputs)?;
        }
    }
    let report = Report {
        macs_per_frame: tinyssd::engine::Plan::new(Architecture::tiny_ssd()).total_macs(),
        macs_counted: report::MACS_COUNTED,
        precision: match (packed.int8_kernel(), packed.fp32_kernel()) {
            (Some(int8), fp32) => format!("int8 ({int8:?} kernel, fp32 layers {fp32:?})"),
            (None, fp32) => format!("{} ({fp32:?} kernel)", Precision::Fp32),
        },
        frame_size: args.frame,
        runs: args.runs,
        cpu: CpuPeak::of_this_machine(),
        results,
        layers,
        peak_rss_mib: memory::peak_rss_mib(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args.layers);
    }
    Ok(ExitCode::SUCCESS)
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
