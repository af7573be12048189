//! How one convolution step runs, decided once per engine: Winograd F(4x4, 3x3) for
//! the large 3x3 stride-1 convolutions, otherwise a matrix product whose columns are
//! read in place (stride 1) or from the input split into phase planes (stride 2); at
//! int8, a stride-1 convolution with a calibrated input scale runs the int8 product on
//! its input quantised in place of either.

use super::ops::columns::{ConvGeometry, PhaseSplit, direct_offsets, plane_offsets};
use super::ops::gemm::int8::{
    GROUP, Int8Columns, Int8Isa, Int8Weights, gemm_int8, quantize_input, quantized_len,
};
use super::ops::gemm::{Columns, Isa, Layout, PackedWeights, Target, gemm};
use super::ops::layout::BufferLayout;
use super::ops::winograd::{self, Tiling, WinogradWeights};
use super::team::Team;
use crate::model::ConvWeights;

/// Output pixels from which Winograd pays for its transforms: the 37x37 Fire4
/// predictors (3.1 ms by the direct product at 1 thread, 2.4 by Winograd). On the
/// 10x10 Fire9 ones its 3x3 tiles of 4x4 (12x12 computed for 10x10) took twice the
/// direct product's time, 0.60 against 0.27 ms at 1 thread and 0.36-0.40 against 0.18
/// at 2; on the 19x19 Fire8 ones the two measure the same at 1 thread (0.58-0.60
/// against 0.58-0.72 ms) and the direct product is faster at 2 (0.31 against 0.42), as
/// it scales better with threads. (`tinyssd bench --layers`, Xeon with AVX-512.)
const WINOGRAD_MIN_PIXELS: usize = 37 * 37;
/// Input channels from which Winograd pays for its transforms: measured with
/// `tinyssd bench --layers`, the predictors (83-173 channels) run faster with Winograd
/// and the Fire expands (15-49 channels) do not: F(4x4, 3x3) made the 75x75 ones 1.5
/// times slower (the transforms, through memory, outweigh the products) and the 19x19
/// ones 5-10 % faster.
const WINOGRAD_MIN_CHANNELS: usize = 64;

/// A convolution's input buffer and its layout; `in_scratch`: the previous step left
/// this same input split or transformed in the [`Scratch`] already.
pub struct ConvInput<'a> {
    pub data: &'a [f32],
    pub layout: &'a BufferLayout,
    pub in_scratch: bool,
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

/// How an int8 convolution gets its columns: its input quantised with `scale` into
/// the scratch (`len` bytes), read in place at `offsets` on a grid as wide as the
/// input's rows.
#[derive(Debug, Clone)]
pub struct Int8ColumnPlan {
    geometry: ConvGeometry,
    scale: f32,
    offsets: Vec<usize>,
    grid_width: usize,
    grid_pixels: usize,
    len: usize,
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

    /// The int8 kernel for a convolution whose input, never negative, is quantised
    /// with `scale`; `None` where it cannot read its columns in place (a strided
    /// convolution, or padding past the input's border), which then stays fp32.
    pub fn int8(
        isa: Int8Isa,
        params: &ConvWeights,
        input: &BufferLayout,
        geometry: ConvGeometry,
        scale: f32,
    ) -> Option<ConvKernel> {
        let offsets = plane_offsets(input, &geometry, geometry.in_channels.div_ceil(GROUP))?;
        let grid_width = input.row_stride();
        let grid_pixels = geometry.out_h * grid_width;
        let reads_to = offsets.iter().max()? + grid_pixels.div_ceil(isa.nr()) * isa.nr();
        let weights = Int8Weights::new(
            isa,
            params.weight.view(),
            &params.bias,
            geometry.in_channels,
            scale,
        );
        Some(ConvKernel::Int8 {
            weights,
            columns: Int8ColumnPlan {
                geometry,
                scale,
                offsets,
                grid_width,
                grid_pixels,
                len: quantized_len(input, reads_to),
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
                columns.scale == was.scale
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
            ConvKernel::Int8 { .. } => "int8 gemm",
        }
    }

    /// Runs the convolution on `input` into `out`, on `team`'s threads.
    pub fn run(
        &self,
        input: ConvInput,
        scratch: &mut Scratch,
        out: &mut [f32],
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
                let quantized = &mut scratch.quantized[..columns.len];
                if !input_ready {
                    quantize_input(
                        weights.isa(),
                        input,
                        input_layout,
                        columns.scale,
                        quantized,
                        team,
                    );
                }
                let source = Int8Columns {
                    data: quantized,
                    offsets: &columns.offsets,
                    pixels: columns.grid_pixels,
                };
                let target = grid_target(columns.grid_width, &columns.geometry, layout);
                gemm_int8(weights, source, out, target, team);
            }
        }
    }
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
