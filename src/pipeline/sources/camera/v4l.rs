//! A camera read through V4L2 directly (Linux), not through nokhwa: nokhwa's read
//! waits for a frame without a time limit, so a stalled camera would hold its
//! device (and the capture thread) for good, and it hands out the whole mapped
//! buffer rather than the bytes the camera filled. This one waits at most
//! [`POLL`] per read and says when a camera has sent nothing for [`STALL_LIMIT`].
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use super::error::ReadError;
use super::format::{WANTED_FPS, WANTED_HEIGHT, WANTED_WIDTH, choose_format, decode_frame};
use image::RgbImage;
use nokhwa::utils::{CameraFormat, FrameFormat};
use std::io;
use std::time::{Duration, Instant};
use v4l::buffer::Flags as BufferFlags;
use v4l::capability::Flags as CapabilityFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::traits::CaptureStream;
use v4l::prelude::{Device, MmapStream};
use v4l::video::Capture;
use v4l::video::capture::Parameters;
use v4l::{Format, FourCC};

/// The longest one read waits, so that the capture thread sees a stop request soon.
pub const POLL: Duration = Duration::from_millis(200);
/// No frame for this long and the camera is taken as stalled: it is closed (and
/// the next read opens it again).
pub const STALL_LIMIT: Duration = Duration::from_secs(2);
/// Buffers the driver fills while we decode.
const BUFFERS: u32 = 4;

/// An open, streaming camera.
pub struct V4lCamera {
    stream: MmapStream<'static>,
    format: CameraFormat,
    name: String,
    last_frame: Instant,
}

impl V4lCamera {
    /// Whether [`Self::format`]'s frame rate is the one the camera delivers: V4L2 reports
    /// the interval the driver set.
    pub const KNOWS_ITS_FRAME_RATE: bool = true;

