//! A convolution's input quantised to `u8` for the int8 product: planes of
//! [`GROUP`] channels interleaved per pixel, border and all, so the product reads
//! its columns in place as the fp32 one reads the input buffer.

use super::GROUP;
use super::isa::Int8Isa;
#[cfg(target_arch = "x86_64")]
use super::isa::Int8Kernel;
use crate::engine::ops::columns::{ConvGeometry, PhaseSplit};
use crate::engine::ops::layout::BufferLayout;
use crate::engine::team::Team;

/// Largest quantised activation: `u8`, its zero at 0 (the inputs are ReLU outputs).
pub const ACTIVATION_LEVELS: f32 = 255.0;

/// Bytes the quantised `layout` takes: every plane of four channels, and at least
/// `reads_to` pixels (where the product's last panel reads up to).
pub fn quantized_len(layout: &BufferLayout, reads_to: usize) -> usize {
    (layout.channels.div_ceil(GROUP) * layout.plane()).max(reads_to) * GROUP
}

/// Where an activation of `BufferLayout` sits as levels, as [`quantize_input`] writes it
/// and as an int8 product writes a buffer of levels: planes of [`GROUP`] channels
/// interleaved per pixel, border and all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelLayout(pub BufferLayout);

impl LevelLayout {
    /// Byte of channel `c` at interior pixel (y, x).
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        GROUP * ((c / GROUP) * self.0.plane() + self.0.index(0, y, x)) + c % GROUP
    }
}

/// `x / scale` rounded to the nearest level and clamped to 0..=255: what the product
/// multiplies in place of `x`.
pub fn quantize(x: f32, inverse_scale: f32) -> u8 {
    ChannelLevels {
        mul: inverse_scale,
        add: 0.0,
    }
    .level(x)
}

