//! Which of a camera's formats to use, and its frames decoded to RGB: pure functions,
//! shared by the camera backends.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crate::pipeline::sources::frame_source::is_exact_rgb;
use image::RgbImage;
use nokhwa::pixel_format::{FormatDecoder, RgbFormat};
use nokhwa::utils::{CameraFormat, FrameFormat};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The smallest frame worth asking for (the network sees 300x300; the screen, more).
pub const WANTED_WIDTH: u32 = 640;
pub const WANTED_HEIGHT: u32 = 480;
/// The frame rate wanted, and the least accepted while a faster format exists.
pub const WANTED_FPS: u32 = 30;
pub const MIN_FPS: u32 = 15;

/// Which of the camera's formats to open: the smallest we decode that is at least
/// [`WANTED_WIDTH`] x [`WANTED_HEIGHT`] at [`MIN_FPS`] or more, at the rate nearest
/// [`WANTED_FPS`], the cheapest to decode first (raw RGB, YUYV, NV12, then MJPEG;
/// grey last). A camera with no such format gives its largest one at [`MIN_FPS`] or
/// more, else its largest. Choosing ourselves, and then asking for exactly that,
/// avoids nokhwa's `Closest`, which fails unless the camera has the wanted size in
/// the wanted encoding.
pub fn choose_format(formats: &[CameraFormat]) -> Option<CameraFormat> {
    let decode_cost = |format: FrameFormat| match format {
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => 0,
        FrameFormat::YUYV => 1,
        FrameFormat::NV12 => 2,
        FrameFormat::MJPEG => 3,
        FrameFormat::GRAY => 4,
    };
    let usable: Vec<&CameraFormat> = formats
        .iter()
        .filter(|f| f.width() > 0 && f.height() > 0)
        .collect();
    let pixels = |f: &CameraFormat| u64::from(f.width()) * u64::from(f.height());
    let big_enough = |f: &CameraFormat| f.width() >= WANTED_WIDTH && f.height() >= WANTED_HEIGHT;
    let fast_enough = |f: &CameraFormat| f.frame_rate() >= MIN_FPS;
    let wanted = usable
        .iter()
        .filter(|f| big_enough(f) && fast_enough(f))
        .min_by_key(|f| {
            (
                pixels(f),
                f.frame_rate().abs_diff(WANTED_FPS),
                decode_cost(f.format()),
            )
        });
    let largest = |pool: &mut dyn Iterator<Item = &&CameraFormat>| {
        pool.max_by_key(|f| {
            (
                pixels(f),
                f.frame_rate(),
                std::cmp::Reverse(decode_cost(f.format())),
            )
        })
        .map(|f| **f)
    };
    wanted
        .map(|f| **f)
        .or_else(|| largest(&mut usable.iter().filter(|f| fast_enough(f))))
        .or_else(|| largest(&mut usable.iter()))
}

