"""Batch norm that starts from the statistics of the data, so an exported model keeps its function.

An exported model has batch norm folded into its convolutions. Loaded into the training
network with identity batch norm, training mode normalises every channel by its batch
statistics instead, which changes the function (the damage `--init` used to do). Here each
batch norm gets the running mean and variance of its input over a few calibration batches,
and gamma = sqrt(var + eps), beta = mean, so it undoes its own normalisation: in eval mode
the network computes the file's function exactly, and in training mode batch statistics
close to the running ones give nearly the same function. The batches are augmented training
images (`engine.optimise.calibration_batches`).
"""
from pathlib import Path

import torch
from torch import nn

from .model import TinySSD, load_reference_state_dict
from .model_io import read_model_file


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batches, norms: list[nn.BatchNorm2d] | None = None,
                        training: bool = False) -> int:
    """Sets every BatchNorm2d of `model` (or only `norms`) from its inputs over `batches` (network
    inputs); returns the image count.

    The pass runs in eval mode, or in training mode with `training` (the other batch norms then
    use batch statistics, as they will in training, and move their running ones: pass a copy).
    The batch norms before those calibrated must compute the function wanted (as after
    model.load_reference_state_dict, or trained ones), so each one sees the inputs that function gives it.
    """
    if norms is None:
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums = {m: torch.zeros(m.num_features, dtype=torch.float64) for m in norms}
    squares = {m: torch.zeros(m.num_features, dtype=torch.float64) for m in norms}
    counts = {m: 0 for m in norms}

    def collect(module, inputs):
        x = inputs[0].detach().double().transpose(0, 1).flatten(1)  # [C, N*H*W]
        sums[module] += x.sum(1).cpu()
        squares[module] += (x * x).sum(1).cpu()
        counts[module] += x.shape[1]

    hooks = [m.register_forward_pre_hook(collect) for m in norms]
    was_training = model.training
    model.train(training)
    images = 0
    try:
        for x in batches:
            model(x)
            images += x.shape[0]
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if images == 0:
        raise ValueError("batch-norm calibration needs at least one batch")
    for m in norms:
        mean = sums[m] / counts[m]
        var = (squares[m] / counts[m] - mean * mean).clamp(min=0)
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.weight.copy_(torch.sqrt(var + m.eps))
        m.bias.copy_(mean)
    return images


def model_from_file(path: Path, batches) -> TinySSD:
    """A batch-norm network computing the model file's function, batch norm calibrated on `batches`."""
    tensors, _ = read_model_file(path)
    model = TinySSD(batch_norm=True)
    load_reference_state_dict(model, {k: v.float() for k, v in tensors.items()})
    calibrate_batchnorm(model, batches)
    return model
