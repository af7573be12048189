//! What `tinyssd bench` prints: the table per thread count and the layer profile.

use super::cpu::CpuPeak;
use super::timing::{LayerTime, ThreadResult};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    /// Counted as if every convolution were direct (see [`MACS_COUNTED`]).
    pub macs_per_frame: usize,
    /// How the multiply-accumulates behind GMAC/s and % of peak are counted.
    pub macs_counted: &'static str,
    /// `--precision`: fp32, or int8 (the calibrated convolutions; see `bench --layers`).
    pub precision: String,
    /// Width and height of the decoded camera-like frame.
    pub frame_size: (u32, u32),
    pub runs: usize,
    pub cpu: CpuPeak,
    pub results: Vec<ThreadResult>,
    /// Mean time per layer at the largest thread count.
    pub layers: Vec<LayerTime>,
    /// The run's peak resident memory (MiB), where the system says.
    pub peak_rss_mib: Option<f64>,
}

/// What the GMAC/s figures are: said in the text and in the JSON, since with Winograd
/// they can pass the hardware's peak.
pub const MACS_COUNTED: &str = "effective: the multiply-accumulates of direct convolution \
     per second, so the multiplications Winograd saves count as work done and % of peak can \
     pass 100";

/// Prints the report as text, with the layer profile when `layers`.
pub fn print_report(report: &Report, layers: bool) {
    let cpu = &report.cpu;
    println!(
        "{:.2} M multiply-accumulates per frame at {}, {} timed runs, whole frames {}x{}; CPU: {} at {:.2} GHz, peak {:.1} GMAC/s per core ({} fp32 FMA/cycle)",
        report.macs_per_frame as f64 / 1e6,
        report.precision,
        report.runs,
        report.frame_size.0,
        report.frame_size.1,
        cpu.model,
        cpu.ghz,
        cpu.gmac_per_s_per_core,
        cpu.fma_per_cycle
    );
    println!("GMAC/s and % of peak are {MACS_COUNTED}.");
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
    if let Some(mib) = report.peak_rss_mib {
        println!("peak memory (RSS): {mib:.1} MiB");
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
