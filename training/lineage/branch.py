"""A/B branches of the lineage: copies of its state that change one thing, trained and scored apart.

A branch is a state file of its own (`python -m training.lineage branch --out FILE ...`), so the
lineage's `train`, `cooldown` and `tinyssd eval` run on it unchanged with `--state FILE`, and the
lineage itself is untouched. What a branch can change:

- `--head-batch-norm`: a batch norm after each of the 12 predictor convolutions (ScratchDet,
  Zhu et al. 2019). The new norms are calibrated on training images so that the branch starts
  from the lineage's function (`add_head_batch_norm`); export folds them into the predictor
  convolutions, so the model file, the engine and the app do not change.
- `--peak-lr`: another peak learning rate, reached by a linear warm-up from the current one.
- `--repeat-factor-threshold T`: repeat-factor sampling (LVIS, Gupta et al. 2019): an image whose
  rarest class is in a fraction f_c < T of the training images appears about sqrt(T / f_c) times an
  epoch (`dataset.training_order`). The branch's `train` and its `cooldown` both sample so; the
  weights, the schedule and the sampler position (images seen) stay the lineage's.
"""
import copy

import torch

from ..data.dataset import class_presence, class_repeat_factors, expanded_epoch_length, image_repeat_factors
from ..engine.optimise import make_optimizer
from ..engine.schedule import Schedule
from ..net.arch import CLASS_NAMES, NUM_CLASSES
from ..net.bn_calibration import calibrate_batchnorm
from ..net.ema import ModelEMA
from .state import LineageError, LineageState, network, new_period, now_iso


def head_norms(model) -> list[torch.nn.BatchNorm2d]:
    """The predictors' batch norms, loc then conf per source (empty without `head_batch_norm`)."""
    if not model.head_batch_norm:
        return []
    return [predictors[name + "_bn"] for predictors in (model.loc, model.conf) for name in model.source_names]


def add_head_batch_norm(state: LineageState, batches) -> LineageState:
    """The same state with batch norm in the predictors, computing the same function in eval mode.

    Each new norm gets gamma = sqrt(var + eps) and beta = mean of its input over `batches`
    (network inputs, the backbone in training mode), so it undoes its own normalisation: exactly in
    eval mode, and nearly in training mode, where batch statistics close to those are used. Weights, the backbone's batch norm, the EMA and the
    AdamW moments of every old tensor carry over. The new parameters start with zero moments at
    the optimiser's step count (so the state saves as one step count), and their EMA at their
    calibrated values.
    """
    if state.meta.get("head_batch_norm"):
        raise LineageError("the state already has batch norm in its predictors")
    meta = {**state.meta, "head_batch_norm": True}
    model = network(meta)
    missing, unexpected = model.load_state_dict(state.model.state_dict(), strict=False)
    new_tensors = {k for k in model.state_dict() if any(f"{s}_bn." in k for s in model.source_names)}
    if unexpected or not set(missing) <= new_tensors:
        raise LineageError("the state's tensors do not fit the network with head batch norm: "
                           f"{unexpected or sorted(set(missing) - new_tensors)[:5]}")
    # The predictors' inputs as training computes them (the backbone on batch statistics), on a copy
    # whose running statistics may move; eval mode is exact whatever the calibration.
    probe = copy.deepcopy(model)
    calibrate_batchnorm(probe, batches, head_norms(probe), training=True)
    for norm, calibrated in zip(head_norms(model), head_norms(probe)):
        norm.load_state_dict(calibrated.state_dict())
    model.to(memory_format=torch.channels_last)

    optimizer = make_optimizer(model, meta["schedule"]["peak_lr"], meta["weight_decay"])
    old_params = dict(state.model.named_parameters())
    step = torch.tensor(float(state.meta["adam_step"]))
    for name, p in model.named_parameters():
        old = state.optimizer.state.get(old_params[name]) if name in old_params else None
        if old:
            optimizer.state[p] = {"step": old["step"].clone(), "exp_avg": old["exp_avg"].clone(),
                                  "exp_avg_sq": old["exp_avg_sq"].clone()}
        elif step > 0:
            optimizer.state[p] = {"step": step.clone(), "exp_avg": torch.zeros_like(p),
                                  "exp_avg_sq": torch.zeros_like(p)}
    ema = ModelEMA(model, state.ema.max_decay, state.ema.updates)
    for k, v in state.ema.shadow.items():
        ema.shadow[k].copy_(v)
    return LineageState(model, ema, optimizer, meta)


