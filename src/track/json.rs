//! The JSON form of a frame's tracks: the lines `tinyssd detect` writes for a video
//! (`<name>.tracks.jsonl`), one per frame,
//!
//! ```json
//! {"frame": 12, "time": 0.4, "tracks": [{"class": "person", "score": 0.871, "box": [x_min, y_min, x_max, y_max], "track": 3}]}
//! ```
//!
//! each track in the form of a detection of `detect --json` ([`DetectionJson`], rounded
//! as the log rounds it: its score is the track's score, its box the filtered box), with
//! its ID as `track`: the [`TrackJson`] the app's `--log` lines give each detection too
//! (there the detection's own score and box, and `null` where no track took it).

use super::TrackedBox;
use crate::detect::DetectionJson;
use serde::Serialize;
use std::time::Duration;

/// One frame's line.
#[derive(Debug, Serialize)]
pub struct FrameTracks<'a> {
    /// The frame's number in the video, from 0.
    pub frame: u64,
    /// When the frame is shown, in seconds from the start, to the millisecond.
    pub time: f64,
    /// The tracks shown in the frame.
    pub tracks: Vec<TrackJson<'a>>,
}

/// A box with the ID of the track it is (none: a detection no track took).
#[derive(Debug, Serialize)]
pub struct TrackJson<'a> {
    #[serde(flatten)]
    pub detection: DetectionJson<'a>,
    pub track: Option<u64>,
}

impl<'a> FrameTracks<'a> {
    pub fn new(frame: u64, time: Duration, tracks: &'a [TrackedBox]) -> FrameTracks<'a> {
        FrameTracks {
            frame,
            time: (time.as_secs_f64() * 1000.0).round() / 1000.0,
            tracks: tracks
                .iter()
                .map(|tracked| TrackJson {
                    detection: DetectionJson::new(&tracked.detection).rounded(),
                    track: Some(tracked.id),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;
    use crate::model::Corners;

    #[test]
    fn a_frame_line_is_its_number_time_and_tracks_with_ids() {
        let tracks = [TrackedBox {
            id: 7,
            detection: Detection {
                class_id: 15,
                label: "person".into(),
                score: 0.87654,
                bbox: Corners {
                    x_min: 10.04,
                    y_min: 20.0,
                    x_max: 30.0,
                    y_max: 40.0,
                },
            },
        }];
        let line = serde_json::to_string(&FrameTracks::new(
            12,
            Duration::from_micros(399_600),
            &tracks,
        ))
        .expect("encodes");
        assert_eq!(
            line,
            r#"{"frame":12,"time":0.4,"tracks":[{"class":"person","score":0.877,"box":[10.0,20.0,30.0,40.0],"track":7}]}"#
        );
    }
}