    /// Opens `/dev/video{index}` on the format [`choose_format`] picks from those it
    /// lists, and starts it. The error is the system's (busy, permission, missing)
    /// or says which formats the camera has.
    pub fn open(index: u32) -> Result<V4lCamera, String> {
        let device = Device::new(index as usize).map_err(|e| e.to_string())?;
        let name = device
            .query_caps()
            .map(|caps| caps.card)
            .unwrap_or_else(|_| format!("video{index}"));
        let encodings: Vec<FourCC> = device
            .enum_formats()
            .unwrap_or_default()
            .iter()
            .map(|description| description.fourcc)
            .collect();
        let formats = formats(&device, &encodings);
        let chosen = choose_format(&formats).ok_or_else(|| {
            let offered: Vec<String> = encodings.iter().map(|f| f.to_string()).collect();
            format!(
                "it offers no format this app can decode (it offers: {})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            )
        })?;
        let asked = Format::new(chosen.width(), chosen.height(), fourcc(chosen.format()));
        let got = device
            .set_format(&asked)
            .map_err(|e| format!("it refused the format {chosen}: {e}"))?;
        if (got.width, got.height, got.fourcc) != (asked.width, asked.height, asked.fourcc) {
            return Err(format!("it refused the format {chosen} (it gave {got})"));
        }
        let fps = device
            .set_params(&Parameters::with_fps(chosen.frame_rate()))
            .ok()
            .and_then(|params| frame_rate(&FrameIntervalEnum::Discrete(params.interval)))
            .unwrap_or(chosen.frame_rate());
        let format = CameraFormat::new_from(chosen.width(), chosen.height(), chosen.format(), fps);
        let mut stream =
            MmapStream::with_buffers(&device, v4l::buffer::Type::VideoCapture, BUFFERS)
                .map_err(|e| format!("it could not share its buffers: {e}"))?;
        stream.set_timeout(POLL);
        Ok(V4lCamera {
            stream,
            format,
            name,
            last_frame: Instant::now(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> CameraFormat {
        self.format
    }

    /// The next frame, waiting at most [`POLL`].
    pub fn read(&mut self) -> Result<RgbImage, ReadError> {
        let (data, meta) = match self.stream.next() {
            Ok(frame) => frame,
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                let silent = self.last_frame.elapsed();
                return Err(if silent < STALL_LIMIT {
                    ReadError::NotYet
                } else {
                    ReadError::Failed(format!(
                        "it stopped sending frames ({:.1} s without one): reopening it",
                        silent.as_secs_f32()
                    ))
                });
            }
            Err(error) => return Err(ReadError::Failed(error.to_string())),
        };
        self.last_frame = Instant::now();
        if meta.flags.contains(BufferFlags::ERROR) {
            return Err(ReadError::Undecodable(
                "the camera marked a frame as damaged".into(),
            ));
        }
        // The mapped buffer is often longer than the frame (page padding); a driver
        // that does not say how much it filled (0) gives the whole buffer.
        let used = match meta.bytesused as usize {
            0 => data,
            filled => data.get(..filled).unwrap_or(data),
        };
        decode_frame(self.format, used).map_err(ReadError::Undecodable)
    }
}

/// Whether `/dev/video{index}` captures video in an encoding we decode. True where
/// this cannot be told (the device cannot be opened or queried: busy, say), so that
/// opening it says what is wrong.
pub fn gives_decodable_video(index: u32) -> bool {
    let Ok(device) = Device::new(index as usize) else {
        return true;
    };
    let Ok(caps) = device.query_caps() else {
        return true;
    };
    caps.capabilities.contains(CapabilityFlags::VIDEO_CAPTURE)
        && match device.enum_formats() {
            Ok(formats) if !formats.is_empty() => formats
                .iter()
                .any(|format| frame_format(format.fourcc).is_some()),
            _ => true,
        }
}

/// What the camera offers in those of its `encodings` we know, as (format, size,
/// rate) triples.
fn formats(device: &Device, encodings: &[FourCC]) -> Vec<CameraFormat> {
    let mut formats = Vec::new();
    for &fourcc in encodings {
        let Some(encoding) = frame_format(fourcc) else {
            continue;
        };
        for size in device.enum_framesizes(fourcc).unwrap_or_default() {
            for (width, height) in sizes(&size.size) {
                let intervals = device
                    .enum_frameintervals(fourcc, width, height)
                    .unwrap_or_default();
                for interval in intervals {
                    if let Some(fps) = frame_rate(&interval.interval) {
                        formats.push(CameraFormat::new_from(width, height, encoding, fps));
                    }
                }
            }
        }
    }
    formats
}

/// The sizes worth considering: a discrete one, or for a range its ends and the
/// smallest step at least as large as the wanted size (not every step: a range can
/// hold millions).
fn sizes(size: &FrameSizeEnum) -> Vec<(u32, u32)> {
    match size {
        FrameSizeEnum::Discrete(d) => vec![(d.width, d.height)],
        FrameSizeEnum::Stepwise(s) => {
            let step_up = |wanted: u32, min: u32, max: u32, step: u32| {
                let step = step.max(1);
                let above = wanted.saturating_sub(min).div_ceil(step);
                min.saturating_add(above.saturating_mul(step)).min(max)
            };
            vec![
                (s.min_width, s.min_height),
                (
                    step_up(WANTED_WIDTH, s.min_width, s.max_width, s.step_width),
                    step_up(WANTED_HEIGHT, s.min_height, s.max_height, s.step_height),
                ),
                (s.max_width, s.max_height),
            ]
        }
    }
}

/// Frames per second of a frame interval (for a range, 30 if it is in it, else
/// its fastest).
fn frame_rate(interval: &FrameIntervalEnum) -> Option<u32> {
    let fps = |numerator: u32, denominator: u32| {
        (numerator > 0).then(|| (f64::from(denominator) / f64::from(numerator)).round() as u32)
    };
    match interval {
        FrameIntervalEnum::Discrete(f) => fps(f.numerator, f.denominator),
        FrameIntervalEnum::Stepwise(s) => {
            let fastest = fps(s.min.numerator, s.min.denominator)?;
            let slowest = fps(s.max.numerator, s.max.denominator).unwrap_or(fastest);
            Some(if (slowest..=fastest).contains(&WANTED_FPS) {
                WANTED_FPS
            } else {
                fastest
            })
        }
    }
    .filter(|&fps| fps > 0)
}

fn frame_format(fourcc: FourCC) -> Option<FrameFormat> {
    Some(match &fourcc.repr {
        b"YUYV" => FrameFormat::YUYV,
        b"MJPG" => FrameFormat::MJPEG,
        b"NV12" => FrameFormat::NV12,
        b"GREY" => FrameFormat::GRAY,
        b"RGB3" => FrameFormat::RAWRGB,
        b"BGR3" => FrameFormat::RAWBGR,
        _ => return None,
    })
}

fn fourcc(format: FrameFormat) -> FourCC {
    FourCC::new(match format {
        FrameFormat::YUYV => b"YUYV",
        FrameFormat::MJPEG => b"MJPG",
        FrameFormat::NV12 => b"NV12",
        FrameFormat::GRAY => b"GREY",
        FrameFormat::RAWRGB => b"RGB3",
        FrameFormat::RAWBGR => b"BGR3",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use v4l::Fraction;
    use v4l::frameinterval::Stepwise as IntervalRange;
    use v4l::framesize::Stepwise as SizeRange;

    #[test]
    fn a_size_range_gives_its_ends_and_the_wanted_size_on_its_grid() {
        let range = FrameSizeEnum::Stepwise(SizeRange {
            min_width: 16,
            max_width: 4096,
            step_width: 16,
            min_height: 16,
            max_height: 2160,
            step_height: 8,
        });
        assert_eq!(
            sizes(&range),
            [(16, 16), (640, 480), (4096, 2160)],
            "not every step"
        );
        let coarse = FrameSizeEnum::Stepwise(SizeRange {
            min_width: 100,
            max_width: 500,
            step_width: 0,
            min_height: 100,
            max_height: 300,
            step_height: 300,
        });
        assert_eq!(sizes(&coarse), [(100, 100), (500, 300), (500, 300)]);
    }

    #[test]
    fn frame_rates_come_from_intervals() {
        let discrete = |n, d| FrameIntervalEnum::Discrete(Fraction::new(n, d));
        assert_eq!(frame_rate(&discrete(1, 30)), Some(30));
        assert_eq!(frame_rate(&discrete(1001, 30000)), Some(30));
        assert_eq!(frame_rate(&discrete(0, 30)), None);
        assert_eq!(
            frame_rate(&discrete(3, 1)),
            None,
            "a third of a frame a second"
        );
        let range = |fast: (u32, u32), slow: (u32, u32)| {
            FrameIntervalEnum::Stepwise(IntervalRange {
                min: Fraction::new(fast.0, fast.1),
                max: Fraction::new(slow.0, slow.1),
                step: Fraction::new(1, 1),
            })
        };
        assert_eq!(frame_rate(&range((1, 60), (1, 5))), Some(30));
        assert_eq!(frame_rate(&range((1, 15), (1, 5))), Some(15));
    }
}
