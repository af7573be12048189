//! 3x3 stride-2 max pooling with Caffe's ceil rounding: the last window may hang
//! over the edge and then covers only the pixels inside. On fp32 values, or on an
//! int8 engine's levels.

use super::gemm::Isa;
#[cfg(target_arch = "x86_64")]
use super::gemm::Kernel;
#[cfg(target_arch = "x86_64")]
use super::gemm::int8::Int8Kernel;
use super::gemm::int8::{GROUP, Int8Isa, LevelLayout};
use super::layout::BufferLayout;
use super::prefetch::prefetch;
use crate::engine::team::Team;
use crate::model::architecture::{POOL_KERNEL, POOL_STRIDE, pooled_size};
use std::ops::Range;

/// Output rows ahead whose input rows a pooling prefetches while it pools a row. The
/// hardware prefetcher alone left pool1 waiting on memory (Conv1's 5 MB output): with
/// this hint pool1 took 0.24 instead of 0.60 ms at 1 thread and pool3 0.13 instead of
/// 0.22 (`bench --layers`), the network's median 6.51 -> 6.28 ms at 1 thread and 3.48 ->
/// 3.33 at 2 (`bench`, 6 alternating rounds of 100; AMD EPYC Zen 5, 2026-12-07). Two to
/// five rows ahead measured the same, nine slower.
const PREFETCH_ROWS_AHEAD: usize = 3;

/// Pools every channel of `input` into the interior of `output` (borders untouched),
/// with the vector instructions `isa` vouches for.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn max_pool_ceil(
    isa: Isa,
    input: &[f32],
    from: &BufferLayout,
    output: &mut [f32],
    to: &BufferLayout,
    team: &Team,
) {
    debug_assert_eq!(
        (to.height, to.width),
        (pooled_size(from.height), pooled_size(from.width))
    );
    let (in_h, in_w) = (from.height, from.width);
    team.for_each_chunk(
        &mut output[..to.channels * to.plane()],
        to.plane(),
        |c, out| {
            let plane = Plane {
                in_h,
                row: |y| {
                    let start = from.index(c, y, 0);
                    &input[start..start + in_w]
                },
                out_h: to.height,
                out_row: |oy| {
                    let start = (oy + to.border) * to.row_stride() + to.border;
                    start..start + to.width
                },
            };
            match isa.kernel() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: an `Isa` naming AVX-512 exists only on a CPU with AVX-512F (see
                // `Isa`'s constructors).
                Kernel::Avx512 => unsafe { pool_plane_avx512(plane, out) },
                _ => plane.pool(out, pool_row),
            }
        },
    );
}

/// One channel's plane (or one group's of levels) to pool: input row `y < in_h` is
/// `row(y)`, output row `oy < out_h` is `out[out_row(oy)]`.
struct Plane<In, Out> {
    in_h: usize,
    row: In,
    out_h: usize,
    out_row: Out,
}

impl<'a, T: 'a, In, Out> Plane<In, Out>
where
    In: Fn(usize) -> &'a [T],
    Out: Fn(usize) -> Range<usize>,
{
    /// Every output row from the (one to three) input rows under it with `pool_row`,
    /// prefetching the input rows that output row `oy + PREFETCH_ROWS_AHEAD` reads and
    /// no earlier one did. Inlined into each kernel's plane function, so that the row
    /// kernel inlines too.
    #[inline(always)]
    fn pool(&self, out: &mut [T], pool_row: impl Fn(&[&[T]], &mut [T])) {
        for oy in 0..self.out_h {
            let y0 = oy * POOL_STRIDE;
            let mut rows: [&[T]; POOL_KERNEL] = [&[]; POOL_KERNEL];
            let count = (self.in_h - y0).min(POOL_KERNEL);
            for (dy, row) in rows[..count].iter_mut().enumerate() {
                *row = (self.row)(y0 + dy);
            }
            let first_new = (oy + PREFETCH_ROWS_AHEAD) * POOL_STRIDE + 1;
            for y in first_new..(first_new + POOL_STRIDE).min(self.in_h) {
                prefetch((self.row)(y));
            }
            pool_row(&rows[..count], &mut out[(self.out_row)(oy)]);
        }
    }
}

/// [`Plane::pool`] with [`pool_row_avx512`].
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_plane_avx512<'a, In, Out>(plane: Plane<In, Out>, out: &mut [f32])
where
    In: Fn(usize) -> &'a [f32],
    Out: Fn(usize) -> Range<usize>,
{
    // SAFETY: the caller vouches for AVX-512F.
    plane.pool(out, |rows, out_row| unsafe {
        pool_row_avx512(rows, out_row)
    });
}

