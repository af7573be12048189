//! Our inference engine: a [`Plan`] derived once from the architecture, weights packed
//! once for the CPU's micro-kernel, buffers allocated once, and the kernels of [`ops`]
//! run on the engine's own thread pool.

pub mod ops;
pub mod plan;

use crate::model::Model;
use ndarray::{ArrayView3, ShapeBuilder};
use ops::columns::{ConvGeometry, direct_offsets, pack_columns};
use ops::gemm::{Columns, Isa, Layout, PackedWeights, Target, gemm};
use ops::pool::max_pool_ceil;
pub use plan::{Head, Plan, PlannedStep, Step};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start {threads} inference threads: {source}")]
    ThreadPool {
        threads: usize,
        source: rayon::ThreadPoolBuildError,
    },
}

/// Runs Tiny SSD on one image at a time. Owns every buffer it needs, so a worker
/// thread can own an engine and run it frame after frame without allocating.
pub struct Engine {
    model: Model,
    plan: Plan,
    /// The model's convolutions, in its order, packed for `isa`.
    weights: Vec<PackedWeights>,
    /// How each step's convolution reads its columns (`None` for pooling).
    column_plans: Vec<Option<ColumnPlan>>,
    isa: Isa,
    buffers: Vec<Vec<f32>>,
    columns: Vec<f32>,
    loc: Vec<f32>,
    conf: Vec<f32>,
    pool: rayon::ThreadPool,
}

impl Engine {
    /// `threads` = 0 uses one thread per core.
    pub fn new(model: Model, threads: usize) -> Result<Engine, EngineError> {
        Engine::with_isa(model, threads, Isa::detect())
    }

