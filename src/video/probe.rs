//! What a video file is, as `ffprobe` says: its frame size as shown, its rate, length
//! and frame count.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::VideoError;
use super::ffmpeg::{ffmpeg_command, first_line, input_args, output_within};
use std::path::Path;
use std::time::Duration;

/// Frames with a longer side than this are scaled down by ffmpeg while decoding: the
/// network sees 300x300, and a 4K frame would cost 25 MB a frame on the pipe.
pub const MAX_VIDEO_SIDE: u32 = 1280;
/// How long ffprobe may take to describe a file: far above a real file's needs.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// What the file's first video stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Frames per second as the file says (its average rate, else its base rate).
    pub rate: Option<FrameRate>,
    /// How many frames the stream holds, when the container says.
    pub frames: Option<u64>,
    /// The frame as shown: turned by the file's rotation (a phone held upright) and
    /// stretched by its pixel aspect ratio (anamorphic video), as ffmpeg decodes it.
    pub display: (u32, u32),
    /// How long the file plays, when it says.
    pub duration: Option<Duration>,
}

impl VideoInfo {
    /// The file's rate, or [`DEFAULT_RATE`] when it says none.
    pub fn frame_rate(&self) -> FrameRate {
        self.rate.unwrap_or(DEFAULT_RATE)
    }

    /// About how many frames decoding at [`Self::frame_rate`] gives: the container's
    /// count, else the duration times the rate; None when the file says neither.
    pub fn frame_count_estimate(&self) -> Option<u64> {
        self.frames.or_else(|| {
            self.duration
                .map(|duration| (duration.as_secs_f64() * self.frame_rate().fps()).round() as u64)
        })
    }
}

/// Frames per second as a fraction, kept exact: 30000/1001 is not quite 29.97, and an
/// encoder given the rounded rate would drift from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub numerator: u32,
    pub denominator: u32,
}

/// The rate of a file that says none.
pub const DEFAULT_RATE: FrameRate = FrameRate {
    numerator: 25,
    denominator: 1,
};

impl FrameRate {
    pub fn fps(self) -> f64 {
        f64::from(self.numerator) / f64::from(self.denominator)
    }

    /// When frame `index` (from 0) is shown.
    pub fn time_of(self, index: u64) -> Duration {
        Duration::from_secs_f64(index as f64 / self.fps())
    }
}

/// As ffmpeg takes it: `30000/1001`.
impl std::fmt::Display for FrameRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

/// Reads the first video stream's size, rate and orientation with `ffprobe`, within
/// [`PROBE_LIMIT`].
pub fn probe(path: &Path) -> Result<VideoInfo, VideoError> {
    let fail = |message: String| VideoError {
        path: path.to_path_buf(),
        message,
    };
    crate::files::check_regular_file(path).map_err(|error| fail(error.to_string()))?;
    let mut command = ffmpeg_command("ffprobe");
    command
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg(
            "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,sample_aspect_ratio\
             :stream_side_data=rotation:stream_tags=rotate:format=duration",
        )
        .args(["-of", "json"])
        .args(input_args(path));
    let (status, stdout, stderr) = output_within(command, PROBE_LIMIT).map_err(fail)?;
    if !status.success() {
        let reason = first_line(&stderr);
        let hint = if reason.contains("not on whitelist") {
            ": tinyssd plays video files (MP4, MKV, WebM, AVI, ...), not playlists or lists of files"
        } else {
            ""
        };
        return Err(fail(format!(
            "not a video ffmpeg can read ({reason}){hint}"
        )));
    }
    parse_probe(&stdout).map_err(fail)
}

/// The `ffprobe -of json` answer as [`VideoInfo`].
pub fn parse_probe(json: &str) -> Result<VideoInfo, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("ffprobe answered oddly: {error}"))?;
    let stream = value
        .get("streams")
        .and_then(|s| s.get(0))
        .ok_or("the file has no video stream")?;
    let side = |key: &str| {
        stream
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0)
    };
    let (Some(width), Some(height)) = (side("width"), side("height")) else {
        return Err("the video stream has no frame size".to_owned());
    };
    let rate = |key: &str| {
        stream
            .get(key)
            .and_then(|v| v.as_str())
            .and_then(parse_rate)
    };
    let duration = value
        .get("format")
        .and_then(|f| f.get("duration"))
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(Duration::from_secs_f64);
    let pixel_aspect = stream
        .get("sample_aspect_ratio")
        .and_then(|v| v.as_str())
        .and_then(|text| {
            let (n, d) = text.split_once(':')?;
            let ratio = n.parse::<f64>().ok()? / d.parse::<f64>().ok()?;
            (ratio.is_finite() && ratio > 0.0).then_some(ratio)
        })
        .unwrap_or(1.0);
    let rotation = stream
        .get("side_data_list")
        .and_then(|list| list.as_array())
        .and_then(|list| {
            list.iter()
                .find_map(|entry| entry.get("rotation")?.as_f64())
        })
        .or_else(|| stream.get("tags")?.get("rotate")?.as_str()?.parse().ok())
        .unwrap_or(0.0);
    let frames = stream
        .get("nb_frames")
        .and_then(|v| v.as_str())
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0);
    Ok(VideoInfo {
        width,
        height,
        rate: rate("avg_frame_rate").or_else(|| rate("r_frame_rate")),
        frames,
        display: display_size(width, height, pixel_aspect, rotation),
        duration,
    })
}