/// One output row from the (one to three) input rows under it, in plain loops: the
/// reference, and the kernel where no vector version exists.
fn pool_row(rows: &[&[f32]], out_row: &mut [f32]) {
    let in_w = rows[0].len();
    out_row.fill(f32::NEG_INFINITY);
    // Windows wholly inside the row, then the ceil-rounded one at the edge.
    let full = if in_w >= POOL_KERNEL {
        (in_w - POOL_KERNEL) / POOL_STRIDE + 1
    } else {
        0
    };
    for row in rows {
        for (value, window) in out_row
            .iter_mut()
            .zip(row.windows(POOL_KERNEL).step_by(POOL_STRIDE))
            .take(full)
        {
            for &v in window {
                // A plain comparison: `f32::max` handles NaN and does not vectorise.
                *value = if v > *value { v } else { *value };
            }
        }
        for (ox, value) in out_row.iter_mut().enumerate().skip(full) {
            for &v in &row[ox * POOL_STRIDE..in_w] {
                *value = if v > *value { v } else { *value };
            }
        }
    }
}

/// [`pool_row`] 16 outputs a step: the rows' maxima over the 34 input columns under
/// them, in four vectors (columns 0-15, 16-31 and, shifted by two, 2-17, 18-33), then
/// each window's even, odd and next even column gathered by two-source permutes. With
/// the plain loops' strided reads pool1 took 0.42 ms at 1 thread and 0.25 at 2, this
/// way 0.37 and 0.22 (OpenVINO: 0.26 at 1; Xeon of the README).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pool_row_avx512(rows: &[&[f32]], out_row: &mut [f32]) {
    // SAFETY (all three): the caller vouches for AVX-512F.
    match *rows {
        [a, b, c] => unsafe { pool_rows_avx512([a, b, c], out_row) },
        [a, b] => unsafe { pool_rows_avx512([a, b], out_row) },
        [a] => unsafe { pool_rows_avx512([a], out_row) },
        _ => unreachable!("a pooling window covers one to three rows"),
    }
}

/// [`pool_row_avx512`] for `R` rows (of equal length), so the rows' loop unrolls. The
/// steps whose 34 columns lie inside the rows load them whole; the last one loads the
/// columns past the row as minus infinity (masked loads, which do not fault), so the
/// last, ceil-rounded windows take only the pixels inside, and stores only its outputs.
/// Masks on every load, a loop over a run-time number of rows and a call per row had
/// made the poolings cost several times their loads and maxima: this way, with the rows
/// walked inside one function per plane ([`Plane::pool`]), pool1, pool3 and pool5 alone
/// took 109, 75 and 49 µs instead of 169, 105 and 61 (fastest of 150 runs), and the
/// network's median went 6.11 -> 5.79 ms at 1 thread and 3.38 -> 3.31 at 2 (`bench`, 6
/// alternating rounds of 100; AMD EPYC Zen 5, 2026-12-07).
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn pool_rows_avx512<const R: usize>(rows: [&[f32]; R], out_row: &mut [f32]) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    // Input columns a step reads: 2 x 16 and, shifted by two, the next even one.
    const READ: usize = 2 * LANES + 2;
    // Where the four vectors of a step begin, from its first column.
    const STARTS: [usize; 4] = [0, LANES, 2, 2 + LANES];
    let in_w = rows[0].len();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let windows = |[low, high, low2, high2]: [__m512; 4]| {
        _mm512_max_ps(
            _mm512_max_ps(
                _mm512_permutex2var_ps(low, even, high),
                _mm512_permutex2var_ps(low, odd, high),
            ),
            _mm512_permutex2var_ps(low2, even, high2),
        )
    };
    // Steps whose columns all lie inside the rows; at most one step is left.
    let whole = if in_w >= READ {
        ((in_w - READ) / (LANES * POOL_STRIDE) + 1).min(out_row.len() / LANES)
    } else {
        0
    };
    let (whole_outputs, last) = out_row.split_at_mut(whole * LANES);
    for (step, outputs) in whole_outputs.chunks_exact_mut(LANES).enumerate() {
        let x = step * LANES * POOL_STRIDE;
        // SAFETY: x + READ <= in_w: every load lies inside every row.
        let maxima = STARTS.map(|start| unsafe { column_max(rows, x + start, !0) });
        // SAFETY: `outputs` holds 16 values.
        unsafe { _mm512_storeu_ps(outputs.as_mut_ptr(), windows(maxima)) };
    }
    for (step, outputs) in last.chunks_mut(LANES).enumerate() {
        let x = (whole + step) * LANES * POOL_STRIDE;
        let maxima = STARTS.map(|start| {
            let at = (x + start).min(in_w);
            let inside = (in_w - at).min(LANES);
            // SAFETY: the mask keeps the loads to the columns inside the rows.
            unsafe { column_max(rows, at, ((1u32 << inside) - 1) as __mmask16) }
        });
        let kept = ((1u32 << outputs.len()) - 1) as __mmask16;
        // SAFETY: the mask stores only the `outputs.len()` <= 16 values of `outputs`.
        unsafe { _mm512_mask_storeu_ps(outputs.as_mut_ptr(), kept, windows(maxima)) };
    }
}

