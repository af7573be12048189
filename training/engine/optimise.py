"""The optimisation pieces shared by `training.train`, the lineage and the GPU burst.

AdamW without weight decay on biases and BatchNorm parameters, the training data loader
(deterministic order: see data/dataset.py, training_order), one training step, in bf16 autocast
where the hardware computes bf16 natively, and the augmented batches batch-norm calibration
(net/bn_calibration.py) draws its statistics from.
"""
import contextlib
import functools
import signal

import torch
from torch.utils.data import DataLoader

from ..data.dataset import RankShare, TrainDataset, training_order
from ..net.loss import multibox_loss
from ..net.model_io import normalize


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and BatchNorm parameters (the 1-D tensors)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr)


def _worker_init(_):
    torch.set_num_threads(1)  # workers share the same few cores with the main process
    # Ctrl-C reaches the whole process group; the main process saves and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def train_loader(records, images, seed: int, max_expand: float, batch_size: int, images_seen: int,
                 workers: int, device: torch.device, rank: int = 0, world_size: int = 1,
                 repeat_factor_threshold: float | None = None) -> DataLoader:
    """Batches continuing the seeded sampling order after `images_seen` images (repeat-factor sampling
    with a threshold); with several data-parallel ranks, this rank's share of each `batch_size` batch."""
    sampler = training_order(records, seed, images_seen, repeat_factor_threshold)
    if world_size > 1:
        sampler = RankShare(sampler, batch_size, rank, world_size)
    dataset = TrainDataset(records, images, seed, max_expand)
    return DataLoader(dataset, batch_size=batch_size // world_size, sampler=sampler, num_workers=workers,
                      worker_init_fn=_worker_init, persistent_workers=workers > 0,
                      pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None)


@functools.cache
def bf16_is_native(device_type: str) -> bool:
    """Whether bf16 autocast speeds training up here. CUDA GPUs and CPUs with AVX-512 BF16 / AMX
    compute it natively; elsewhere (an AVX2-only Zen 3, say) PyTorch's CPU convolutions fall back
    to a scalar bf16 GEMM and a training step is about 7x slower than in fp32 (measured: 1.2
    against 8.3 images/s a thread)."""
    if device_type == "cuda":
        return True
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return device_type == "cpu" and probe is not None and bool(probe())


def autocast(device: torch.device, bf16: bool | None = None):
    """bf16 autocast where it is native (bf16_is_native), else plain fp32; `bf16` overrides the
    choice (training.bench_step measures both)."""
    if bf16_is_native(device.type) if bf16 is None else bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch, lr: float,
               device: torch.device, normaliser: torch.Tensor | None = None, bf16: bool | None = None,
               memory_format: torch.memory_format = torch.channels_last) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step at learning rate `lr`; returns the (loc, conf) losses, detached.
    `normaliser`: what the loss sums are divided by (default: the batch's positive priors).
    `bf16` and `memory_format` (the input's; the model's should match) are the lineage's
    choices unless given (training.bench_step times the others)."""
    images, loc_t, conf_t = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    x = normalize(images.to(device, non_blocking=True)).contiguous(memory_format=memory_format)
    with autocast(device, bf16):
        loc, conf = model(x)
    loc_loss, conf_loss = multibox_loss(loc, conf, loc_t.to(device, non_blocking=True),
                                        conf_t.to(device, non_blocking=True), normaliser=normaliser)
    optimizer.zero_grad(set_to_none=True)
    (loc_loss + conf_loss).backward()
    optimizer.step()
    return loc_loss.detach(), conf_loss.detach()


def calibration_batches(records, images, count: int, seed: int = 0, max_expand: float = 3.0,
                        batch_size: int = 16):
    """Network inputs of `count` augmented training images: the distribution batch norm sees in training,
    so the running statistics are what a batch-norm network trained on this data would hold."""
    batches = train_loader(records, images, seed, max_expand, batch_size, 0, 0, torch.device("cpu"))
    for _, (x, _, _) in zip(range(max(1, count // batch_size)), batches):
        yield normalize(x)
