//! Our inference engine: a [`Plan`] derived once from the architecture, buffers
//! allocated once, and kernels from [`ops`] run on the engine's own thread pool.

pub mod ops;
pub mod plan;

use crate::model::Model;
use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2};
use ops::conv::{conv_channel_major, conv_pixel_major};
use ops::im2col::im2col;
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
    buffers: Vec<Vec<f32>>,
    col: Vec<f32>,
    loc: Vec<f32>,
    conf: Vec<f32>,
    pool: rayon::ThreadPool,
}

impl Engine {
    /// `threads` = 0 uses one thread per core.
    pub fn new(model: Model, threads: usize) -> Result<Engine, EngineError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tinyssd-engine-{i}"))
            .build()
            .map_err(|source| EngineError::ThreadPool { threads, source })?;
        let plan = Plan::new(crate::model::Architecture::tiny_ssd());
        let buffers = plan
            .shapes
            .iter()
            .map(|s| vec![0.0; s.iter().product()])
            .collect();
        Ok(Engine {
            col: vec![0.0; plan.col_len],
            loc: vec![0.0; plan.head_len(Head::Loc)],
            conf: vec![0.0; plan.head_len(Head::Conf)],
            model,
            plan,
            buffers,
            pool,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The input tensor (3 x 300 x 300, normalised) to fill before [`Engine::forward`].
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut self.buffers[plan::INPUT]
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
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
            model,
            plan,
            buffers,
            col,
            loc,
            conf,
            pool,
        } = self;
        pool.install(|| {
            for (i, planned) in plan.steps.iter().enumerate() {
                let start = Instant::now();
                run_step(&planned.step, model, plan, buffers, col, loc, conf);
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
        let [c, h, w] = self.plan.shapes[id];
        ArrayView3::from_shape((c, h, w), &self.buffers[id]).ok()
    }
}

fn run_step(
    step: &Step,
    model: &Model,
    plan: &Plan,
    buffers: &mut [Vec<f32>],
    col: &mut [f32],
    loc: &mut [f32],
    conf: &mut [f32],
) {
    match *step {
        Step::Conv {
            conv,
            input,
            output,
            channel_offset,
            geometry: g,
        } => {
            let params = &model.convolutions[conv];
            let pixels = g.out_pixels();
            // Moving the output out of the list lets us read the input beside it.
            let mut out = std::mem::take(&mut buffers[output]);
            let rows = params.spec.out_channels;
            let dest = &mut out[channel_offset * pixels..(channel_offset + rows) * pixels];
            let dest = view_mut(dest, rows, pixels);
            let source = columns(&buffers[input], &g, col);
            conv_channel_major(
                params.weight.view(),
                &params.bias,
                source,
                dest,
                params.spec.relu,
            );
            buffers[output] = out;
        }
        Step::MaxPool {
            input,
            output,
            channels,
            in_h,
            in_w,
        } => {
            let mut out = std::mem::take(&mut buffers[output]);
            max_pool_ceil(&buffers[input], channels, in_h, in_w, &mut out);
            buffers[output] = out;
        }
        Step::Predict {
            conv,
            input,
            head,
            first_box,
            geometry: g,
        } => {
            let params = &model.convolutions[conv];
            let per_pixel = params.spec.out_channels;
            let target = match head {
                Head::Loc => loc,
                Head::Conf => conf,
            };
            let per_box = plan.head_len(head) / plan.total_boxes;
            let start = first_box * per_box;
            let dest = &mut target[start..start + g.out_pixels() * per_pixel];
            let source = columns(&buffers[input], &g, col);
            conv_pixel_major(
                params.weight.view(),
                &params.bias,
                source,
                view_mut(dest, g.out_pixels(), per_pixel),
            );
        }
    }
}

/// The column matrix of a convolution: the input itself for 1x1 convolutions,
/// otherwise its im2col unfolding in the shared scratch buffer.
fn columns<'a>(
    input: &'a [f32],
    g: &ops::im2col::ConvGeometry,
    col: &'a mut [f32],
) -> ArrayView2<'a, f32> {
    let (rows, pixels) = (g.col_rows(), g.out_pixels());
    let data: &'a [f32] = if g.is_pointwise() {
        &input[..rows * pixels]
    } else {
        im2col(input, g, col);
        &col[..rows * pixels]
    };
    ArrayView2::from_shape((rows, pixels), data)
        .expect("column matrix fits its buffer by construction")
}

fn view_mut(data: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), data)
        .expect("output block fits its buffer by construction")
}