/// The `R` rows' maxima over the 16 columns from `at` that `mask` keeps; the others are
/// minus infinity (not read). Not a closure: called four times a step, a closure was
/// not inlined and spilled its registers to the stack.
///
/// # Safety
/// The CPU has AVX-512F; the kept columns lie inside every row.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn column_max<const R: usize>(
    rows: [&[f32]; R],
    at: usize,
    mask: std::arch::x86_64::__mmask16,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: the caller vouches for AVX-512F and for the kept lanes; masked lanes are
    // not read.
    unsafe {
        let lowest = _mm512_set1_ps(f32::NEG_INFINITY);
        rows.iter().fold(lowest, |max, row| {
            _mm512_max_ps(
                max,
                _mm512_mask_loadu_ps(lowest, mask, row.as_ptr().add(at)),
            )
        })
    }
}

/// [`max_pool_ceil`] on buffers of levels ([`LevelLayout`]): the maximum of levels is
/// the level of the maximum (quantising is monotonic), so pooling the levels gives what
/// quantising the pooled values would. Borders untouched; with the vector instructions
/// `isa` vouches for.
// Off x86-64 only the portable arm of its `match` is left.
#[cfg_attr(not(target_arch = "x86_64"), allow(clippy::match_single_binding))]
pub fn max_pool_levels(
    isa: Int8Isa,
    input: &[u8],
    from: &LevelLayout,
    output: &mut [u8],
    to: &LevelLayout,
    team: &Team,
) {
    let (from, to) = (from.0, to.0);
    debug_assert_eq!(
        (to.height, to.width, to.channels),
        (
            pooled_size(from.height),
            pooled_size(from.width),
            from.channels
        )
    );
    let in_plane = GROUP * from.plane();
    let out_plane = GROUP * to.plane();
    let groups = to.channels.div_ceil(GROUP);
    team.for_each_chunk(
        &mut output[..groups * out_plane],
        out_plane,
        |group, out| {
            let input = &input[group * in_plane..(group + 1) * in_plane];
            let plane = Plane {
                in_h: from.height,
                row: |y| {
                    let start = GROUP * from.index(0, y, 0);
                    &input[start..start + GROUP * from.width]
                },
                out_h: to.height,
                out_row: |oy| {
                    let start = GROUP * to.index(0, oy, 0);
                    start..start + GROUP * to.width
                },
            };
            match isa.kernel() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: an `Int8Isa` naming AVX512-VNNI exists only on a CPU with
                // AVX-512BW (see `Int8Isa`'s constructors).
                Int8Kernel::Avx512Vnni => unsafe { pool_level_plane_avx512(plane, out) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above, AVX2.
                Int8Kernel::AvxVnni | Int8Kernel::Avx2 => unsafe {
                    pool_level_plane_avx2(plane, out)
                },
                _ => plane.pool(out, pool_level_row),
            }
        },
    );
}

/// Output pixels [`pool_level_row`] pools from one block of column maxima.
const LEVEL_BLOCK: usize = 32;

/// One output row of levels (pixels of [`GROUP`] bytes) from the (one to three) input
/// rows under it, a block of outputs at a time: first the rows' maxima byte by byte
/// (contiguous, so the compiler vectorises them), then each window's three columns of
/// those maxima. Levels are never below 0, so 0 is where a maximum starts.
#[inline(always)]
fn pool_level_row(rows: &[&[u8]], out_row: &mut [u8]) {
    let in_w = rows[0].len() / GROUP;
    let mut maxima = [0u8; GROUP * (LEVEL_BLOCK * POOL_STRIDE + 1)];
    for (block, outputs) in out_row.chunks_mut(GROUP * LEVEL_BLOCK).enumerate() {
        let first = block * LEVEL_BLOCK * POOL_STRIDE;
        let windows = outputs.len() / GROUP;
        // The columns the block's windows cover; the last, ceil-rounded window only
        // those inside the row.
        let columns = (windows * POOL_STRIDE + 1).min(in_w - first);
        let maxima = &mut maxima[..GROUP * columns];
        maxima.fill(0);
        for row in rows {
            for (max, &v) in maxima.iter_mut().zip(&row[GROUP * first..]) {
                *max = (*max).max(v);
            }
        }
        let (maxima, _) = maxima.as_chunks::<GROUP>();
        let (outputs, _) = outputs.as_chunks_mut::<GROUP>();
        for (ox, output) in outputs.iter_mut().enumerate() {
            let x = ox * POOL_STRIDE;
            *output = maxima[x..columns.min(x + POOL_KERNEL)]
                .iter()
                .fold([0; GROUP], |max, column| {
                    std::array::from_fn(|j| max[j].max(column[j]))
                });
        }
    }
}

