//! Our inference engine: a [`Plan`] derived once from the architecture, weights packed
//! once for the CPU's micro-kernel, buffers allocated once, and the kernels of [`ops`]
//! run on the engine's own thread pool.

mod conv;
pub mod ops;
pub mod plan;

use crate::model::Model;
use conv::{ConvKernel, Scratch};
use ndarray::{ArrayView3, ShapeBuilder};
use ops::gemm::{Isa, Layout};
use ops::pool::max_pool_ceil;
pub use plan::{Head, Plan, PlannedStep, Step};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start {threads} inference threads: {error}")]
    ThreadPool {
        threads: usize,
        error: rayon::ThreadPoolBuildError,
    },
    #[error(
        "{threads} threads is too many: at most {max} on this machine ({MAX_THREADS_PER_CORE} per core); 0 uses one per core"
    )]
    TooManyThreads { threads: usize, max: usize },
}

/// Most threads per core a run may ask for: beyond the cores they only take turns
/// (1000 threads took 8 s for one image on 2 cores).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The cores this process may use (1 when that cannot be told).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `threads` if it is a thread count worth running (0 meaning one per core), for the
/// engine's pool and for the eval workers alike.
pub fn check_threads(threads: usize) -> Result<usize, EngineError> {
    let max = cores() * MAX_THREADS_PER_CORE;
    if threads > max {
        return Err(EngineError::TooManyThreads { threads, max });
    }
    Ok(threads)
}

/// The threads a request for `threads` runs on, checked by [`check_threads`]: 0 means
/// one per core.
pub fn resolve_threads(threads: usize) -> Result<usize, EngineError> {
    Ok(match check_threads(threads)? {
        0 => cores(),
        n => n,
    })
}

/// Runs Tiny SSD on one image at a time. Owns every buffer it needs, so a worker
/// thread can own an engine and run it frame after frame without allocating.
pub struct Engine {
    model: Model,
    plan: Plan,
    /// Each step's convolution with its weights, prepared for the micro-kernel in use
    /// (`None` for pooling).
    kernels: Vec<Option<ConvKernel>>,
    buffers: Vec<Vec<f32>>,
    scratch: Scratch,
    loc: Vec<f32>,
    conf: Vec<f32>,
    pool: rayon::ThreadPool,
}

/// A step's input to read and its output to write, borrowed side by side (the plan
/// never has a step write the buffer it reads). Nothing is moved out of `buffers`, so
/// a kernel that panics leaves every buffer in place for the next frame.
fn read_and_write(buffers: &mut [Vec<f32>], input: usize, output: usize) -> (&[f32], &mut [f32]) {
    assert_ne!(input, output, "a step reads and writes different buffers");
    if input < output {
        let (below, from_output) = buffers.split_at_mut(output);
        (&below[input], &mut from_output[0])
    } else {
        let (below, from_input) = buffers.split_at_mut(input);
        (&from_input[0], &mut below[output])
    }
}

impl Engine {
    /// `threads` = 0 uses one thread per core.
    pub fn new(model: Model, threads: usize) -> Result<Engine, EngineError> {
        Engine::with_isa(model, threads, Isa::detect())
    }

    /// An engine using a given micro-kernel (an `Isa` is only had for one the CPU runs), for tests
    /// and benchmarks of the fallbacks.
    pub fn with_isa(model: Model, threads: usize, isa: Isa) -> Result<Engine, EngineError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(resolve_threads(threads)?)
            .thread_name(|i| format!("tinyssd-engine-{i}"))
            .build()
            .map_err(|error| EngineError::ThreadPool { threads, error })?;
        let plan = Plan::new(crate::model::Architecture::tiny_ssd());
        let buffers = (0..plan.shapes.len())
            .map(|id| vec![0.0; plan.layout(id).buffer_len()])
            .collect();
        let kernels: Vec<Option<ConvKernel>> = plan
            .steps
            .iter()
            .map(|planned| match planned.step {
                Step::Conv {
                    conv,
                    input,
                    geometry,
                    ..
                }
                | Step::Predict {
                    conv,
                    input,
                    geometry,
                    ..
                } => Some(ConvKernel::new(
                    isa,
                    &model.convolutions[conv],
                    &plan.layout(input),
                    geometry,
                )),
                Step::MaxPool { .. } => None,
            })
            .collect();
        let mut scratch = Scratch::default();
        kernels
            .iter()
            .flatten()
            .for_each(|k| k.reserve(&mut scratch));
        Ok(Engine {
            scratch,
            kernels,
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

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How step `i` of the plan runs ("winograd", "gemm", "im2col + gemm", "max pool").
    pub fn step_method(&self, i: usize) -> &'static str {
        self.kernels
            .get(i)
            .and_then(Option::as_ref)
            .map_or("max pool", ConvKernel::method)
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
            kernels,
            buffers,
            scratch,
            loc,
            conf,
            pool,
            ..
        } = self;
        pool.install(|| {
            for (i, (planned, kernel)) in plan.steps.iter().zip(kernels.iter()).enumerate() {
                let start = Instant::now();
                match (planned.step, kernel) {
                    (
                        Step::Conv {
                            input,
                            output,
                            channel_offset,
                            ..
                        },
                        Some(kernel),
                    ) => {
                        let layout = Layout::ChannelMajor {
                            buffer: plan.layout(output),
                            first_channel: channel_offset,
                            relu: true,
                        };
                        let (from, to) = read_and_write(buffers, input, output);
                        kernel.run(from, &plan.layout(input), scratch, false, to, layout);
                    }
                    (
                        Step::Predict {
                            input,
                            head,
                            first_box,
                            columns_ready,
                            ..
                        },
                        Some(kernel),
                    ) => {
                        let target = match head {
                            Head::Loc => &mut *loc,
                            Head::Conf => &mut *conf,
                        };
                        let start = first_box * plan.head_len(head) / plan.total_boxes;
                        kernel.run(
                            &buffers[input],
                            &plan.layout(input),
                            scratch,
                            columns_ready,
                            &mut target[start..],
                            Layout::PixelMajor,
                        );
                    }
                    (Step::MaxPool { input, output }, _) => {
                        let (from, to) = read_and_write(buffers, input, output);
                        max_pool_ceil(from, &plan.layout(input), to, &plan.layout(output));
                    }
                    (Step::Conv { .. } | Step::Predict { .. }, None) => {
                        unreachable!("every convolution step has a kernel")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_one_per_core_and_too_many_are_refused() {
        assert_eq!(resolve_threads(0).ok(), Some(cores()));
        assert_eq!(resolve_threads(3).ok(), Some(3));
        let too_many = cores() * MAX_THREADS_PER_CORE + 1;
        assert!(matches!(
            resolve_threads(too_many),
            Err(EngineError::TooManyThreads { .. })
        ));
    }
}
