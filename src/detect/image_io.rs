//! Reading the images users hand us (`detect`, `eval`, the image sources) with limits:
//! a file whose header claims absurd dimensions is refused before anything is
//! allocated for its pixels, instead of taking gigabytes.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use image::{ImageReader, Limits, RgbImage};
use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

/// Longest side accepted, in pixels (a 48-megapixel photo is 8000 x 6000).
pub const MAX_IMAGE_SIDE: u32 = 12_000;
/// Most memory the decoder may allocate for one image.
pub const MAX_IMAGE_ALLOC: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    #[error("cannot open: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a readable PNG or JPEG image (its format is neither)")]
    UnknownFormat,
    #[error(
        "the image is too large to decode ({0}); at most {MAX_IMAGE_SIDE} pixels on a side are accepted"
    )]
    TooLarge(String),
    #[error("not a readable PNG or JPEG image ({0})")]
    Decode(String),
    #[error("the image has no pixels ({width} x {height})")]
    Empty { width: u32, height: u32 },
}

/// The decoder limits every user image is read with.
pub fn image_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    limits
}

/// Decodes PNG or JPEG bytes (the format is guessed from the content) to RGB.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, ImageReadError> {
    decode(ImageReader::new(Cursor::new(bytes)))
}

/// Reads and decodes a PNG or JPEG file to RGB.
pub fn read_image(path: &Path) -> Result<RgbImage, ImageReadError> {
    decode(ImageReader::open(path)?)
}

fn decode<R: BufRead + Seek>(reader: ImageReader<R>) -> Result<RgbImage, ImageReadError> {
    let mut reader = reader.with_guessed_format()?;
    if reader.format().is_none() {
        return Err(ImageReadError::UnknownFormat);
    }
    reader.limits(image_limits());
    let image = reader.decode().map_err(|error| match error {
        image::ImageError::Limits(limit) => ImageReadError::TooLarge(limit.to_string()),
        image::ImageError::Unsupported(_) => ImageReadError::UnknownFormat,
        other => ImageReadError::Decode(other.to_string()),
    })?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(ImageReadError::Empty { width, height });
    }
    Ok(image.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_that_claims_a_huge_size_is_refused_before_decoding() {
        let mut png = Vec::new();
        image::RgbImage::new(2, 2)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        // IHDR width and height (bytes 16..24) -> 100000 x 100000, with its CRC.
        png.splice(16..24, [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0]);
        let crc = crc32(&png[12..29]).to_be_bytes();
        png.splice(29..33, crc);
        let error = decode_image(&png).expect_err("refused");
        assert!(matches!(error, ImageReadError::TooLarge(_)), "{error}");
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(matches!(
            decode_image(b"hello"),
            Err(ImageReadError::UnknownFormat)
        ));
    }
}