/// [`pool_level_row`] 16 outputs a step, as [`pool_row_avx512`] pools values: a pixel's
/// word of four levels is one 32-bit lane, maxima are taken byte by byte (`vpmaxub`),
/// and the columns past the row load as 0, the lowest level.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn pool_level_row_avx512(rows: &[&[u8]], out_row: &mut [u8]) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    let in_w = rows[0].len() / GROUP;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    // Words from column `x` on that lie inside the row.
    let inside = |x: usize| -> __mmask16 {
        let lanes = in_w.saturating_sub(x).min(LANES);
        ((1u32 << lanes) - 1) as __mmask16
    };
    for (step, outputs) in out_row.chunks_mut(GROUP * LANES).enumerate() {
        let x = step * LANES * POOL_STRIDE;
        let column_max = |at: usize| {
            let mask = inside(at);
            rows.iter().fold(_mm512_setzero_si512(), |max, row| {
                // SAFETY: the mask keeps the load to the words inside `row`; masked
                // lanes are not read.
                let v = unsafe {
                    _mm512_maskz_loadu_epi32(mask, row.as_ptr().add(GROUP * at.min(in_w)).cast())
                };
                _mm512_max_epu8(max, v)
            })
        };
        let (low, high) = (column_max(x), column_max(x + LANES));
        let (low2, high2) = (column_max(x + 2), column_max(x + 2 + LANES));
        let window = _mm512_max_epu8(
            _mm512_max_epu8(
                _mm512_permutex2var_epi32(low, even, high),
                _mm512_permutex2var_epi32(low, odd, high),
            ),
            _mm512_permutex2var_epi32(low2, even, high2),
        );
        let kept = ((1u32 << (outputs.len() / GROUP)) - 1) as __mmask16;
        // SAFETY: the mask stores only the words of `outputs`.
        unsafe { _mm512_mask_storeu_epi32(outputs.as_mut_ptr().cast(), kept, window) };
    }
}

/// [`Plane::pool`] with [`pool_level_row_avx512`].
///
/// # Safety
/// The CPU has AVX-512F and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pool_level_plane_avx512<'a, In, Out>(plane: Plane<In, Out>, out: &mut [u8])
where
    In: Fn(usize) -> &'a [u8],
    Out: Fn(usize) -> Range<usize>,
{
    // SAFETY: the caller vouches for AVX-512F and AVX-512BW.
    plane.pool(out, |rows, out_row| unsafe {
        pool_level_row_avx512(rows, out_row)
    });
}

