//! Reading the images users hand us (`detect`, `eval`, the image sources) within one
//! budget: a file whose header claims more pixels than [`MAX_IMAGE_PIXELS`] (or a side
//! over [`MAX_IMAGE_SIDE`]) is refused from its header, before anything is allocated
//! for its pixels; threads that decode at the same time share a [`PixelBudget`], so
//! together they stay within it too. A JPEG cut short is refused (its decoder would
//! fill the missing rows with grey), and EXIF orientation is applied, so the picture
//! (and every box found in it) is upright as the user sees it.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crate::files::{ReadError, read_capped};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

/// Longest side accepted, in pixels (a 48-megapixel photo is 8000 x 6000).
pub const MAX_IMAGE_SIDE: u32 = 12_000;
/// Most pixels decoded for one image, and for all the images being decoded at once:
/// a 48-megapixel photo fits; decoded as RGB it takes 3 bytes a pixel (150 MB).
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;
/// Most memory the decoder may allocate for one image (a 16-bit RGBA PNG takes 8
/// bytes a pixel).
pub const MAX_IMAGE_ALLOC: u64 = 512 * 1024 * 1024;
/// Largest image file read (a 48-megapixel PNG is about 100 MB).
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    #[error("cannot open: {0}")]
    Read(ReadError),
    #[error("not a readable PNG or JPEG image (its format is neither)")]
    UnknownFormat,
    #[error(
        "the image is too large to decode ({0}); at most {MAX_IMAGE_SIDE} pixels on a side are accepted"
    )]
    TooLarge(String),
    #[error(
        "the image is too large to decode ({width} x {height} is {} megapixels; at most {} are decoded)",
        megapixels(u64::from(*width) * u64::from(*height)),
        megapixels(MAX_IMAGE_PIXELS)
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image data ends early (a truncated or damaged file)")]
    Truncated,
    #[error("not a readable PNG or JPEG image ({0})")]
    Decode(String),
    #[error("the image has no pixels ({width} x {height})")]
    Empty { width: u32, height: u32 },
    #[error("not a readable image: the decoder failed on its data (a damaged file)")]
    DecoderFailed,
}

/// The decoder limits every user image is read with.
pub fn image_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    limits
}

fn megapixels(pixels: u64) -> String {
    format!("{:.1}", pixels as f64 / 1e6)
}

/// Decodes PNG or JPEG bytes (the format is guessed from the content) to RGB, upright.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, ImageReadError> {
    decode(bytes, admit_alone).map(|(image, ())| image)
}

/// The PNG and JPEG files of a folder (by extension, any case), sorted by name: what
/// `detect DIR` runs on and the app's `images:DIR` plays. Sub-folders are not entered.
pub fn image_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && has_image_extension(path))
        .collect();
    found.sort();
    Ok(found)
}

/// The file name extensions of the images read (PNG, JPEG), in lower case.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Whether the file's name says PNG or JPEG (any case): what a folder of images holds.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| e.eq_ignore_ascii_case(known))
    })
}

/// Reads and decodes a PNG or JPEG file to RGB, upright.
pub fn read_image(path: &Path) -> Result<RgbImage, ImageReadError> {
    decode_image(&read_image_file(path)?)
}

fn read_image_file(path: &Path) -> Result<Vec<u8>, ImageReadError> {
    read_capped(path, MAX_IMAGE_FILE_BYTES, "an image file").map_err(ImageReadError::Read)
}

/// One image decoded on its own: it alone must fit the budget.
fn admit_alone(width: u32, height: u32) -> Result<(), ImageReadError> {
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageReadError::TooManyPixels { width, height });
    }
    Ok(())
}

