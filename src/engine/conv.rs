//! How one convolution step runs, decided once per engine: Winograd F(4x4, 3x3) for
//! the large 3x3 stride-1 convolutions, otherwise a matrix product whose columns are
//! read in place (stride 1) or from the input split into phase planes (stride 2); at
//! int8, a convolution with a calibrated input scale runs the int8 product on its
//! input quantised in place of either: read in place at stride 1, split into phase
//! planes otherwise, and for the first convolution the image's own pixel levels.

use super::ops::columns::{ConvGeometry, PhaseSplit, direct_offsets, plane_offsets};
use super::ops::gemm::int8::{
    ChannelLevels, GROUP, Int8Columns, Int8Isa, Int8Out, Int8Weights, gemm_int8, quantize_input,
    quantize_phases, quantize_rows, quantized_len, quantized_phases_len,
};
use super::ops::gemm::{Columns, Isa, Layout, PackedWeights, Target, gemm};
use super::ops::layout::BufferLayout;
use super::ops::winograd::{self, Tiling, WinogradWeights};
use super::team::Team;
use crate::model::{ConvWeights, Normalization};
use ndarray::{Array2, s};

/// Output pixels from which Winograd pays for its transforms. On the 10x10 Fire9
/// predictors its 3x3 tiles of 4x4 (12x12 computed for 10x10) took twice the direct
/// product's time, 0.60 against 0.27 ms at 1 thread (Xeon with AVX-512, `tinyssd bench
/// --layers`). On the 18x18 maps it measured level or slower on that Xeon (Fire8's
/// predictors 0.58-0.60 against 0.58-0.72 ms at 1 thread, 0.42 against 0.31 at 2), but
/// since its weights are prefetched and its output transform vectorised it wins there
/// too: Fire8's predictors 0.136 against 0.185 ms at 2 threads, Fire5-7's expands
/// 0.296 against 0.314, the layers' sum 2.71 against 2.86 ms, the network's median at 1
/// thread 4.98 against 5.04 (6 alternating rounds; AMD EPYC Zen 5, 2026-12-07); with the
/// AVX2 kernel (`--fp32-kernel avx2`, 5 rounds) 9.34 -> 8.69 ms at 1 thread and 4.87 ->
/// 4.63 at 2.
const WINOGRAD_MIN_PIXELS: usize = 18 * 18;
/// Input channels from which Winograd pays for its transforms: the Fire expands on
/// 15-29 channels do not (F(4x4, 3x3) made the 75x75 ones 1.5 times slower: the
/// transforms, through memory, outweigh the products); those on 44-49 channels (Fire5-7)
/// and the predictors (83-173) do.
const WINOGRAD_MIN_CHANNELS: usize = 40;

/// A convolution's input buffer and its layout; `in_scratch`: the previous step left
/// this same input split or transformed in the [`Scratch`] already.
pub struct ConvInput<'a> {
    pub data: Activations<'a>,
    pub layout: &'a BufferLayout,
    pub in_scratch: bool,
}

