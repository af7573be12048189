//! Our inference engine, shaped like tract's plan and state: a [`PackedModel`] (the
//! [`Plan`] derived once from the architecture and the weights packed once for the
//! CPU's micro-kernel; immutable, shared by `Arc` between every engine that runs the
//! model) and per engine the buffers it computes into, allocated once, with its own
//! [`Team`] of threads for the kernels of [`ops`]. Each convolution runs in fp32, or
//! at int8 where the model is calibrated for it ([`Precision`], [`Calibration`]);
//! between int8 convolutions a buffer holds 8-bit levels instead of fp32 values
//! (`store`).

mod calibrate;
mod conv;
pub mod ops;
pub mod plan;
mod precision;
mod store;
mod team;

use crate::model::Model;
pub use calibrate::Calibration;
use conv::{ConvInput, ConvKernel, ConvOutput, Int8Input, Scratch};
use ndarray::{ArrayView3, ShapeBuilder};
use ops::gemm::int8::LevelLayout;
use ops::gemm::int8::{Int8Isa, Int8Kernel};
use ops::gemm::{ChannelTarget, Isa, Kernel, Layout};
use ops::pool::{max_pool_ceil, max_pool_levels};
pub use plan::{Head, Plan, PlannedStep, Step};
pub use precision::{Precision, PrecisionChoice};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{Buffer, Store};
pub(crate) use team::Team;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start {threads} inference threads: {error}")]
    ThreadPool {
        threads: usize,
        error: std::io::Error,
    },
    #[error(
        "{threads} threads is too many: at most {max} on this machine ({MAX_THREADS_PER_CORE} per core); 0 uses one per core"
    )]
    TooManyThreads { threads: usize, max: usize },
    #[error(
        "the model has no int8 calibration (its metadata lacks 'int8_input_scales'): make one with `tinyssd calibrate`, or run it at --precision fp32"
    )]
    NotCalibrated,
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

/// The model made ready to run: its plan and each step's packed kernel. Nothing in it
/// changes while it runs, so engines on many threads share one.
pub struct PackedModel {
    model: Model,
    plan: Plan,
    /// The fp32 instruction set: the fp32 convolutions' and the poolings'.
    isa: Isa,
    /// The int8 kernel, where some convolution runs it.
    int8: Option<Int8Isa>,
    /// Each step's convolution with its weights, prepared for the micro-kernel in use
    /// (`None` for pooling).
    kernels: Vec<Option<ConvKernel>>,
    /// Per step: the step before it left this step's input prepared in the scratch.
    input_ready: Vec<bool>,
    /// Per buffer: fp32 values, or (between int8 convolutions) levels.
    stores: Vec<Store>,
}

impl PackedModel {
    /// Plans the network and packs its weights for the fastest fp32 kernel this CPU runs.
    pub fn new(model: Model) -> PackedModel {
        PackedModel::with_isa(model, Isa::detect())
    }

    /// [`PackedModel::new`] at `precision`: at int8, the convolutions the model's
    /// calibration gives an input scale run the fastest int8 kernel this CPU has. An
    /// error at int8 for a model without a calibration.
    pub fn with_precision(model: Model, precision: Precision) -> Result<PackedModel, EngineError> {
        match precision {
            Precision::Fp32 => Ok(PackedModel::new(model)),
            Precision::Int8 => {
                PackedModel::with_int8_kernels(model, Isa::detect(), Int8Isa::detect())
            }
        }
    }

    /// The model at int8 on the int8 kernel `int8`, its fp32 convolutions on `isa`
    /// (benchmarks of the slower ones); an error for a model without a calibration.
    pub fn with_int8_kernels(
        model: Model,
        isa: Isa,
        int8: Int8Isa,
    ) -> Result<PackedModel, EngineError> {
        if model.metadata.int8_input_scales.is_empty() {
            return Err(EngineError::NotCalibrated);
        }
        Ok(PackedModel::with_kernels(model, isa, Some(int8)))
    }

    /// [`PackedModel::new`] for a given micro-kernel (an `Isa` is only had for one the
    /// CPU runs), for tests and benchmarks of the fallbacks.
    pub fn with_isa(model: Model, isa: Isa) -> PackedModel {
        PackedModel::with_kernels(model, isa, None)
    }

