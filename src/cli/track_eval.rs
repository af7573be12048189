//! `tinyssd track-eval`: how much steadier tracks are than raw detections, on labelled
//! photos filmed by a virtual camera (`tinyssd::eval::sequence`).
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::eval::DataArgs;
use super::{ModelArgs, progress_bar, terminal_safe};
use std::io::Write;
use std::process::ExitCode;
use tinyssd::detect::{DetectConfig, Detector};
use tinyssd::eval::TrackingScore;
use tinyssd::eval::sequence::{FRAME_HEIGHT, FRAME_WIDTH, run_sequences};
use tinyssd::track::TrackerConfig;

#[derive(Debug, clap::Args)]
pub struct TrackEvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// How many photos of the split to film (the first ones with an object in them).
    #[arg(long, default_value_t = 20, value_name = "N")]
    photos: usize,
    /// Frames per photo (a pan and zoom over it; each change of photo is a cut).
    #[arg(long, default_value_t = 90, value_name = "N")]
    frames: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tracker: TrackerArgs,
}

/// The tracker's knobs (`TrackerConfig`), each defaulting to the tracker's own default.
#[derive(Debug, clap::Args)]
pub struct TrackerArgs {
    /// Minimum IoU of a confident detection with a track's predicted box.
    #[arg(long, value_name = "IOU")]
    match_iou: Option<f32>,
    /// How many times its class threshold's odds a detection's odds must be to begin a
    /// track (1: the threshold itself).
    #[arg(long, value_name = "RATIO")]
    new_track_odds: Option<f32>,
    /// Rank a track's candidate boxes by IoU times score (true) or by IoU alone (false).
    #[arg(long, value_name = "BOOL")]
    fuse_score: Option<bool>,
    /// Matched frames in a row before a track may be shown.
    #[arg(long, value_name = "N")]
    confirm_hits: Option<u32>,
    /// Missed frames a track stays on screen.
    #[arg(long, value_name = "N")]
    show_missed: Option<u32>,
    /// Weight of the newest score in the track score (1: the last score alone).
    #[arg(long, value_name = "W")]
    score_smoothing: Option<f32>,
    /// How far below its threshold a shown track's score may fall.
    #[arg(long, value_name = "MARGIN")]
    hysteresis: Option<f32>,
}

impl TrackerArgs {
    /// The tracker these flags ask for; an error names a flag out of its range.
    fn config(&self) -> anyhow::Result<TrackerConfig> {
        let in_unit = |flag: &str, value: Option<f32>, zero_allowed: bool| {
            let Some(v) = value else { return Ok(()) };
            let (low_ok, range) = if zero_allowed {
                (v >= 0.0, "0 to 1")
            } else {
                (v > 0.0, "above 0, at most 1")
            };
            if !(low_ok && v <= 1.0) {
                anyhow::bail!("{flag} must be {range}, not {v}");
            }
            Ok(())
        };
        in_unit("--match-iou", self.match_iou, false)?;
        in_unit("--score-smoothing", self.score_smoothing, false)?;
        in_unit("--hysteresis", self.hysteresis, true)?;
        if let Some(odds) = self.new_track_odds
            && !(odds.is_finite() && odds > 0.0)
        {
            anyhow::bail!("--new-track-odds must be a positive number, not {odds}");
        }
        let mut config = TrackerConfig::default();
        config.match_iou = self.match_iou.unwrap_or(config.match_iou);
        config.new_track_odds = self.new_track_odds.unwrap_or(config.new_track_odds);
        config.fuse_score = self.fuse_score.unwrap_or(config.fuse_score);
        config.confirm_hits = self.confirm_hits.unwrap_or(config.confirm_hits);
        config.show_missed = self.show_missed.unwrap_or(config.show_missed);
        config.score_smoothing = self.score_smoothing.unwrap_or(config.score_smoothing);
        config.hysteresis = self.hysteresis.unwrap_or(config.hysteresis);
        Ok(config)
    }
}

pub fn run(args: &TrackEvalArgs) -> anyhow::Result<ExitCode> {
    if args.photos == 0 || args.frames == 0 {
        anyhow::bail!("--photos and --frames must be at least 1");
    }
    let config = args.tracker.config()?;
    let model = args.model.load_model()?;
    let mut shown = DetectConfig::for_model(&model.metadata);
    args.data.apply_cross_class(&mut shown);
    let dataset = args.data.load(&model.metadata.class_names)?;
    let samples: Vec<_> = dataset
        .samples
        .into_iter()
        .filter(|s| s.objects.iter().any(|o| !o.difficult))
        .take(args.photos)
        .collect();
    let threads = tinyssd::engine::resolve_threads(args.model.threads)?;
    let precision = args.model.precision_for(&model);
    let mut detector = Detector::with_precision(model, threads, precision)?;
    let frames = samples.len() as u64 * u64::from(args.frames);
    let bar = progress_bar(frames, "filming", "frames")?;
    let report = run_sequences(
        &mut detector,
        &samples,
        &shown,
        &config,
        args.frames,
        &|| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} photos of {}, {} frames each at {FRAME_WIDTH}x{FRAME_HEIGHT}, the model's thresholds{}: {} true objects over all frames",
            report.photos,
            terminal_safe(&dataset.source.to_string()),
            args.frames,
            match report.cross_class_iou {
                Some(iou) => format!(", one class per object (IoU {iou})"),
                None => String::new(),
            },
            report.raw.object_frames
        )?;
        writeln!(
            out,
            "| boxes | precision % | recall % | flicker per object per 100 frames | jitter % of the box | ID switches | MOTA % | IDF1 % |"
        )?;
        writeln!(out, "| --- | --- | --- | --- | --- | --- | --- | --- |")?;
        print_row(&mut out, "raw detections", &report.raw)?;
        print_row(&mut out, "tracks", &report.tracked)?;
        writeln!(
            out,
            "tracker: {:.1} us per frame; flicker cut {:.1}x",
            report.tracker_us_per_frame,
            report.raw.flicker_per_100() / report.tracked.flicker_per_100().max(1e-9)
        )?;
    }
    for id in &report.unreadable {
        eprintln!("tinyssd: skipped photo {} (unreadable)", terminal_safe(id));
    }
    Ok(if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_ERROR)
    })
}

fn print_row(out: &mut impl Write, name: &str, score: &TrackingScore) -> std::io::Result<()> {
    // Raw detections carry no IDs: no switches or IDF1 to show.
    let (switches, idf1) = match score.identity {
        Some(identity) => (
            score.id_switches.to_string(),
            format!("{:.1}", 100.0 * identity.f1()),
        ),
        _ => ("-".to_string(), "-".to_string()),
    };
    writeln!(
        out,
        "| {name} | {:.1} | {:.1} | {:.2} | {:.2} | {switches} | {:.1} | {idf1} |",
        100.0 * score.precision(),
        100.0 * score.recall(),
        score.flicker_per_100(),
        score.jitter_percent(),
        100.0 * score.mota()
    )
}
