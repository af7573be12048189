"""Small constant tensors, made once per device and dtype.

A tensor built from Python numbers on a GPU is copied from pageable host memory, and that copy waits
for all the GPU work queued before it. Done in every training step (normalisation, box coding,
augmentation), it would keep the host from queueing steps ahead of the GPU.
"""
import functools

import torch


@functools.lru_cache(maxsize=None)
def constant(values: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The tensor of `values`, shared between callers: never modify it in place."""
    return torch.tensor(values, dtype=dtype, device=device)