/// One frame of `format` as RGB. A raw frame is read from the first bytes of `data`
/// only: a driver's buffer is often longer than its frame (page padding), and
/// decoding the padding too gave an image larger than its size (or, for NV12, no
/// image). A JPEG ends where its data says.
pub fn decode_frame(format: CameraFormat, data: &[u8]) -> Result<RgbImage, String> {
    let (width, height) = (format.width(), format.height());
    let pixels = width as usize * height as usize;
    let raw_len = match format.format() {
        FrameFormat::RAWRGB | FrameFormat::RAWBGR => Some(pixels * 3),
        FrameFormat::YUYV => Some(pixels * 2),
        FrameFormat::NV12 => Some(pixels * 3 / 2),
        FrameFormat::GRAY => Some(pixels),
        FrameFormat::MJPEG => None,
    };
    let data = match raw_len {
        Some(len) => data.get(..len).ok_or_else(|| {
            format!(
                "a {width}x{height} {} frame came with {} bytes, not {len}",
                format.format(),
                data.len()
            )
        })?,
        None => data,
    };
    // The JPEG decoder reports some broken frames by panicking.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        RgbFormat::write_output(format.format(), format.resolution(), data)
    }))
    .map_err(|_| "decoding a frame panicked".to_string())?
    .map_err(|e| format!("a frame could not be decoded: {e}"))?;
    let decoded_len = decoded.len();
    RgbImage::from_raw(width, height, decoded)
        .filter(is_exact_rgb)
        .ok_or_else(|| {
            format!(
                "a {width}x{height} frame decoded to {decoded_len} bytes, not {}",
                pixels * 3
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(width: u32, height: u32, encoding: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new_from(width, height, encoding, fps)
    }

    #[test]
    fn the_smallest_decodable_format_near_30_fps_is_chosen() {
        use FrameFormat::{GRAY, MJPEG, NV12, YUYV};
        let laptop = [
            format(1280, 720, MJPEG, 30),
            format(1920, 1080, MJPEG, 30),
            format(640, 480, YUYV, 30),
            format(1280, 720, YUYV, 10),
            format(640, 480, NV12, 30),
        ];
        assert_eq!(choose_format(&laptop), Some(format(640, 480, YUYV, 30)));
        let hd_only = [
            format(1920, 1080, MJPEG, 30),
            format(1280, 720, MJPEG, 30),
            format(320, 240, MJPEG, 30),
        ];
        assert_eq!(choose_format(&hd_only), Some(format(1280, 720, MJPEG, 30)));
        // Nearest 30 wins over faster; the cheaper decoding wins a tie.
        let rates = [format(640, 480, YUYV, 60), format(640, 480, YUYV, 24)];
        assert_eq!(choose_format(&rates), Some(format(640, 480, YUYV, 24)));
        let tie = [
            format(640, 480, MJPEG, 30),
            format(640, 480, GRAY, 30),
            format(640, 480, YUYV, 30),
        ];
        assert_eq!(choose_format(&tie), Some(format(640, 480, YUYV, 30)));
    }

    #[test]
    fn a_camera_without_a_good_format_gives_its_best() {
        use FrameFormat::{MJPEG, NV12, YUYV};
        // Nothing 640x480 at 15 fps: the largest that is fast enough.
        let small = [
            format(640, 480, YUYV, 5),
            format(1280, 720, YUYV, 10),
            format(320, 240, MJPEG, 30),
        ];
        assert_eq!(choose_format(&small), Some(format(320, 240, MJPEG, 30)));
        // Nothing fast enough: the largest.
        let slow = [format(640, 480, YUYV, 5), format(1280, 720, YUYV, 10)];
        assert_eq!(choose_format(&slow), Some(format(1280, 720, YUYV, 10)));
        assert_eq!(
            choose_format(&[format(1280, 720, NV12, 30)]),
            Some(format(1280, 720, NV12, 30))
        );
        assert_eq!(choose_format(&[]), None);
    }

    /// YUYV for a `width` x `height` frame, all pixels the colour (y, u, v), then
    /// `padding` bytes of garbage.
    fn yuyv(width: u32, height: u32, (y, u, v): (u8, u8, u8), padding: usize) -> Vec<u8> {
        let mut data: Vec<u8> = [y, u, y, v].repeat((width * height / 2) as usize);
        data.extend(std::iter::repeat_n(0xAB, padding));
        data
    }

    #[test]
    fn padded_raw_frames_decode_to_exactly_their_pixels() {
        let red = (82, 90, 240);
        let yuyv_format = format(64, 48, FrameFormat::YUYV, 30);
        for padding in [0, 4096 + 100] {
            let image = decode_frame(yuyv_format, &yuyv(64, 48, red, padding)).expect("decodes");
            assert!(is_exact_rgb(&image) && image.dimensions() == (64, 48));
            let [r, g, b] = image.get_pixel(63, 47).0;
            assert!(r > 220 && g < 30 && b < 30, "red: {:?}", (r, g, b));
        }
        // NV12: a grey luma plane and neutral chroma, padded.
        let mut nv12 = vec![128u8; 64 * 48 * 3 / 2];
        nv12.extend([7; 5000]);
        let image = decode_frame(format(64, 48, FrameFormat::NV12, 30), &nv12).expect("decodes");
        assert!(is_exact_rgb(&image));
        assert!(
            image
                .pixels()
                .all(|p| p.0.iter().all(|c| c.abs_diff(130) < 8))
        );
    }

    #[test]
    fn short_or_broken_frames_are_errors_not_images() {
        let yuyv_format = format(64, 48, FrameFormat::YUYV, 30);
        let short = yuyv(64, 47, (16, 128, 128), 0);
        let error = decode_frame(yuyv_format, &short).expect_err("too short");
        assert!(error.contains("6016 bytes, not 6144"), "{error}");
        let jpeg = format(64, 48, FrameFormat::MJPEG, 30);
        assert!(decode_frame(jpeg, &[0; 4096]).is_err(), "zeros are no JPEG");
        assert!(decode_frame(jpeg, &[]).is_err());
    }
}