/// Writes `input` (a bordered CHW buffer of `layout`) quantised with `scale` into
/// `out` (of [`quantized_len`] bytes): byte `4 * (g * plane + p) + j` is channel
/// `4g + j` at plane position `p`; channels past the last, and the bytes after the
/// last plane, are zero. With the vector instructions `isa` vouches for.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn quantize_input(
    isa: Int8Isa,
    input: &[f32],
    layout: &BufferLayout,
    scale: f32,
    out: &mut [u8],
    team: &Team,
) {
    let plane = layout.plane();
    let groups = layout.channels.div_ceil(GROUP);
    let (planes, rest) = out.split_at_mut(groups * plane * GROUP);
    rest.fill(0);
    let inverse = 1.0 / scale;
    team.for_each_chunk(planes, plane * GROUP, |group, bytes| {
        let channel = |j: usize| {
            let c = group * GROUP + j;
            (c < layout.channels).then(|| &input[c * plane..(c + 1) * plane])
        };
        let [Some(c0), Some(c1), Some(c2), Some(c3)] = [0, 1, 2, 3].map(channel) else {
            // The last group of a channel count that is not a multiple of four.
            for (i, pixel) in bytes.chunks_exact_mut(GROUP).enumerate() {
                for (j, byte) in pixel.iter_mut().enumerate() {
                    *byte = channel(j).map_or(0, |c| quantize(c[i], inverse));
                }
            }
            return;
        };
        let channels = Channels {
            c0,
            c1,
            c2,
            c3,
            inverse,
        };
        match isa.kernel() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Int8Isa` naming a VNNI kernel exists only on a CPU with its
            // instructions (AVX-512F and BW; AVX2), see `Int8Isa`'s constructors.
            Int8Kernel::Avx512Vnni => unsafe { interleave_avx512(&channels, bytes) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above: AVX2.
            Int8Kernel::AvxVnni | Int8Kernel::Avx2 => unsafe { interleave_avx2(&channels, bytes) },
            _ => interleave(&channels, bytes),
        }
    });
}

/// How one input channel's values map to levels: `x * mul + add`, rounded to the
/// nearest and clamped to 0..=255. A ReLU's output quantised with scale `s` has `mul =
/// 1 / s, add = 0`; the normalised image has its pixels back (see
/// [`crate::engine::conv::Int8Input`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelLevels {
    pub mul: f32,
    pub add: f32,
}

impl ChannelLevels {
    pub fn level(self, x: f32) -> u8 {
        // Adding 0.5 and truncating rounds the levels at or above 0. `max` first: it also takes NaN to 0, where `clamp` would keep NaN.
        #[allow(clippy::manual_clamp)]
        let level = (x * self.mul + (self.add + 0.5))
            .max(0.0)
            .min(ACTIVATION_LEVELS);
        // SAFETY: `level` is a number in 0..=255 (neither bound is NaN, and `max`
        // returns the other operand for NaN), so it converts to `i32` exactly truncated;
        // unlike `as`, this conversion needs no saturation, so loops of it vectorise.
        unsafe { level.to_int_unchecked::<i32>() as u8 }
    }
}

/// Bytes [`quantize_phases`] writes for convolution `g` read through `split` by a
/// kernel of `nr` pixels a panel: the planes of every group of [`GROUP`] channels, and
/// slack for the last panel's reads.
pub fn quantized_phases_len(split: &PhaseSplit, g: &ConvGeometry, nr: usize) -> usize {
    let groups = ConvGeometry {
        in_channels: g.in_channels.div_ceil(GROUP),
        ..*g
    };
    split.len(&groups, nr) * GROUP
}

/// Writes `input` (a CHW buffer of `layout`) split into the phase planes `split` of
/// convolution `g`, each channel quantised with its `levels`, [`GROUP`] channels
/// interleaved per pixel: plane `(group, a, b)` (see [`PhaseSplit`]) is a plane of
/// words, byte `j` of a word channel `GROUP * group + j`. Pixels in the padding take
/// the level of 0 (the padding's value), channels past the last are zero, and so is
/// the slack after the last plane. `out` holds [`quantized_phases_len`] bytes. With the
/// vector instructions `isa` vouches for.
#[allow(clippy::too_many_arguments)]
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn quantize_phases(
    isa: Int8Isa,
    input: &[f32],
    layout: &BufferLayout,
    g: &ConvGeometry,
    split: &PhaseSplit,
    levels: &[ChannelLevels],
    out: &mut [u8],
    team: &Team,
) {
    let s = split.stride();
    let plane = split.plane() * GROUP;
    let groups = g.in_channels.div_ceil(GROUP);
    let (planes, slack) = out.split_at_mut(groups * s * s * plane);
    slack.fill(0);
    let phases = Phases {
        input,
        layout,
        g,
        split,
        levels,
    };
    // One item per (group, a): the rows of its `s` planes b = 0.. are written from one
    // pass over the input rows they read.
    team.for_each_chunk(planes, s * plane, |item, bytes| match isa.kernel() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Int8Isa` naming a VNNI kernel exists only on a CPU with its
        // instructions (AVX-512F; AVX2), see `Int8Isa`'s constructors.
        Int8Kernel::Avx512Vnni => unsafe { quantize_phase_item_avx512(&phases, item, bytes) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above: AVX2.
        Int8Kernel::AvxVnni | Int8Kernel::Avx2 => unsafe {
            quantize_phase_item_avx2(&phases, item, bytes)
        },
        _ => quantize_phase_item(&phases, item, bytes),
    });
}

/// What [`quantize_phases`] splits and quantises.
struct Phases<'a> {
    input: &'a [f32],
    layout: &'a BufferLayout,
    g: &'a ConvGeometry,
    split: &'a PhaseSplit,
    levels: &'a [ChannelLevels],
}

/// [`quantize_phases`]' item `item`, (group, a), into its planes' `bytes`, in plain
/// loops that the compiler vectorises for the function they are inlined into (compiled
/// for the baseline's four lanes, the int8 Conv1 took 0.82-0.87 ms at 1 thread; for
/// AVX-512, 0.76-0.80: `bench --precision int8 --layers`, Xeon, three alternating rounds).
#[inline(always)]
fn quantize_phase_item(phases: &Phases, item: usize, bytes: &mut [u8]) {
    let Phases {
        input,
        layout,
        g,
        split,
        levels,
    } = *phases;
    let s = split.stride();
    let plane = split.plane() * GROUP;
    let (group, a) = (item / s, item % s);
    let lane = |j: usize| {
        let c = group * GROUP + j;
        (c < g.in_channels).then(|| (c, levels[c]))
    };
    let lanes = [0, 1, 2, 3].map(lane);
    let padding = u32::from_le_bytes(lanes.map(|lane| lane.map_or(0, |(_, l)| l.level(0.0))));
    let mut words = [0u32; WORDS_A_BLOCK];
    // A multiple of s, so that every block starts on a column the planes keep.
    let block_len = (WORDS_A_BLOCK / s).max(1) * s;
    for (b, plane_bytes) in bytes.chunks_exact_mut(plane).enumerate() {
        let (inside, first) = split.inside_columns(b, g);
        for (i, row) in plane_bytes
            .chunks_exact_mut(split.width * GROUP)
            .enumerate()
        {
            let (row, _) = row.as_chunks_mut::<GROUP>();
            let Some(y) = split.input_row(i, a, g).filter(|_| !inside.is_empty()) else {
                row.fill(padding.to_le_bytes());
                continue;
            };
            row[..inside.start].fill(padding.to_le_bytes());
            row[inside.end..].fill(padding.to_le_bytes());
            let sources = lanes.map(|lane| {
                lane.map(|(c, levels)| (&input[layout.index(c, y, 0)..][..g.in_w], levels))
            });
            // Blocks of input columns: their words computed lane by lane (plain
            // loops the compiler vectorises), then every s-th placed.
            let columns = first..first + (inside.len() - 1) * s + 1;
            let mut pixels = row[inside.clone()].iter_mut();
            for start in columns.clone().step_by(block_len) {
                let block = start..columns.end.min(start + block_len);
                let words = &mut words[..block.len()];
                words.fill(0);
                for (j, source) in sources.iter().enumerate() {
                    let Some((source, levels)) = source else {
                        continue;
                    };
                    let shift = 8 * j as u32;
                    for (word, &x) in words.iter_mut().zip(&source[block.clone()]) {
                        *word |= u32::from(levels.level(x)) << shift;
                    }
                }
                // The block's words first: zip stops on them without taking a
                // pixel of the next block.
                for (word, pixel) in words.iter().step_by(s).zip(pixels.by_ref()) {
                    *pixel = word.to_le_bytes();
                }
            }
        }
    }
}

/// [`quantize_phase_item`] compiled for AVX-512.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantize_phase_item_avx512(phases: &Phases, item: usize, bytes: &mut [u8]) {
    quantize_phase_item(phases, item, bytes);
}

/// [`quantize_phase_item`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_phase_item_avx2(phases: &Phases, item: usize, bytes: &mut [u8]) {
    quantize_phase_item(phases, item, bytes);
}

/// Input columns whose words [`quantize_phases`] computes at a time, at most.
const WORDS_A_BLOCK: usize = 96;

/// One group's four channel planes, and `1 / scale`.
struct Channels<'a> {
    c0: &'a [f32],
    c1: &'a [f32],
    c2: &'a [f32],
    c3: &'a [f32],
    inverse: f32,
}

/// Each pixel's four channels quantised into one little-endian word: plain arithmetic
/// the reference the vector versions below reproduce, and their tails.
fn interleave(channels: &Channels, bytes: &mut [u8]) {
    let Channels {
        c0,
        c1,
        c2,
        c3,
        inverse,
    } = *channels;
    let level = |x: f32| u32::from(quantize(x, inverse));
    for ((((word, &x0), &x1), &x2), &x3) in bytes
        .chunks_exact_mut(GROUP)
        .zip(c0)
        .zip(c1)
        .zip(c2)
        .zip(c3)
    {
        let packed = level(x0) | level(x1) << 8 | level(x2) << 16 | level(x3) << 24;
        word.copy_from_slice(&packed.to_le_bytes());
    }
}

/// [`interleave`] with x86 vectors of `$lanes` floats, `$lanes` pixels a step: the same
/// arithmetic (a multiply, then an add, each rounded; a clamp; truncation), so the same
/// bytes; the pixels past the last whole step through [`interleave`]. One definition
/// for both widths, their intrinsics named by the caller.
macro_rules! interleave_vectors {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $lanes:literal, $float:ident, $int:ident:
     $load:ident, $store:ident, $set1:ident, $zero:ident, $mul:ident, $add:ident, $max:ident,
     $min:ident, $truncate:ident, $or:ident, $shift:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU has the instructions of the target feature.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(channels: &Channels, bytes: &mut [u8]) {
            use std::arch::x86_64::*;
            let Channels { c0, c1, c2, c3, inverse } = *channels;
            let pixels = [c0.len(), c1.len(), c2.len(), c3.len(), bytes.len() / GROUP];
            let whole = pixels.into_iter().min().unwrap_or(0) / $lanes * $lanes;
            let (inverse_v, half, top) = ($set1(inverse), $set1(0.5), $set1(ACTIVATION_LEVELS));
            let level = |plane: &[f32], i: usize| -> $int {
                // SAFETY: i + lanes <= whole <= plane.len().
                let x: $float = unsafe { $load(plane.as_ptr().add(i)) };
                let x = $add($mul(x, inverse_v), half);
                $truncate($min($max(x, $zero()), top))
            };
            for i in (0..whole).step_by($lanes) {
                let word = $or(
                    $or(level(c0, i), $shift::<8>(level(c1, i))),
                    $or($shift::<16>(level(c2, i)), $shift::<24>(level(c3, i))),
                );
                // SAFETY: bytes (i + lanes) * 4 <= whole * 4 <= bytes.len().
                unsafe { $store(bytes.as_mut_ptr().add(i * GROUP).cast(), word) };
            }
            let tail = Channels {
                c0: &c0[whole..],
                c1: &c1[whole..],
                c2: &c2[whole..],
                c3: &c3[whole..],
                inverse,
            };
            interleave(&tail, &mut bytes[whole * GROUP..]);
        }
    };
}

interleave_vectors!(
    /// [`interleave`] with AVX-512, 16 pixels a step.
    interleave_avx512, "avx512f", 16, __m512, __m512i:
    _mm512_loadu_ps, _mm512_storeu_si512, _mm512_set1_ps, _mm512_setzero_ps, _mm512_mul_ps,
    _mm512_add_ps, _mm512_max_ps, _mm512_min_ps, _mm512_cvttps_epi32, _mm512_or_si512,
    _mm512_slli_epi32
);

interleave_vectors!(
    /// [`interleave`] with AVX2, 8 pixels a step.
    interleave_avx2, "avx2", 8, __m256, __m256i:
    _mm256_loadu_ps, _mm256_storeu_si256, _mm256_set1_ps, _mm256_setzero_ps, _mm256_mul_ps,
    _mm256_add_ps, _mm256_max_ps, _mm256_min_ps, _mm256_cvttps_epi32, _mm256_or_si256,
    _mm256_slli_epi32
);
