//! `--source video:FILE`: a clip made here with ffmpeg (from frames drawn by the test,
//! no downloaded media) plays at its rate with the right colours the right way up,
//! loops, and survives a truncated file, a file that is not a video and a machine
//! without ffmpeg; `tinyssd detect` draws one into a new MP4 and writes its tracks.
//! Skipped, with a note, where ffmpeg is not installed.

mod common;

use common::app::FakeProcessor;
use common::{listing, stderr};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinyssd::detect::DetectConfig;
use tinyssd::pipeline::{FrameSource, Pipeline, Playback, SourceSpec, VideoSource};

const WIDTH: u32 = 160;
const HEIGHT: u32 = 120;
const FRAMES: u32 = 20;
const FPS: u32 = 10;

fn have_ffmpeg() -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("-version")
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let found = runs("ffmpeg") && runs("ffprobe");
    if !found {
        eprintln!("skipped: ffmpeg/ffprobe are not installed (scripts/setup.sh installs them)");
    }
    found
}

/// Top left red, top right blue, the bottom half white: colours and orientation in one.
/// A strip of noise along the bottom, different in each frame, keeps every frame's
/// share of the file large (so that a truncated copy still holds whole frames).
fn pattern(frame: u32) -> RgbImage {
    let mut noise = u32::wrapping_mul(frame + 1, 2_654_435_761);
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        if y >= HEIGHT - 16 {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let [r, g, b, _] = noise.to_le_bytes();
            return Rgb([r, g, b]);
        }
        match (x < WIDTH / 2, y < HEIGHT / 2) {
            (true, true) => Rgb([230, 20, 20]),
            (false, true) => Rgb([20, 20, 230]),
            _ => Rgb([240, 240, 240]),
        }
    })
}

/// An H.264 MP4 of [`FRAMES`] frames of the pattern at [`FPS`], index at the front (so
/// that a truncated copy still starts).
fn make_clip(dir: &Path) -> PathBuf {
    for index in 0..FRAMES {
        pattern(index)
            .save(dir.join(format!("frame{index:03}.png")))
            .expect("frame written");
    }
    let clip = dir.join("clip.mp4");
    let mut encode = Command::new("ffmpeg");
    encode
        .args(["-v", "error", "-y", "-framerate", &FPS.to_string(), "-i"])
        .arg(dir.join("frame%03d.png"))
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "5",
            "-movflags",
            "+faststart",
        ])
        .arg(&clip);
    run_ffmpeg(encode);
    clip
}