def with_peak_lr(meta: dict, peak_lr: float, warmup_images: int) -> dict:
    """The schedule moved to another peak rate by a linear warm-up from today's rate."""
    schedule = dict(meta["schedule"])
    current = Schedule(**schedule).lr(meta["images_seen"])
    schedule.update(peak_lr=peak_lr, warmup_start=meta["images_seen"], warmup_from=current,
                    warmup_images=warmup_images)
    return {**meta, "schedule": schedule}


# On the 7,334-image training list, 0.15 repeats the images of the weak indoor classes (bottle, chair,
# pottedplant, sofa, tvmonitor, diningtable) and boat 1.7-2.7 times on average and those of cat and
# dog (18 and 22 % of the images) 1.1 times; at 0.1 chair's r_c is 1.11 and sofa's 1.27 (training/README.md).
REPEAT_FACTOR_THRESHOLD = 0.15


def repeat_factor_report(records, threshold: float) -> str:
    """What repeat-factor sampling at `threshold` does to these records: per class the images holding
    it, their fraction f_c, r_c and the mean repeat factor of its images (an image repeats by its
    largest r_c, so a class's images are often repeated more than its own r_c); then the epoch's length."""
    presence = class_presence(records)
    per_class = class_repeat_factors(presence, threshold)
    per_image = image_repeat_factors(presence, threshold)
    length = expanded_epoch_length(per_image)
    lines = [f"repeat factors at threshold {threshold} (r_c = max(1, sqrt({threshold} / f_c)); "
             "an image's r_i is the largest r_c of its classes):",
             f"  {'class':<12} {'images':>6} {'f_c':>6} {'r_c':>5} {'mean r_i':>8}"]
    for label in range(1, NUM_CLASSES):
        holds = presence[:, label]
        mean = per_image[holds].mean() if holds.any() else float("nan")
        lines.append(f"  {CLASS_NAMES[label]:<12} {holds.sum():>6} {holds.mean():>6.3f} {per_class[label]:>5.2f} "
                     f"{mean:>8.2f}")
    lines.append(f"expanded epoch: {length} items for {len(records)} images (x{length / len(records):.3f})")
    return "\n".join(lines)


def make_branch(state: LineageState, name: str, head_batch_norm: bool, peak_lr: float | None,
                warmup_images: int, batches, repeat_factor_threshold: float | None = None) -> LineageState:
    """A branch of `state` named `name`, its own period starting now (see the module doc)."""
    if repeat_factor_threshold is not None and not repeat_factor_threshold > 0:
        raise LineageError(f"the repeat-factor threshold must be positive, got {repeat_factor_threshold}")
    branch_meta = {"name": name, "at": now_iso(), "images_seen": state.images_seen,
                   "head_batch_norm": head_batch_norm, "peak_lr": peak_lr,
                   "repeat_factor_threshold": repeat_factor_threshold}
    if head_batch_norm:
        state = add_head_batch_norm(state, batches)
    meta = dict(state.meta)
    if peak_lr is not None:
        meta = with_peak_lr(meta, peak_lr, warmup_images)
    if repeat_factor_threshold is not None:  # only then: a state without the key samples as the lineage does
        meta["repeat_factor_threshold"] = repeat_factor_threshold
    meta["branch"] = branch_meta
    meta["period"] = new_period()
    state.meta = meta
    return state