    /// An engine using a given micro-kernel (which the CPU must support), for tests
    /// and benchmarks of the fallbacks.
    pub fn with_isa(model: Model, threads: usize, isa: Isa) -> Result<Engine, EngineError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tinyssd-engine-{i}"))
            .build()
            .map_err(|source| EngineError::ThreadPool { threads, source })?;
        let plan = Plan::new(crate::model::Architecture::tiny_ssd());
        let buffers = (0..plan.shapes.len())
            .map(|id| vec![0.0; plan.layout(id).buffer_len()])
            .collect();
        let weights = model
            .convolutions
            .iter()
            .map(|c| PackedWeights::new(isa, c.weight.view(), &c.bias))
            .collect();
        let column_plans: Vec<Option<ColumnPlan>> = plan
            .steps
            .iter()
            .map(|planned| match planned.step {
                Step::Conv {
                    input, geometry, ..
                }
                | Step::Predict {
                    input, geometry, ..
                } => Some(ColumnPlan::new(&plan.layout(input), geometry, isa.nr())),
                Step::MaxPool { .. } => None,
            })
            .collect();
        let columns_len = column_plans
            .iter()
            .flatten()
            .filter(|c| c.packed)
            .map(|c| c.geometry.packed_len(isa.nr()))
            .max()
            .unwrap_or(0);
        Ok(Engine {
            columns: vec![0.0; columns_len],
            column_plans,
            loc: vec![0.0; plan.head_len(Head::Loc)],
            conf: vec![0.0; plan.head_len(Head::Conf)],
            weights,
            isa,
            model,
            plan,
            buffers,
            pool,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The input tensor (3 x 300 x 300, normalised) to fill before [`Engine::forward`].
    pub fn input_mut(&mut self) -> &mut [f32] {
        let layout = self.plan.layout(plan::INPUT);
        debug_assert_eq!(layout.border, 0, "the first convolution pads by itself");
        let len = layout.channels * layout.plane();
        &mut self.buffers[plan::INPUT][..len]
    }

    /// Runs the network on the current input.
    pub fn forward(&mut self) {
        self.run(None);
    }

    /// Like [`Engine::forward`], adding each step's time to `step_times`
    /// (one entry per step of [`Engine::plan`]).
    pub fn forward_profiled(&mut self, step_times: &mut [Duration]) {
        self.run(Some(step_times));
    }

    fn run(&mut self, mut step_times: Option<&mut [Duration]>) {
        let Engine {
            plan,
            weights,
            column_plans,
            buffers,
            columns,
            loc,
            conf,
            pool,
            ..
        } = self;
        pool.install(|| {
            for (i, planned) in plan.steps.iter().enumerate() {
                let start = Instant::now();
                let column_plan = column_plans[i].as_ref();
                match (planned.step, column_plan) {
                    (
                        Step::Conv {
                            conv,
                            input,
                            output,
                            channel_offset,
                            ..
                        },
                        Some(cp),
                    ) => {
                        let source = cp.columns(&buffers[input], &plan.layout(input), columns);
                        let target = cp.target(Layout::ChannelMajor {
                            buffer: plan.layout(output),
                            first_channel: channel_offset,
                            relu: true,
                        });
                        // Moving the output out of the list lets us read the input beside it.
                        let mut out = std::mem::take(&mut buffers[output]);
                        gemm(
                            &weights[conv],
                            source.columns(&buffers[input], columns),
                            &mut out,
                            target,
                        );
                        buffers[output] = out;
                    }
                    (
                        Step::Predict {
                            conv,
                            input,
                            head,
                            first_box,
                            columns_ready,
                            ..
                        },
                        Some(cp),
                    ) => {
                        let source = if columns_ready {
                            cp.ready()
                        } else {
                            cp.columns(&buffers[input], &plan.layout(input), columns)
                        };
                        let target = match head {
                            Head::Loc => &mut *loc,
                            Head::Conf => &mut *conf,
                        };
                        let start = first_box * plan.head_len(head) / plan.total_boxes;
                        gemm(
                            &weights[conv],
                            source.columns(&buffers[input], columns),
                            &mut target[start..],
                            cp.target(Layout::PixelMajor),
                        );
                    }
                    (Step::MaxPool { input, output }, _) => {
                        let mut out = std::mem::take(&mut buffers[output]);
                        max_pool_ceil(
                            &buffers[input],
                            &plan.layout(input),
                            &mut out,
                            &plan.layout(output),
                        );
                        buffers[output] = out;
                    }
                    (Step::Conv { .. } | Step::Predict { .. }, None) => {
                        unreachable!("every convolution step has a column plan")
                    }
                }
                if let Some(time) = step_times.as_deref_mut().and_then(|t| t.get_mut(i)) {
                    *time += start.elapsed();
                }
            }
        });
    }

    /// Box offsets, [total_boxes][4], from the last forward pass.
    pub fn loc(&self) -> &[f32] {
        &self.loc
    }

    /// Class logits, [total_boxes][num_classes], from the last forward pass.
    pub fn conf(&self) -> &[f32] {
        &self.conf
    }

    /// A layer's output (C, H, W) from the last forward pass.
    pub fn feature(&self, layer: &str) -> Option<ArrayView3<'_, f32>> {
        let id = self.plan.layer_output(layer)?;
        let l = self.plan.layout(id);
        let shape = (l.channels, l.height, l.width).strides((l.plane(), l.row_stride(), 1));
        ArrayView3::from_shape(shape, &self.buffers[id][l.index(0, 0, 0)..]).ok()
    }
}

/// How one convolution gets its columns, decided once per engine.
#[derive(Debug, Clone)]
struct ColumnPlan {
    geometry: ConvGeometry,
    /// Unfolded into the shared packed buffer each frame (else read in place).
    packed: bool,
    /// Row offsets: into the input buffer (direct) or within a packed panel.
    offsets: Vec<usize>,
    /// Width of the grid the product is computed on, and its number of pixels.
    grid_width: usize,
    grid_pixels: usize,
    nr: usize,
}

/// Where this frame's columns are: packed in the scratch buffer, or the input itself.
#[derive(Clone, Copy)]
enum Source<'p> {
    Packed(&'p ColumnPlan),
    Direct(&'p ColumnPlan),
}

impl ColumnPlan {
    fn new(input: &ops::layout::BufferLayout, geometry: ConvGeometry, nr: usize) -> ColumnPlan {
        match direct_offsets(input, &geometry) {
            Some(offsets) => ColumnPlan {
                geometry,
                packed: false,
                offsets,
                grid_width: input.row_stride(),
                grid_pixels: geometry.out_h * input.row_stride(),
                nr,
            },
            None => ColumnPlan {
                geometry,
                packed: true,
                offsets: (0..geometry.col_rows()).map(|k| k * nr).collect(),
                grid_width: geometry.out_w,
                grid_pixels: geometry.out_pixels(),
                nr,
            },
        }
    }

    /// Packs the input if this convolution needs it.
    fn columns(
        &self,
        input: &[f32],
        layout: &ops::layout::BufferLayout,
        scratch: &mut [f32],
    ) -> Source<'_> {
        if self.packed {
            pack_columns(input, layout, &self.geometry, self.nr, scratch);
        }
        self.ready()
    }

    /// The columns as the previous step left them.
    fn ready(&self) -> Source<'_> {
        if self.packed {
            Source::Packed(self)
        } else {
            Source::Direct(self)
        }
    }

    fn target(&self, layout: Layout) -> Target {
        Target {
            grid_width: self.grid_width,
            width: self.geometry.out_w,
            layout,
        }
    }
}

impl<'p> Source<'p> {
    fn columns<'a>(self, input: &'a [f32], scratch: &'a [f32]) -> Columns<'a>
    where
        'p: 'a,
    {
        match self {
            Source::Packed(plan) => {
                Columns::packed(scratch, &plan.offsets, plan.nr, plan.grid_pixels)
            }
            Source::Direct(plan) => Columns {
                data: input,
                offsets: &plan.offsets,
                panel_stride: plan.nr,
                pixels: plan.grid_pixels,
            },
        }
    }
}