/// Runs an ffmpeg command the tests need to succeed, failing with what ffmpeg said.
fn run_ffmpeg(mut command: Command) {
    let out = command.output().expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test clip, in a folder of its own that lives as long as the first value; None
/// (the test is skipped, with a note) where ffmpeg is not installed.
fn clip_in_temp_dir() -> Option<(tempfile::TempDir, PathBuf)> {
    if !have_ffmpeg() {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = make_clip(dir.path());
    Some((dir, clip))
}

fn near(pixel: &Rgb<u8>, wanted: [u8; 3]) -> bool {
    pixel
        .0
        .iter()
        .zip(wanted)
        .all(|(&a, b)| a.abs_diff(b) <= 40)
}

fn assert_pattern(frame: &RgbImage) {
    assert_eq!(frame.dimensions(), (WIDTH, HEIGHT));
    for (x, y, wanted) in [
        (WIDTH / 4, HEIGHT / 4, [230, 20, 20]),
        (WIDTH * 3 / 4, HEIGHT / 4, [20, 20, 230]),
        (WIDTH / 2, HEIGHT * 3 / 4, [240, 240, 240]),
    ] {
        let pixel = frame.get_pixel(x, y);
        assert!(
            near(pixel, wanted),
            "({x}, {y}) is {pixel:?}, not {wanted:?}"
        );
    }
}

#[test]
fn a_clip_plays_at_its_rate_the_right_way_up_and_loops() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let mut source = VideoSource::open(&clip, None, Arc::default()).expect("a video");
    assert_eq!(
        source.frame_interval(),
        Some(Duration::from_millis(1000 / u64::from(FPS)))
    );
    assert!(source.description().contains("160 x 120 at 10.0 fps"));
    // Past the end twice: the loop never shows as an error.
    for _ in 0..FRAMES * 2 + 3 {
        let frame = source.next_frame().expect("a frame");
        assert_pattern(&frame);
    }

    // Through the real pipeline, paced by --fps.
    let mut pipeline = Pipeline::start(
        SourceSpec::Video(clip).opener(Some(40.0)),
        Box::new(FakeProcessor::new(Duration::from_millis(1))),
        DetectConfig::uniform(3, 0.5),
        Arc::new(|| {}),
    )
    .expect("threads start");
    // Until it has looped, with a deadline far above the 1.5 s a quiet machine needs, so a
    // busy one does not fail it.
    let start = Instant::now();
    let mut shown = 0;
    while shown <= FRAMES as usize && start.elapsed() < Duration::from_secs(30) {
        if let Some(result) = pipeline.try_recv() {
            assert_pattern(&result.image);
            shown += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let report = pipeline.shutdown(Duration::from_secs(1));
    assert!(
        report.joined,
        "ffmpeg does not hold up shutdown: {report:?}"
    );
    let stats = pipeline.stats();
    assert!(shown > FRAMES as usize, "looped: {shown} frames shown");
    assert_eq!(stats.source_errors, 0, "{stats:?}");
}

#[test]
fn the_seek_bar_moves_the_video_and_sees_where_it_is() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let playback = Arc::new(Playback::default());
    let mut source = VideoSource::open(&clip, None, playback.clone()).expect("a video");
    assert_eq!(
        playback.duration(),
        Some(Duration::from_secs(2)),
        "20 frames at 10 fps"
    );
    let ms = |playback: &Playback| playback.position().as_millis();
    source.next_frame().expect("a frame");
    source.next_frame().expect("a frame");
    assert_eq!(ms(&playback), 100, "the second frame");
    playback.seek(Duration::from_millis(1500));
    assert_pattern(&source.next_frame().expect("a frame after the seek"));
    assert_eq!(ms(&playback), 1500);
    for _ in 0..4 {
        source.next_frame().expect("a frame");
    }
    assert_eq!(ms(&playback), 1900, "the last frame");
    source.next_frame().expect("from the start again");
    assert_eq!(ms(&playback), 0);
    // A seek past the end is the end: the video starts again, no error.
    playback.seek(Duration::from_secs(60));
    source.next_frame().expect("no error");
    assert!(ms(&playback) <= 1900, "{}", ms(&playback));
}

#[test]
fn a_truncated_clip_plays_what_it_has_and_says_so_once() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let bytes = std::fs::read(&clip).expect("clip");
    std::fs::write(&clip, &bytes[..bytes.len() * 7 / 10]).expect("truncated");
    let mut source = VideoSource::open(&clip, None, Arc::default()).expect("its header is whole");
    let (mut frames, mut errors) = (0, Vec::new());
    for _ in 0..FRAMES * 3 {
        match source.next_frame() {
            Ok(frame) => {
                assert_eq!(frame.dimensions(), (WIDTH, HEIGHT));
                frames += 1;
            }
            Err(error) => errors.push(error.to_string()),
        }
    }
    assert!(frames > 0, "the whole part plays: {errors:?}");
    assert_eq!(errors.len(), 1, "said once: {errors:?}");
    if let Some(error) = errors.first() {
        assert!(
            error.contains("clip.mp4") && error.contains("breaks"),
            "{error}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_video_is_refused_with_its_name() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = dir.path().join("notes.mp4");
    std::fs::write(&fake, "shopping list: milk, eggs").expect("written");
    let error = VideoSource::open(&fake, None, Arc::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("notes.mp4") && error.contains("not a video"),
        "{error}"
    );
    let folder = VideoSource::open(dir.path(), None, Arc::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(folder.contains("not a regular file"), "{folder}");
}

#[test]
fn without_ffmpeg_the_app_and_detect_say_what_to_install() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, b"whatever").expect("written");
    let source = format!("video:{}", clip.display());
    let app = [
        "--source",
        &source,
        "--no-persist",
        "--model",
        common::GOLDEN,
    ];
    let detect = ["detect", text(&clip), "--model", common::GOLDEN];
    for args in [&app[..], &detect[..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tinyssd"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PATH", dir.path())
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("ffprobe is not installed: install ffmpeg"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

/// `tinyssd detect` on `inputs` with the golden model and `extra` flags.
fn detect(inputs: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["detect"];
    args.extend(inputs.iter().map(|path| text(path)));
    args.extend(["--model", common::GOLDEN]);
    args.extend(extra);
    common::tinyssd(&args)
}

/// What ffprobe counts in a video's first stream: "codec,width,height,frames".
fn ffprobe_counts(video: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(video)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", stderr(&out));
    common::stdout(&out).trim().to_owned()
}

/// Checks a tracks file: one line per frame of the clip, in order, at the clip's rate,
/// each track with an ID and a detection's fields.
fn assert_track_lines(tracks: &str) {
    let lines: Vec<serde_json::Value> = tracks
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), FRAMES as usize, "one line per frame");
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(line["frame"], index);
        let time = line["time"].as_f64().expect("a time");
        assert!(
            (time - index as f64 / f64::from(FPS)).abs() < 1e-9,
            "{line}"
        );
        for track in line["tracks"].as_array().expect("tracks") {
            assert!(track["track"].as_u64().is_some_and(|id| id > 0), "{track}");
            assert!(
                track["class"].is_string() && track["score"].is_f64(),
                "{track}"
            );
            assert_eq!(track["box"].as_array().map(Vec::len), Some(4), "{track}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|line| line["tracks"].as_array().is_some_and(|t| !t.is_empty())),
        "the golden model finds boxes, so tracks are shown"
    );
}

#[test]
fn detect_draws_a_video_as_an_mp4_and_writes_its_tracks_frame_by_frame() {
    let Some((dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let out_dir = dir.path().join("out");
    let out = detect(&[&clip], &["--out-dir", text(&out_dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let video = out_dir.join("clip.mp4");
    let tracks = out_dir.join("clip.tracks.jsonl");
    assert!(
        common::stdout(&out).contains(&format!("clip.mp4: {FRAMES} frames, "))
            && common::stdout(&out).contains(&format!(
                "(drawn to {}, tracks in {})",
                video.display(),
                tracks.display()
            )),
        "{}",
        common::stdout(&out)
    );
    assert_eq!(
        ffprobe_counts(&video),
        format!("h264,{WIDTH},{HEIGHT},{FRAMES}")
    );
    let written = std::fs::read_to_string(&tracks).expect("the tracks file");
    assert_track_lines(&written);
    assert_eq!(
        listing(&out_dir),
        (vec!["clip.mp4".into(), "clip.tracks.jsonl".into()], vec![]),
        "no temporary file is left"
    );

    // Again: what is there is kept without --force, and replaced with it.
    let drawn = std::fs::read(&video).expect("the video");
    let again = detect(&[&clip], &["--out-dir", text(&out_dir)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains(&format!("{} exists already: pass --force", video.display())),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&video).expect("the video"), drawn);
    assert_eq!(std::fs::read_to_string(&tracks).expect("tracks"), written);
    assert_eq!(listing(&out_dir).1, Vec::<String>::new());
    let forced = detect(&[&clip], &["--out-dir", text(&out_dir), "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(
        ffprobe_counts(&video),
        format!("h264,{WIDTH},{HEIGHT},{FRAMES}")
    );
}

#[test]
fn detect_never_writes_over_the_video_it_reads() {
    let Some((dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let original = std::fs::read(&clip).expect("the clip");
    let out = detect(&[&clip], &["--out-dir", text(dir.path()), "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&clip).expect("the clip"),
        original,
        "the input is untouched"
    );
    let numbered = dir.path().join("clip-2.mp4");
    assert_eq!(
        ffprobe_counts(&numbered),
        format!("h264,{WIDTH},{HEIGHT},{FRAMES}")
    );
    assert!(
        dir.path().join("clip-2.tracks.jsonl").is_file(),
        "numbered with its video"
    );
}

#[test]
fn a_file_that_is_not_a_video_fails_alone_and_the_other_inputs_run() {
    let Some((dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let notes = dir.path().join("notes.mp4");
    std::fs::write(&notes, "shopping list: milk, eggs").expect("written");
    let out_dir = dir.path().join("out");
    let out = detect(
        &[&notes, &clip, Path::new("assets/chelsea.png")],
        &["--out-dir", text(&out_dir)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("notes.mp4: not a video ffmpeg can read"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        listing(&out_dir),
        (
            vec![
                "chelsea.png".into(),
                "clip.mp4".into(),
                "clip.tracks.jsonl".into()
            ],
            vec![]
        )
    );
}

/// A folder for PATH holding ffprobe and an ffmpeg that does `case_arm` (a `case` branch
/// on its arguments, `$*`, whose commands find the real `head`, `grep` and `ffmpeg` as
/// `$HEAD`, `$GREP` and `$FFMPEG`), and is the real ffmpeg otherwise.
#[cfg(unix)]
fn wrapped_ffmpeg(dir: &Path, case_arm: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let real = |program: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {program}"))
            .output()
            .expect("sh runs");
        common::stdout(&out).trim().to_owned()
    };
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    // PATH holds this folder alone: the script names the real programs in full.
    let script = format!(
        "#!/bin/sh\nHEAD={}\nGREP={}\nFFMPEG={}\ncase \"$*\" in {case_arm};; esac\n\
         exec $FFMPEG \"$@\"\n",
        real("head"),
        real("grep"),
        real("ffmpeg")
    );
    let ffmpeg = bin.join("ffmpeg");
    std::fs::write(&ffmpeg, script).expect("written");
    std::fs::set_permissions(&ffmpeg, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink(real("ffprobe"), bin.join("ffprobe")).expect("link");
    bin
}

/// `tinyssd detect CLIP --out-dir OUT` with only `bin` on the PATH.
#[cfg(unix)]
fn detect_with_path(clip: &Path, out_dir: &Path, bin: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tinyssd"))
        .args(["detect", text(clip), "--model", common::GOLDEN])
        .args(["--out-dir", text(out_dir)])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", bin)
        .output()
        .expect("the binary runs")
}

#[cfg(unix)]
#[test]
fn an_encoder_that_dies_is_reported_and_leaves_no_video() {
    let Some((dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    // It reads a little of the frames, says why it stops and fails.
    let bin = wrapped_ffmpeg(
        dir.path(),
        "*pipe:0*) $HEAD -c 100000 >/dev/null; echo 'encoder exploded' >&2; exit 1",
    );
    let out_dir = dir.path().join("out");
    let out = detect_with_path(&clip, &out_dir, &bin);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("clip.mp4: the encoder stopped (encoder exploded)"),
        "{err}"
    );
    assert_eq!(
        listing(&out_dir),
        (vec![], vec![]),
        "nothing left, not even a temporary"
    );
}

#[cfg(unix)]
#[test]
fn without_libx264_the_video_is_mpeg4_and_says_so() {
    let Some((dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let bin = wrapped_ffmpeg(
        dir.path(),
        "*-encoders*) $FFMPEG \"$@\" | $GREP -v libx264; exit 0",
    );
    let out_dir = dir.path().join("out");
    let out = detect_with_path(&clip, &out_dir, &bin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("MPEG-4 Part 2, as this ffmpeg has no H.264 encoder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ffprobe_counts(&out_dir.join("clip.mp4")),
        format!("mpeg4,{WIDTH},{HEIGHT},{FRAMES}")
    );
}

#[test]
fn detect_json_lists_a_videos_tracks_frame_by_frame_beside_an_images_detections() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let out = detect(&[Path::new("assets/chelsea.png"), &clip], &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reports: serde_json::Value =
        serde_json::from_str(&common::stdout(&out)).expect("one JSON document");
    let [image, video] = reports.as_array().expect("an array").as_slice() else {
        panic!("two reports: {reports}");
    };
    assert_eq!(image["image"], "assets/chelsea.png");
    assert_eq!(video["video"], text(&clip));
    assert_eq!(
        (&video["width"], &video["height"], &video["frames"]),
        (&WIDTH.into(), &HEIGHT.into(), &FRAMES.into())
    );
    let lines: Vec<String> = video["frame_tracks"]
        .as_array()
        .expect("the tracks of each frame")
        .iter()
        .map(|line| line.to_string())
        .collect();
    assert_track_lines(&lines.join("\n"));

    let out = detect(&[&clip], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = common::stdout(&out);
    assert!(
        printed.starts_with(&format!("{} frame 0 (0.000 s): ", clip.display())),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("{} frame 19 (1.900 s): ", clip.display())),
        "{printed}"
    );
}

/// Re-encodes or rewraps `clip` with ffmpeg's `args` into `dir/name`.
fn convert(clip: &Path, args: &[&str], name: &str) -> PathBuf {
    let out_path = clip.with_file_name(name);
    let mut convert = Command::new("ffmpeg");
    convert
        .args(["-v", "error", "-y", "-i"])
        .arg(clip)
        .args(args)
        .arg(&out_path);
    run_ffmpeg(convert);
    out_path
}

#[test]
fn h264_in_avi_and_a_raw_h264_stream_play_from_the_start() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let avi = convert(
        &clip,
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        "clip.avi",
    );
    let raw = convert(&clip, &["-c", "copy"], "clip.h264");
    for file in [avi, raw] {
        let mut source = VideoSource::open(&file, None, Arc::default()).expect("a video");
        for _ in 0..FRAMES + 3 {
            let frame = source
                .next_frame()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_pattern(&frame);
        }
    }
}

/// The pattern as a phone held upright records it: stored sideways, with a rotation
/// tag. Decoded, it is turned as the tag says, at its turned size (not squashed back
/// into the stored one); pixels twice as wide as high are stretched back.
#[test]
fn a_rotated_clip_is_shown_upright_and_an_anamorphic_one_unsquashed() {
    let Some((_dir, clip)) = clip_in_temp_dir() else {
        return;
    };
    let rotated = convert(
        &clip,
        &["-c", "copy", "-metadata:s:v:0", "rotate=90"],
        "phone.mp4",
    );
    let mut source = VideoSource::open(&rotated, None, Arc::default()).expect("a video");
    let frame = source.next_frame().expect("a frame");
    assert_eq!(
        frame.dimensions(),
        (HEIGHT, WIDTH),
        "turned upright, not squashed"
    );
    // Turned as the tag says: the top row (red, blue) is now the left column, blue
    // above red, and the white half is on the right.
    for (x, y, wanted) in [
        (HEIGHT / 4, WIDTH / 4, [20, 20, 230]),
        (HEIGHT / 4, WIDTH * 3 / 4, [230, 20, 20]),
        (HEIGHT * 3 / 4, WIDTH / 2, [240, 240, 240]),
    ] {
        let pixel = frame.get_pixel(x, y);
        assert!(
            near(pixel, wanted),
            "({x}, {y}) is {pixel:?}, not {wanted:?}"
        );
    }

    let wide_pixels = convert(
        &clip,
        &[
            "-vf",
            "scale=80:120,setsar=2/1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
        "anamorphic.mp4",
    );
    let mut source = VideoSource::open(&wide_pixels, None, Arc::default()).expect("a video");
    assert_pattern(&source.next_frame().expect("a frame"));
}

#[cfg(unix)]
#[test]
fn a_concat_list_is_refused_at_once_even_one_that_names_a_pipe() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pipe = dir.path().join("pipe.mp4");
    let made = Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let list = dir.path().join("list.mp4");
    std::fs::write(&list, "ffconcat version 1.0\nfile pipe.mp4\n").expect("written");
    let started = Instant::now();
    let error = VideoSource::open(&list, None, Arc::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("not playlists or lists of files"), "{error}");
}
