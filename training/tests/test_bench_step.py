"""The step variants training.bench_step times compute the lineage's step: the memory format
changes the numbers only by rounding, and bf16 is used when asked and only then."""
import torch

from training.bench_step import batch_of
from training.engine.optimise import make_optimizer, train_step
from training.net.model import TinySSD

from .synthetic import synthetic_set


def _losses(batch, bf16: bool, memory_format) -> torch.Tensor:
    torch.manual_seed(0)
    model = TinySSD(batch_norm=True).to(memory_format=memory_format).train()
    optimizer = make_optimizer(model, 2e-3, 0.05)
    loc, conf = train_step(model, optimizer, batch, 2e-3, torch.device("cpu"), bf16=bf16, memory_format=memory_format)
    return torch.stack([loc, conf]).float()


def test_the_variants_compute_the_same_step():
    torch.set_num_threads(1)
    batch = batch_of(*synthetic_set(), size=2)
    assert batch[0].shape[0] == 2
    fp32 = _losses(batch, False, torch.channels_last)
    # other convolution kernels, so other rounding: 2e-4 seen
    torch.testing.assert_close(_losses(batch, False, torch.contiguous_format), fp32, rtol=1e-3, atol=1e-4)
    bf16 = _losses(batch, True, torch.channels_last)
    assert not torch.equal(bf16, fp32), "bf16 autocast was asked for: the numbers round differently"
    torch.testing.assert_close(bf16, fp32, rtol=0.05, atol=0.05)