/// The size ffmpeg decodes a `width` x `height` stream to: its pixels stretched by their
/// aspect ratio (sides even, at least 2), then turned a quarter if `rotation` says so.
fn display_size(width: u32, height: u32, pixel_aspect: f64, rotation: f64) -> (u32, u32) {
    let even = |length: f64| ((length.round() as u32).max(2) + 1) & !1;
    let (shown_width, shown_height) = if (pixel_aspect - 1.0).abs() < 1e-6 {
        (width, height)
    } else if pixel_aspect > 1.0 {
        (even(f64::from(width) * pixel_aspect), height)
    } else {
        (width, even(f64::from(height) / pixel_aspect))
    };
    let quarter_turns = (rotation / 90.0).round().rem_euclid(4.0);
    if quarter_turns == 1.0 || quarter_turns == 3.0 {
        (shown_height, shown_width)
    } else {
        (shown_width, shown_height)
    }
}

/// "30000/1001" or "25" as a frame rate; None for "0/0" and nonsense.
fn parse_rate(text: &str) -> Option<FrameRate> {
    let (numerator, denominator) = text.split_once('/').unwrap_or((text, "1"));
    let rate = FrameRate {
        numerator: numerator.parse().ok()?,
        denominator: denominator.parse().ok()?,
    };
    (rate.numerator > 0 && rate.denominator > 0).then_some(rate)
}

/// The size frames are decoded at: the file's, or shrunk to a longer side of
/// [`MAX_VIDEO_SIDE`] with the aspect kept (sides even, as ffmpeg's scaler likes).
pub fn decoded_size(width: u32, height: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= MAX_VIDEO_SIDE {
        return (width, height);
    }
    let side = |length: u32| {
        let scaled = (u64::from(length) * u64::from(MAX_VIDEO_SIDE) / u64::from(longest)).max(2);
        (scaled as u32 + 1) & !1
    };
    (side(width), side(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_are_read_and_odd_ones_refused() {
        let info = parse_probe(
            r#"{"streams":[{"width":1920,"height":1080,"r_frame_rate":"30/1","avg_frame_rate":"30000/1001"}],"format":{"duration":"12.500000"}}"#,
        )
        .expect("a video");
        assert_eq!((info.width, info.height), (1920, 1080));
        let rate = info.rate.expect("a rate");
        assert_eq!(rate.to_string(), "30000/1001", "kept exact");
        assert!((rate.fps() - 29.97).abs() < 0.01);
        assert_eq!(info.duration, Some(Duration::from_millis(12_500)));
        assert_eq!(
            info.frame_count_estimate(),
            Some(375),
            "12.5 s at 29.97 fps"
        );
        let counted = parse_probe(
            r#"{"streams":[{"width":8,"height":8,"avg_frame_rate":"10/1","nb_frames":"20"}],"format":{"duration":"9.0"}}"#,
        )
        .expect("a video");
        assert_eq!(
            counted.frame_count_estimate(),
            Some(20),
            "the container's count first"
        );
        let no_rate = parse_probe(
            r#"{"streams":[{"width":8,"height":8,"r_frame_rate":"0/0","avg_frame_rate":"0/0"}]}"#,
        )
        .expect("a video");
        assert_eq!((no_rate.rate, no_rate.duration), (None, None));
        assert_eq!(no_rate.frame_rate(), DEFAULT_RATE);
        for bad in [
            "",
            r#"{"streams":[]}"#,
            r#"{"streams":[{"width":0,"height":8}]}"#,
        ] {
            assert!(parse_probe(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_and_pixel_aspect_give_the_size_shown() {
        let info = parse_probe(
            r#"{"streams":[{"width":1920,"height":1080,"sample_aspect_ratio":"1:1","side_data_list":[{"rotation":-90}]}]}"#,
        )
        .expect("a video");
        assert_eq!(info.display, (1080, 1920), "a phone video stands upright");
        let tagged =
            parse_probe(r#"{"streams":[{"width":640,"height":480,"tags":{"rotate":"180"}}]}"#)
                .expect("a video");
        assert_eq!(tagged.display, (640, 480), "half a turn keeps the size");
        assert_eq!(
            display_size(720, 576, 16.0 / 11.0, 0.0),
            (1048, 576),
            "PAL 16:9"
        );
        assert_eq!(display_size(720, 480, 0.5, 90.0), (960, 720));
        assert_eq!(display_size(161, 120, 1.0, 0.0), (161, 120));
    }

    #[test]
    fn large_frames_are_narrowed_with_their_aspect() {
        assert_eq!(decoded_size(640, 480), (640, 480));
        assert_eq!(decoded_size(1920, 1080), (1280, 720));
        assert_eq!(decoded_size(3840, 2160), (1280, 720));
        assert_eq!(decoded_size(1080, 1920), (720, 1280));
        assert_eq!(decoded_size(4000, 3), (1280, 2));
        assert_eq!(decoded_size(1281, 1001), (1280, 1000));
    }
}