/// A buffer's activations as a step reads them: fp32 values, or an int8 engine's levels
/// ([`LevelLayout`](super::ops::gemm::int8::LevelLayout)), which the int8 product reads
/// as they are.
#[derive(Debug, Clone, Copy)]
pub enum Activations<'a> {
    Values(&'a [f32]),
    Levels(&'a [u8]),
}

/// Where a convolution writes: fp32 values as the [`Layout`] says, or levels of `scale`
/// into a buffer of levels (int8 kernels only).
pub enum ConvOutput<'a> {
    Values(&'a mut [f32]),
    Levels { out: &'a mut [u8], scale: f32 },
}

/// Scratch shared by every convolution of an engine, sized for the largest.
#[derive(Debug, Default)]
pub struct Scratch {
    columns: Vec<f32>,
    winograd_input: Vec<f32>,
    winograd_products: Vec<f32>,
    quantized: Vec<u8>,
}

#[derive(Debug)]
pub enum ConvKernel {
    Gemm {
        weights: PackedWeights,
        columns: ColumnPlan,
    },
    Winograd {
        weights: WinogradWeights,
        tiling: Tiling,
        /// Row offsets of the transformed input (see [`Tiling::input_offsets`]).
        offsets: Vec<usize>,
    },
    Int8 {
        weights: Int8Weights,
        columns: Int8ColumnPlan,
    },
}

/// What an int8 convolution's input is, and the scale of one level of it.
#[derive(Debug, Clone, Copy)]
pub enum Int8Input<'a> {
    /// A ReLU's output (never negative): level `x / scale`.
    Activations { scale: f32 },
    /// The network's input, the image normalised by `normalization`: quantised back to
    /// the image before normalisation, `x * std + mean` (0 to 1), in levels of
    /// `scale` (1/255: the pixels themselves), channel by channel; the normalisation is
    /// folded into the weights.
    Image {
        scale: f32,
        normalization: &'a Normalization,
    },
}

/// How an int8 convolution gets its columns: its input quantised into the scratch
/// (`len` bytes), read at `offsets` on a grid `grid_width` wide.
#[derive(Debug, Clone)]
pub struct Int8ColumnPlan {
    geometry: ConvGeometry,
    source: Int8Source,
    offsets: Vec<usize>,
    grid_width: usize,
    grid_pixels: usize,
    len: usize,
}

#[derive(Debug, Clone)]
enum Int8Source {
    /// A stride-1 convolution on a ReLU's output: quantised per tensor with `scale`,
    /// border and all, and read in place.
    InPlace { scale: f32 },
    /// Quantised channel by channel with `levels` into the phase planes `split`
    /// (strided convolutions, and the image).
    Phases {
        split: PhaseSplit,
        levels: Vec<ChannelLevels>,
    },
}

impl ConvKernel {
    pub fn new(
        isa: Isa,
        params: &ConvWeights,
        input: &BufferLayout,
        geometry: ConvGeometry,
    ) -> ConvKernel {
        let nr = isa.nr();
        let winograd = geometry.kernel == 3
            && geometry.stride == 1
            && geometry.pad == 1
            && input.border >= 1
            && geometry.out_pixels() >= WINOGRAD_MIN_PIXELS
            && geometry.in_channels >= WINOGRAD_MIN_CHANNELS
            && winograd::fits_width(geometry.out_w);
        if winograd {
            let tiling = Tiling {
                channels: geometry.in_channels,
                height: geometry.out_h,
                width: geometry.out_w,
                nr,
            };
            ConvKernel::Winograd {
                weights: WinogradWeights::new(isa, params.weight.view(), &params.bias),
                offsets: tiling.input_offsets(),
                tiling,
            }
        } else {
            ConvKernel::Gemm {
                weights: PackedWeights::new(isa, params.weight.view(), &params.bias),
                columns: ColumnPlan::new(input, geometry, nr),
            }
        }
    }

    /// The int8 kernel for a convolution on `input`: quantised per tensor and read in
    /// place where it can be (a stride-1 convolution on a ReLU's output whose padding
    /// lies in the input's border), split into phase planes otherwise. `None` for an
    /// image that is not three channels.
    pub fn int8(
        isa: Int8Isa,
        params: &ConvWeights,
        layout: &BufferLayout,
        geometry: ConvGeometry,
        input: Int8Input,
    ) -> Option<ConvKernel> {
        let nr = isa.nr();
        let channels = geometry.in_channels;
        let in_place = match input {
            Int8Input::Activations { scale } => {
                plane_offsets(layout, &geometry, channels.div_ceil(GROUP))
                    .map(|offsets| (scale, offsets))
            }
            Int8Input::Image { .. } => None,
        };
        if let Some((scale, offsets)) = in_place {
            let grid_width = layout.row_stride();
            let grid_pixels = geometry.out_h * grid_width;
            let reads_to = offsets.iter().max()? + grid_pixels.div_ceil(nr) * nr;
            let weights =
                Int8Weights::new(isa, params.weight.view(), &params.bias, channels, scale);
            return Some(ConvKernel::Int8 {
                weights,
                columns: Int8ColumnPlan {
                    geometry,
                    source: Int8Source::InPlace { scale },
                    offsets,
                    grid_width,
                    grid_pixels,
                    len: quantized_len(layout, reads_to),
                },
            });
        }
        let levels: Vec<ChannelLevels> = match input {
            Int8Input::Activations { scale } => vec![
                ChannelLevels {
                    mul: 1.0 / scale,
                    add: 0.0,
                };
                channels
            ],
            Int8Input::Image {
                scale,
                normalization,
            } => {
                if channels != normalization.std.len() {
                    return None;
                }
                (normalization.std.iter().zip(&normalization.mean))
                    .map(|(std, mean)| ChannelLevels {
                        mul: std / scale,
                        add: mean / scale,
                    })
                    .collect()
            }
        };
        let (weight, bias) = fold_levels(params, &levels);
        let split = PhaseSplit::new(&geometry);
        let groups = ConvGeometry {
            in_channels: channels.div_ceil(GROUP),
            ..geometry
        };
        Some(ConvKernel::Int8 {
            weights: Int8Weights::new(isa, weight.view(), &bias, channels, 1.0),
            columns: Int8ColumnPlan {
                geometry,
                offsets: split.offsets(&groups),
                grid_width: split.width,
                grid_pixels: geometry.out_h * split.width,
                len: quantized_phases_len(&split, &geometry, nr),
                source: Int8Source::Phases { split, levels },
            },
        })
    }

    /// Whether this kernel, run right after `previous` on the same input, finds that
    /// input prepared in the scratch as it needs it: both transform it for Winograd
    /// alike, both split it into the same phase planes, or both quantise it with one
    /// scale.
    pub fn reuses_input_of(&self, previous: &ConvKernel) -> bool {
        match (self, previous) {
            (ConvKernel::Winograd { tiling, .. }, ConvKernel::Winograd { tiling: was, .. }) => {
                tiling == was
            }
            // The planes are the same; a longer scratch's tail past them is read only
            // for pixels past the grid, which are dropped.
            (ConvKernel::Int8 { columns, .. }, ConvKernel::Int8 { columns: was, .. }) => {
                match (&columns.source, &was.source) {
                    (Int8Source::InPlace { scale }, Int8Source::InPlace { scale: was }) => {
                        scale == was
                    }
                    (
                        Int8Source::Phases { split, levels },
                        Int8Source::Phases {
                            split: was_split,
                            levels: was_levels,
                        },
                    ) => {
                        split == was_split
                            && levels == was_levels
                            && columns.geometry == was.geometry
                    }
                    _ => false,
                }
            }
            (ConvKernel::Gemm { columns, .. }, ConvKernel::Gemm { columns: was, .. }) => {
                matches!(columns.source, ColumnSource::Phases(_))
                    && columns.geometry == was.geometry
            }
            _ => false,
        }
    }

    /// Grows `scratch` to what this convolution needs (at engine creation).
    pub fn reserve(&self, scratch: &mut Scratch) {
        let grow = |buffer: &mut Vec<f32>, len: usize| {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        };
        match self {
            ConvKernel::Gemm { columns, .. } => {
                grow(&mut scratch.columns, columns.scratch_len());
            }
            ConvKernel::Winograd {
                weights, tiling, ..
            } => {
                grow(&mut scratch.winograd_input, tiling.input_len());
                grow(
                    &mut scratch.winograd_products,
                    tiling.product_len(weights.rows()),
                );
            }
            ConvKernel::Int8 { columns, .. } => {
                if scratch.quantized.len() < columns.len {
                    scratch.quantized.resize(columns.len, 0);
                }
            }
        }
    }

    pub fn is_int8(&self) -> bool {
        matches!(self, ConvKernel::Int8 { .. })
    }

    /// How it runs, for profiles.
    pub fn method(&self) -> &'static str {
        match self {
            ConvKernel::Gemm { columns, .. } => match columns.source {
                ColumnSource::Direct => "gemm",
                ColumnSource::Phases(_) => "phases + gemm",
            },
            ConvKernel::Winograd { .. } => "winograd",
            ConvKernel::Int8 { columns, .. } => match columns.source {
                Int8Source::InPlace { .. } => "int8 gemm",
                Int8Source::Phases { .. } => "phases + int8 gemm",
            },
        }
    }

    /// The scale of the levels its input is read as they are at, in place: a buffer of
    /// levels of this scale needs no quantising for it. `None` for a kernel that needs
    /// fp32 values.
    pub fn reads_levels_of(&self) -> Option<f32> {
        match self {
            ConvKernel::Int8 { columns, .. } => match columns.source {
                Int8Source::InPlace { scale } => Some(scale),
                Int8Source::Phases { .. } => None,
            },
            ConvKernel::Gemm { .. } | ConvKernel::Winograd { .. } => None,
        }
    }

    /// Bytes a buffer of levels this kernel reads in place must hold: its planes, and as
    /// far as the product's last panel reads.
    pub fn levels_len(&self) -> usize {
        match self {
            ConvKernel::Int8 { columns, .. } => columns.len,
            ConvKernel::Gemm { .. } | ConvKernel::Winograd { .. } => 0,
        }
    }

    /// Runs the convolution on `input` into `out`, on `team`'s threads.
    ///
    /// # Panics
    /// On levels given to a kernel that does not read or write them: the engine gives
    /// levels only where [`ConvKernel::reads_levels_of`] and [`ConvKernel::is_int8`] allow.
    pub fn run(
        &self,
        input: ConvInput,
        scratch: &mut Scratch,
        out: ConvOutput,
        layout: Layout,
        team: &Team,
    ) {
        let ConvInput {
            data: input,
            layout: input_layout,
            in_scratch: input_ready,
        } = input;
        match self {
            ConvKernel::Gemm { weights, columns } => {
                let (input, out) = fp32_sides(input, out);
                let data = match columns.source {
                    ColumnSource::Direct => input,
                    ColumnSource::Phases(phases) => {
                        let split = &mut scratch.columns[..columns.scratch_len()];
                        if !input_ready {
                            phases.split(input, input_layout, &columns.geometry, split, team);
                        }
                        split
                    }
                };
                let source = Columns {
                    data,
                    offsets: &columns.offsets,
                    pixels: columns.grid_pixels,
                };
                let target = grid_target(columns.grid_width, &columns.geometry, layout);
                gemm(weights, source, out, target, team);
            }
            ConvKernel::Winograd {
                weights,
                tiling,
                offsets,
            } => {
                let (input, out) = fp32_sides(input, out);
                if !input_ready {
                    winograd::transform_input(
                        input,
                        input_layout,
                        tiling,
                        &mut scratch.winograd_input,
                        team,
                    );
                }
                let products = &mut scratch.winograd_products;
                winograd::multiply(
                    weights,
                    tiling,
                    &scratch.winograd_input,
                    offsets,
                    products,
                    team,
                );
                winograd::transform_output(weights, tiling, products, out, layout, team);
            }
            ConvKernel::Int8 { weights, columns } => {
                let quantized: &[u8] = match input {
                    Activations::Levels(levels) => {
                        assert!(
                            matches!(columns.source, Int8Source::InPlace { .. }),
                            "levels are read in place"
                        );
                        &levels[..columns.len]
                    }
                    Activations::Values(input) => {
                        let quantized = &mut scratch.quantized[..columns.len];
                        if !input_ready {
                            columns.quantize(weights.isa(), input, input_layout, quantized, team);
                        }
                        quantized
                    }
                };
                let source = Int8Columns {
                    data: quantized,
                    offsets: &columns.offsets,
                    pixels: columns.grid_pixels,
                };
                let out = match out {
                    ConvOutput::Values(out) => Int8Out::Values(out),
                    ConvOutput::Levels { out, scale } => Int8Out::Levels { out, scale },
                };
                let target = grid_target(columns.grid_width, &columns.geometry, layout);
                gemm_int8(weights, source, out, target, team);
            }
        }
    }
}