/// [`Plane::pool`] with [`pool_level_row`] compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn pool_level_plane_avx2<'a, In, Out>(plane: Plane<In, Out>, out: &mut [u8])
where
    In: Fn(usize) -> &'a [u8],
    Out: Fn(usize) -> Range<usize>,
{
    plane.pool(out, pool_level_row);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(isa: Isa, input: &[f32], from: &BufferLayout, to: &BufferLayout) -> Vec<f32> {
        let mut out = vec![0.0; to.buffer_len()];
        max_pool_ceil(isa, input, from, &mut out, to, &Team::new(2).expect("team"));
        out
    }

    #[test]
    fn ceil_window_at_the_edge_covers_only_inside_pixels() {
        // 4x4 input -> 2x2 output: the second window starts at column 2 and spans 2..4.
        let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let from = BufferLayout::new(1, 4, 4, 0);
        let to = BufferLayout::new(1, 2, 2, 1);
        for isa in Isa::available() {
            let out = pool(isa, &input, &from, &to);
            assert_eq!(
                to.interior(&out).collect::<Vec<_>>(),
                vec![10.0, 11.0, 14.0, 15.0],
                "{isa:?}"
            );
            assert_eq!(out[0], 0.0, "border stays zero");
        }
    }

    #[test]
    fn negative_values_survive() {
        let input = vec![-3.0, -1.0, -2.0, -5.0, -4.0, -6.0, -7.0, -8.0, -9.0];
        let from = BufferLayout::new(1, 3, 3, 0);
        let to = BufferLayout::new(1, 1, 1, 0);
        for isa in Isa::available() {
            assert_eq!(pool(isa, &input, &from, &to)[0], -1.0, "{isa:?}");
        }
    }

    /// Every pooling the network has (149, 75, 37, 19 and 10 wide), and widths around a
    /// vector step's 33 columns: each kernel equals the windows taken one by one, and
    /// reads nothing of the input's border (which holds a huge value here).
    #[test]
    fn every_kernel_takes_each_windows_maximum() {
        for (h, w) in [
            (149, 149),
            (75, 75),
            (37, 37),
            (19, 19),
            (10, 10),
            (5, 33),
            (4, 34),
            (3, 35),
            (7, 66),
            (3, 3),
            (3, 4),
        ] {
            let from = BufferLayout::new(2, h, w, 1);
            let to = BufferLayout::new(2, pooled_size(h), pooled_size(w), 1);
            let mut input = vec![1e9; from.buffer_len()];
            for c in 0..2 {
                for y in 0..h {
                    for x in 0..w {
                        input[from.index(c, y, x)] =
                            ((c * 7919 + y * 131 + x * 31) % 97) as f32 - 60.0;
                    }
                }
            }
            let mut expected = vec![0.0; to.buffer_len()];
            for c in 0..2 {
                for oy in 0..to.height {
                    for ox in 0..to.width {
                        let mut max = f32::NEG_INFINITY;
                        for y in oy * POOL_STRIDE..(oy * POOL_STRIDE + POOL_KERNEL).min(h) {
                            for x in ox * POOL_STRIDE..(ox * POOL_STRIDE + POOL_KERNEL).min(w) {
                                max = max.max(input[from.index(c, y, x)]);
                            }
                        }
                        expected[to.index(c, oy, ox)] = max;
                    }
                }
            }
            for isa in Isa::available() {
                assert_eq!(
                    pool(isa, &input, &from, &to),
                    expected,
                    "{isa:?} on {h}x{w}"
                );
            }
        }
    }

    /// Pooling levels, every int8 kernel gives the windows' maxima byte by byte (the
    /// levels of the pooled values) on the network's sizes and around a vector step's,
    /// with channels that leave the last group partial; it reads nothing of the input's
    /// border (which holds a large level here) and writes nothing of the output's.
    #[test]
    fn every_kernel_pools_levels_to_each_windows_maximum() {
        const BORDER: u8 = 0xee;
        for (h, w) in [
            (149, 149),
            (37, 37),
            (10, 10),
            (5, 33),
            (4, 34),
            (3, 35),
            (3, 4),
        ] {
            let channels = 6;
            let from = LevelLayout(BufferLayout::new(channels, h, w, 1));
            let to = LevelLayout(BufferLayout::new(
                channels,
                pooled_size(h),
                pooled_size(w),
                1,
            ));
            let groups_len = |l: &LevelLayout| l.0.channels.div_ceil(GROUP) * GROUP * l.0.plane();
            // The last group's lanes past the channels hold 0, as an engine's do.
            let lanes = channels.div_ceil(GROUP) * GROUP;
            let mut input = vec![BORDER; groups_len(&from)];
            for c in 0..lanes {
                for y in 0..h {
                    for x in 0..w {
                        input[from.index(c, y, x)] = if c < channels {
                            ((c * 7919 + y * 131 + x * 31) % 251) as u8
                        } else {
                            0
                        };
                    }
                }
            }
            let mut expected = vec![BORDER; groups_len(&to)];
            for c in 0..lanes {
                for oy in 0..to.0.height {
                    for ox in 0..to.0.width {
                        let mut max = 0;
                        for y in oy * POOL_STRIDE..(oy * POOL_STRIDE + POOL_KERNEL).min(h) {
                            for x in ox * POOL_STRIDE..(ox * POOL_STRIDE + POOL_KERNEL).min(w) {
                                max = max.max(input[from.index(c, y, x)]);
                            }
                        }
                        expected[to.index(c, oy, ox)] = max;
                    }
                }
            }
            let team = Team::new(2).expect("team");
            for isa in Int8Isa::available() {
                let mut out = vec![BORDER; groups_len(&to)];
                max_pool_levels(isa, &input, &from, &mut out, &to, &team);
                assert_eq!(out, expected, "{isa:?} on {h}x{w}");
            }
        }
    }
}
