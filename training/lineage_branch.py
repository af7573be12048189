"""A/B branches of the lineage: copies of its state that change one thing, trained and scored apart.

A branch is a state file of its own (`python -m training.lineage branch --out FILE ...`), so the
lineage's `train`, `cooldown` and `tinyssd eval` run on it unchanged with `--state FILE`, and the
lineage itself is untouched. What a branch can change:

- `--head-batch-norm`: a batch norm after each of the 12 predictor convolutions (ScratchDet,
  Zhu et al. 2019). The new norms are calibrated on training images so that the branch starts
  from the lineage's function (`add_head_batch_norm`); export folds them into the predictor
  convolutions, so the model file, the engine and the app do not change.
- `--peak-lr`: another peak learning rate, reached by a linear warm-up from the current one.
"""
import copy

import torch

from .bn_calibration import calibrate_batchnorm
from .ema import ModelEMA
from .lineage_state import LineageError, LineageState, network, new_period, now_iso
from .optimise import make_optimizer
from .schedule import Schedule


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


def make_branch(state: LineageState, name: str, head_batch_norm: bool, peak_lr: float | None,
                warmup_images: int, batches) -> LineageState:
    """A branch of `state` named `name`, its own period starting now (see the module doc)."""
    branch_meta = {"name": name, "at": now_iso(), "images_seen": state.images_seen,
                   "head_batch_norm": head_batch_norm, "peak_lr": peak_lr}
    if head_batch_norm:
        state = add_head_batch_norm(state, batches)
    meta = dict(state.meta)
    if peak_lr is not None:
        meta = with_peak_lr(meta, peak_lr, warmup_images)
    meta["branch"] = branch_meta
    meta["period"] = new_period()
    state.meta = meta
    return state