/// The fp32 input and output of a kernel that reads and writes values.
///
/// # Panics
/// On levels: only int8 kernels read or write them.
fn fp32_sides<'a, 'b>(input: Activations<'a>, out: ConvOutput<'b>) -> (&'a [f32], &'b mut [f32]) {
    match (input, out) {
        (Activations::Values(input), ConvOutput::Values(out)) => (input, out),
        _ => panic!("an fp32 kernel reads and writes fp32 values"),
    }
}

impl Int8ColumnPlan {
    /// Quantises fp32 `input` (of `layout`) into `quantized` as this plan reads it.
    fn quantize(
        &self,
        isa: Int8Isa,
        input: &[f32],
        layout: &BufferLayout,
        quantized: &mut [u8],
        team: &Team,
    ) {
        match &self.source {
            Int8Source::InPlace { scale } => {
                quantize_input(isa, input, layout, *scale, quantized, team)
            }
            Int8Source::Phases { split, levels } => quantize_phases(
                isa,
                input,
                layout,
                &self.geometry,
                split,
                levels,
                quantized,
                team,
            ),
        }
    }
}

/// The weights and bias that, applied to the levels of `levels` (`x * mul + add` per
/// input channel), give what `params` gives on `x`: each channel's weights divided by
/// its `mul`, and the bias less what the `add`s contribute. That is taken from the
/// weights as the int8 product will have them (quantised), so that the two cancel
/// where the levels are exact.
fn fold_levels(params: &ConvWeights, levels: &[ChannelLevels]) -> (Array2<f32>, Vec<f32>) {
    let mut weight = params.weight.to_owned();
    let taps = weight.ncols() / levels.len();
    for mut row in weight.rows_mut() {
        for (c, level) in levels.iter().enumerate() {
            (row.slice_mut(s![c * taps..(c + 1) * taps])).mapv_inplace(|w| w / level.mul);
        }
    }
    let (quantized, scales) = quantize_rows(weight.view());
    let bias = (params.bias.iter().zip(&scales))
        .zip(quantized.chunks_exact(weight.ncols().max(1)))
        .map(|((&bias, &scale), row)| {
            let added: f32 = (row.chunks(taps).zip(levels))
                .map(|(taps, level)| level.add * taps.iter().map(|&q| f32::from(q)).sum::<f32>())
                .sum();
            bias - scale * added
        })
        .collect();
    (weight, bias)
}