    /// Packs every convolution for `isa`, or, given `int8` and an input scale for it in
    /// the model, for that int8 kernel.
    pub fn with_kernels(model: Model, isa: Isa, int8: Option<Int8Isa>) -> PackedModel {
        let plan = Plan::new(crate::model::Architecture::tiny_ssd());
        let scales = &model.metadata.int8_input_scales;
        let kernels: Vec<Option<ConvKernel>> = plan
            .steps
            .iter()
            .map(|planned| {
                let (conv, input, geometry) = planned.step.convolution()?;
                let params = &model.convolutions[conv];
                let layout = plan.layout(input);
                let quantized =
                    int8.zip(scales.get(&params.spec.name))
                        .and_then(|(int8, &scale)| {
                            let input = if input == plan::INPUT {
                                Int8Input::Image {
                                    scale,
                                    normalization: &model.metadata.normalization,
                                }
                            } else {
                                Int8Input::Activations { scale }
                            };
                            ConvKernel::int8(int8, params, &layout, geometry, input)
                        });
                Some(quantized.unwrap_or_else(|| ConvKernel::new(isa, params, &layout, geometry)))
            })
            .collect();
        // A step right after one on the same input (the `loc` and `conf` of a source, a
        // Fire module's two expands) may find it prepared already.
        let input_ready = (0..plan.steps.len())
            .map(|i| {
                let Some(p) = i.checked_sub(1) else {
                    return false;
                };
                let same_input = plan.steps[p].step.input() == plan.steps[i].step.input();
                same_input
                    && matches!((&kernels[i], &kernels[p]), (Some(k), Some(p)) if k.reuses_input_of(p))
            })
            .collect();
        let int8 = int8.filter(|_| kernels.iter().flatten().any(ConvKernel::is_int8));
        let stores = store::choose(&plan, &kernels);
        PackedModel {
            model,
            plan,
            isa,
            int8,
            kernels,
            input_ready,
            stores,
        }
    }

    /// How step `i` of the plan runs ("winograd", "gemm", "phases + gemm", "int8 gemm",
    /// "phases + int8 gemm", "max pool").
    pub fn step_method(&self, i: usize) -> &'static str {
        self.kernels
            .get(i)
            .and_then(Option::as_ref)
            .map_or("max pool", ConvKernel::method)
    }

    /// Whether step `i` of the plan is a convolution run at int8.
    pub fn step_is_int8(&self, i: usize) -> bool {
        matches!(self.kernels.get(i), Some(Some(kernel)) if kernel.is_int8())
    }

    /// The precision it runs at: int8 when any convolution runs the int8 kernel.
    pub fn precision(&self) -> Precision {
        match self.int8 {
            Some(_) => Precision::Int8,
            None => Precision::Fp32,
        }
    }

    /// The fp32 kernel its fp32 convolutions run.
    pub fn fp32_kernel(&self) -> Kernel {
        self.isa.kernel()
    }

    /// The int8 kernel its int8 convolutions run, if any do.
    pub fn int8_kernel(&self) -> Option<Int8Kernel> {
        self.int8.map(Int8Isa::kernel)
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How buffer `id` holds its activations.
    fn store(&self, id: plan::BufferId) -> Store {
        self.stores[id]
    }
}

/// What one engine computes into: every step's output buffer, the kernels' scratch
/// and the two heads. Rebuilt from the packed model at any time.
struct State {
    buffers: Vec<Buffer>,
    scratch: Scratch,
    loc: Vec<f32>,
    conf: Vec<f32>,
}

impl State {
    fn new(packed: &PackedModel) -> State {
        let plan = &packed.plan;
        let mut scratch = Scratch::default();
        packed
            .kernels
            .iter()
            .flatten()
            .for_each(|k| k.reserve(&mut scratch));
        State {
            buffers: (0..plan.shapes.len())
                .map(|id| Buffer::new(plan, id, packed.store(id)))
                .collect(),
            scratch,
            loc: vec![0.0; plan.head_len(Head::Loc)],
            conf: vec![0.0; plan.head_len(Head::Conf)],
        }
    }
}

/// Runs Tiny SSD on one image at a time: a shared [`PackedModel`] and buffers of its
/// own, so a worker thread can own an engine and run it frame after frame without
/// allocating.
pub struct Engine {
    packed: Arc<PackedModel>,
    state: State,
    team: Team,
    /// Test hook: the convolution step at which the next frame panics.
    #[cfg(test)]
    panic_at_step: Option<usize>,
}