/// Decodes `bytes` once `admit` accepts the dimensions of their header.
fn decode<T>(
    bytes: &[u8],
    admit: impl FnOnce(u32, u32) -> Result<T, ImageReadError>,
) -> Result<(RgbImage, T), ImageReadError> {
    let classify = |error| match error {
        image::ImageError::Limits(limit) => ImageReadError::TooLarge(limit.to_string()),
        image::ImageError::Unsupported(_) => ImageReadError::UnknownFormat,
        other => ImageReadError::Decode(other.to_string()),
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| ImageReadError::Read(ReadError::Io(error)))?;
    let Some(format) = reader.format() else {
        return Err(ImageReadError::UnknownFormat);
    };
    reader.limits(image_limits());
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageReadError::Empty { width, height });
    }
    if format == image::ImageFormat::Jpeg && !jpeg_reaches_its_end(bytes) {
        return Err(ImageReadError::Truncated);
    }
    let admitted = admit(width, height)?;
    // A damaged EXIF block costs the orientation, not the picture.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    // The decoders are third-party code fed hostile bytes: one that panics on a
    // damaged file (zune-jpeg has, upstream) costs that file, not the run.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        DynamicImage::from_decoder(decoder)
    }))
    .map_err(|_| ImageReadError::DecoderFailed)?;
    let mut image = decoded.map_err(classify)?;
    image.apply_orientation(orientation);
    Ok((image.into_rgb8(), admitted))
}

/// Whether the JPEG's markers lead to its end-of-image marker. Segments are skipped by
/// their length (an EXIF thumbnail, with its own end marker, sits inside one), and the
/// entropy-coded data after a start-of-scan runs to the next marker that is neither a
/// stuffed 0xFF00 nor a restart; whatever follows the end marker (phones append
/// videos) is not looked at.
fn jpeg_reaches_its_end(bytes: &[u8]) -> bool {
    const END_OF_IMAGE: u8 = 0xD9;
    const START_OF_SCAN: u8 = 0xDA;
    let is_restart = |marker: u8| (0xD0..=0xD7).contains(&marker);
    let mut at = 2; // past the start-of-image marker
    loop {
        // Some encoders leave stray bytes between segments; the decoder skips them too.
        let Some(offset) = bytes
            .get(at..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        else {
            return false;
        };
        at += offset;
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else {
            return false;
        };
        at += 1;
        if marker == END_OF_IMAGE {
            return true;
        }
        if marker == 0x01 || is_restart(marker) {
            continue; // markers without a length
        }
        let Some(&[high, low]) = bytes.get(at..at + 2).and_then(|b| b.first_chunk::<2>()) else {
            return false;
        };
        at += usize::from(u16::from_be_bytes([high, low]));
        if marker == START_OF_SCAN {
            loop {
                match (bytes.get(at), bytes.get(at + 1)) {
                    (Some(0xFF), Some(&next))
                        if next != 0x00 && next != 0xFF && !is_restart(next) =>
                    {
                        break;
                    }
                    (Some(_), Some(_)) => at += 1,
                    _ => return false,
                }
            }
        }
    }
}

/// The pixels that images being decoded (and held, while their permit lives) by
/// several threads at once may take together: each decode waits until the images
/// before it leave room, so N eval workers hold at most one budget, not N.
pub struct PixelBudget {
    limit: u64,
    in_use: Mutex<u64>,
    released: Condvar,
}

/// A share of a [`PixelBudget`], given back when dropped.
pub struct PixelPermit<'a> {
    budget: &'a PixelBudget,
    pixels: u64,
}

impl Default for PixelBudget {
    fn default() -> PixelBudget {
        PixelBudget {
            limit: MAX_IMAGE_PIXELS,
            in_use: Mutex::new(0),
            released: Condvar::new(),
        }
    }
}

impl PixelBudget {
    /// Reads and decodes an image once its pixels fit beside those of the permits
    /// alive; the permit holds them until dropped.
    pub fn read_image(&self, path: &Path) -> Result<(RgbImage, PixelPermit<'_>), ImageReadError> {
        let bytes = read_image_file(path)?;
        decode(&bytes, |width, height| self.admit(width, height))
    }

    fn admit(&self, width: u32, height: u32) -> Result<PixelPermit<'_>, ImageReadError> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.limit {
            return Err(ImageReadError::TooManyPixels { width, height });
        }
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        while *in_use + pixels > self.limit {
            in_use = self
                .released
                .wait(in_use)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_use += pixels;
        Ok(PixelPermit {
            budget: self,
            pixels,
        })
    }
}

impl Drop for PixelPermit<'_> {
    fn drop(&mut self) {
        let mut in_use = self
            .budget
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *in_use = in_use.saturating_sub(self.pixels);
        self.budget.released.notify_all();
    }
}