/// Where a product computed on a grid `grid_width` wide writes convolution `geometry`'s
/// output: the grid's columns past the output's width are dropped.
fn grid_target(grid_width: usize, geometry: &ConvGeometry, layout: Layout) -> Target {
    Target {
        grid_width,
        width: geometry.out_w,
        layout,
    }
}

/// How a matrix-product convolution gets its columns.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    geometry: ConvGeometry,
    source: ColumnSource,
    /// Row offsets: into the input buffer or the phase planes.
    offsets: Vec<usize>,
    /// Width of the grid the product is computed on, and its number of pixels.
    grid_width: usize,
    grid_pixels: usize,
    nr: usize,
}

/// Where the columns are read from.
#[derive(Debug, Clone, Copy)]
enum ColumnSource {
    /// The input buffer, in place.
    Direct,
    /// The input split into phase planes in the shared scratch each frame.
    Phases(PhaseSplit),
}

impl ColumnPlan {
    fn new(input: &BufferLayout, geometry: ConvGeometry, nr: usize) -> ColumnPlan {
        let plan = |source, offsets, grid_width, grid_pixels| ColumnPlan {
            geometry,
            source,
            offsets,
            grid_width,
            grid_pixels,
            nr,
        };
        if let Some(offsets) = direct_offsets(input, &geometry) {
            let width = input.row_stride();
            plan(ColumnSource::Direct, offsets, width, geometry.out_h * width)
        } else {
            let phases = PhaseSplit::new(&geometry);
            let offsets = phases.offsets(&geometry);
            let grid_pixels = geometry.out_h * phases.width;
            plan(
                ColumnSource::Phases(phases),
                offsets,
                phases.width,
                grid_pixels,
            )
        }
    }