/// A step's input to read and its output to write, borrowed side by side (the plan
/// never has a step write the buffer it reads). Nothing is moved out of `buffers`, so
/// a kernel that panics leaves every buffer in place for the next frame.
fn read_and_write(buffers: &mut [Buffer], input: usize, output: usize) -> (&Buffer, &mut Buffer) {
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
        Engine::from_packed(Arc::new(PackedModel::new(model)), threads)
    }

    /// An engine on a model packed once and shared (eval workers, the app's detector).
    pub fn from_packed(packed: Arc<PackedModel>, threads: usize) -> Result<Engine, EngineError> {
        let team = Team::new(resolve_threads(threads)?)
            .map_err(|error| EngineError::ThreadPool { threads, error })?;
        Ok(Engine {
            state: State::new(&packed),
            packed,
            team,
            #[cfg(test)]
            panic_at_step: None,
        })
    }

    pub fn packed(&self) -> &Arc<PackedModel> {
        &self.packed
    }

    pub fn model(&self) -> &Model {
        &self.packed.model
    }

    pub fn threads(&self) -> usize {
        self.team.threads()
    }

    pub fn plan(&self) -> &Plan {
        &self.packed.plan
    }

    /// How step `i` of the plan runs (see [`PackedModel::step_method`]).
    pub fn step_method(&self, i: usize) -> &'static str {
        self.packed.step_method(i)
    }

    /// The input tensor (3 x 300 x 300, normalised) to fill before [`Engine::forward`].
    pub fn input_mut(&mut self) -> &mut [f32] {
        let layout = self.packed.plan.layout(plan::INPUT);
        debug_assert_eq!(layout.border, 0, "the first convolution pads by itself");
        let len = layout.channels * layout.plane();
        let Buffer::Values(input) = &mut self.state.buffers[plan::INPUT] else {
            unreachable!("the image is fp32 values");
        };
        &mut input[..len]
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
        let PackedModel {
            plan,
            isa,
            int8,
            kernels,
            input_ready,
            stores,
            ..
        } = &*self.packed;
        let State {
            buffers,
            scratch,
            loc,
            conf,
        } = &mut self.state;
        let team = &self.team;
        #[cfg(test)]
        let panic_at_step = self.panic_at_step.take();
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
                    let layout = Layout::ChannelMajor(ChannelTarget {
                        buffer: plan.layout(output),
                        first_channel: channel_offset,
                        relu: true,
                    });
                    let (from, to) = read_and_write(buffers, input, output);
                    // Where a kernel would fail: its output borrowed. (What a kernel
                    // half wrote is its own part of the buffer, rewritten by the
                    // next frame; it never writes the zero border.)
                    #[cfg(test)]
                    if panic_at_step == Some(i) {
                        panic!("injected kernel panic at step {i}");
                    }
                    let input = ConvInput {
                        data: from.activations(),
                        layout: &plan.layout(input),
                        in_scratch: input_ready[i],
                    };
                    let out = match (to, stores[output]) {
                        (Buffer::Values(to), _) => ConvOutput::Values(to),
                        (Buffer::Levels(to), Store::Levels { scale, .. }) => {
                            ConvOutput::Levels { out: to, scale }
                        }
                        (Buffer::Levels(_), Store::Values) => {
                            unreachable!("a buffer of levels is stored as levels")
                        }
                    };
                    kernel.run(input, scratch, out, layout, team);
                }
                (
                    Step::Predict {
                        input,
                        head,
                        first_box,
                        ..
                    },
                    Some(kernel),
                ) => {
                    let target = match head {
                        Head::Loc => &mut *loc,
                        Head::Conf => &mut *conf,
                    };
                    let start = first_box * plan.head_len(head) / plan.total_boxes;
                    let input = ConvInput {
                        data: buffers[input].activations(),
                        layout: &plan.layout(input),
                        in_scratch: input_ready[i],
                    };
                    let out = ConvOutput::Values(&mut target[start..]);
                    kernel.run(input, scratch, out, Layout::PixelMajor, team);
                }
                (Step::MaxPool { input, output }, _) => {
                    let (from, to) = read_and_write(buffers, input, output);
                    let (from_layout, to_layout) = (plan.layout(input), plan.layout(output));
                    match (from, to, int8) {
                        (Buffer::Values(from), Buffer::Values(to), _) => {
                            max_pool_ceil(*isa, from, &from_layout, to, &to_layout, team);
                        }
                        (Buffer::Levels(from), Buffer::Levels(to), Some(int8)) => {
                            let (from_layout, to_layout) =
                                (LevelLayout(from_layout), LevelLayout(to_layout));
                            max_pool_levels(*int8, from, &from_layout, to, &to_layout, team);
                        }
                        _ => unreachable!("a pool's two sides are stored alike, levels at int8"),
                    }
                }
                (Step::Conv { .. } | Step::Predict { .. }, None) => {
                    unreachable!("every convolution step has a kernel")
                }
            }
            if let Some(time) = step_times.as_deref_mut().and_then(|t| t.get_mut(i)) {
                *time += start.elapsed();
            }
        }
    }

    /// Box offsets, [total_boxes][4], from the last forward pass.
    pub fn loc(&self) -> &[f32] {
        &self.state.loc
    }

    /// Class logits, [total_boxes][num_classes], from the last forward pass.
    pub fn conf(&self) -> &[f32] {
        &self.state.conf
    }

    /// A layer's output (C, H, W) from the last forward pass; `None` for a layer an int8
    /// engine keeps as levels (see `store`).
    pub fn feature(&self, layer: &str) -> Option<ArrayView3<'_, f32>> {
        let id = self.packed.plan.layer_output(layer)?;
        let l = self.packed.plan.layout(id);
        let shape = (l.channels, l.height, l.width).strides((l.plane(), l.row_stride(), 1));
        let values = self.state.buffers[id].values()?;
        ArrayView3::from_shape(shape, &values[l.index(0, 0, 0)..]).ok()
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

    pub(super) fn golden_model() -> Model {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/weights.safetensors");
        Model::load(&path).expect("golden weights load")
    }

    fn run_on(engine: &mut Engine, value: f32) -> (Vec<f32>, Vec<f32>) {
        engine.input_mut().fill(value);
        engine.forward();
        (engine.loc().to_vec(), engine.conf().to_vec())
    }

    #[test]
    fn engines_share_one_packed_model_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<PackedModel>();
        let packed = Arc::new(PackedModel::new(golden_model()));
        let mut first = Engine::from_packed(packed.clone(), 1).expect("engine");
        let expected = run_on(&mut first, 0.25);
        let outputs: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let packed = packed.clone();
                    scope.spawn(move || {
                        let mut engine = Engine::from_packed(packed, 1).expect("engine");
                        run_on(&mut engine, 0.25)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        assert!(outputs.iter().all(|out| *out == expected));
        assert_eq!(
            Arc::strong_count(&packed),
            2,
            "the workers' engines are gone"
        );
    }

    #[test]
    fn a_kernel_panic_is_followed_by_a_correct_next_frame() {
        let mut engine = Engine::new(golden_model(), 1).expect("engine");
        let expected = run_on(&mut engine, 0.5);
        let _ = run_on(&mut engine, -0.3); // other values in every buffer
        let convolutions: Vec<usize> = (engine.plan().steps.iter().enumerate())
            .filter(|(_, planned)| matches!(planned.step, Step::Conv { .. }))
            .map(|(i, _)| i)
            .collect();
        let last = convolutions.len() - 1;
        for step in [convolutions[0], convolutions[last / 2], convolutions[last]] {
            engine.panic_at_step = Some(step);
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                engine.input_mut().fill(0.5);
                engine.forward();
            }));
            assert!(panicked.is_err(), "step {step} panicked");
            assert_eq!(
                run_on(&mut engine, 0.5),
                expected,
                "after a panic at step {step}"
            );
        }
    }

    /// An int8 engine keeps levels between its int8 convolutions (see `store`); its
    /// output is bit for bit what the same kernels give through fp32 buffers, with every
    /// kernel.
    #[test]
    fn levels_between_int8_convolutions_change_no_output() {
        let mut fp32 = Engine::new(golden_model(), 2).expect("engine");
        let mut calibration = Calibration::new(99.9);
        let input = |engine: &mut Engine| {
            for (i, v) in engine.input_mut().iter_mut().enumerate() {
                *v = ((i * 7919) % 509) as f32 / 509.0 * 4.0 - 2.0;
            }
        };
        input(&mut fp32);
        fp32.forward();
        calibration.observe(&fp32);
        let mut model = golden_model();
        model.metadata.int8_input_scales = calibration.scales();
        for int8 in Int8Isa::available() {
            let with_levels = PackedModel::with_kernels(model.clone(), Isa::detect(), Some(int8));
            let levels = (with_levels.stores.iter())
                .filter(|s| matches!(s, Store::Levels { .. }))
                .count();
            assert!(levels > 20, "{int8:?}: {levels} buffers of levels");
            let mut through_values =
                PackedModel::with_kernels(model.clone(), Isa::detect(), Some(int8));
            through_values.stores.fill(Store::Values);
            let outputs = [with_levels, through_values].map(|packed| {
                let mut engine = Engine::from_packed(Arc::new(packed), 2).expect("engine");
                input(&mut engine);
                engine.forward();
                (engine.loc().to_vec(), engine.conf().to_vec())
            });
            assert!(outputs[0] == outputs[1], "{int8:?}");
        }
    }
}