    /// Scratch values the columns take each frame.
    fn scratch_len(&self) -> usize {
        match self.source {
            ColumnSource::Direct => 0,
            ColumnSource::Phases(phases) => phases.len(&self.geometry, self.nr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ops::gemm::Layout;
    use crate::model::ChannelOrder;
    use crate::model::architecture::ConvSpec;

    /// A strided convolution on an image-like input at int8 (the normalised image
    /// quantised back to its levels, and a ReLU's output split into phase planes)
    /// against the same convolution at fp32.
    #[test]
    fn strided_int8_convolutions_match_fp32() {
        let normalization = Normalization {
            channel_order: ChannelOrder::Rgb,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        };
        // Rows of 230 columns: several of the blocks the quantising works in.
        let (channels, rows, height, width) = (3, 11, 7, 230);
        for pad in [0, 1] {
            let geometry = ConvGeometry::new(channels, height, width, 3, 2, pad);
            let spec = ConvSpec {
                name: "conv".into(),
                in_channels: channels,
                out_channels: rows,
                kernel: 3,
                stride: 2,
                pad,
            };
            let weight: Vec<f32> = (0..rows * channels * 9)
                .map(|i| ((i * 7 % 23) as f32 - 11.0) * 0.05)
                .collect();
            let params = ConvWeights {
                spec,
                weight: Array2::from_shape_vec((rows, channels * 9), weight).expect("shape"),
                bias: (0..rows).map(|i| i as f32 * 0.3 - 2.0).collect(),
            };
            let layout = BufferLayout::new(channels, height, width, 1);
            let out_layout = BufferLayout::new(rows, geometry.out_h, geometry.out_w, 0);
            let team = Team::new(2).expect("team");
            let run = |kernel: &ConvKernel, input: &[f32]| {
                let mut scratch = Scratch::default();
                kernel.reserve(&mut scratch);
                let mut out = vec![f32::NAN; out_layout.buffer_len()];
                let input = ConvInput {
                    data: Activations::Values(input),
                    layout: &layout,
                    in_scratch: false,
                };
                let target = Layout::all_channels(out_layout, false);
                let output = ConvOutput::Values(&mut out);
                kernel.run(input, &mut scratch, output, target, &team);
                out
            };
            let fp32 = ConvKernel::new(Isa::detect(), &params, &layout, geometry);
            for image in [true, false] {
                let mut input = vec![0.0; layout.buffer_len()];
                for c in 0..channels {
                    for y in 0..height {
                        for x in 0..width {
                            let pixel = ((c * 31 + y * 7 + x * 13) % 256) as f32;
                            input[layout.index(c, y, x)] = if image {
                                (pixel / 255.0 - normalization.mean[c]) / normalization.std[c]
                            } else {
                                pixel / 100.0
                            };
                        }
                    }
                }
                let int8_input = if image {
                    Int8Input::Image {
                        scale: 1.0 / 255.0,
                        normalization: &normalization,
                    }
                } else {
                    Int8Input::Activations {
                        scale: 2.55 / 255.0,
                    }
                };
                let want = run(&fp32, &input);
                let largest = want.iter().fold(0.0f32, |m, v| m.max(v.abs())); // NaN-free: max skips the unwritten
                for isa in Int8Isa::available() {
                    let int8 = ConvKernel::int8(isa, &params, &layout, geometry, int8_input)
                        .expect("an int8 kernel");
                    assert_eq!(int8.method(), "phases + int8 gemm");
                    let got = run(&int8, &input);
                    for m in 0..rows {
                        for y in 0..geometry.out_h {
                            for x in 0..geometry.out_w {
                                let i = out_layout.index(m, y, x);
                                let (got, want) = (got[i], want[i]);
                                assert!(
                                    (got - want).abs() <= 0.01 * largest,
                                    "{isa:?} pad {pad} image {image} ({m}, {y}, {x}): {got} against {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
