"""What a training step costs on this CPU, one variant at a time (issue 25: training throughput).

    python -m training.bench_step --seconds 30        # pause the lineage first: it needs a quiet machine

Each variant runs the lineage's own step (`optimise.train_step`: the network with batch norm,
the multibox loss, AdamW) on one thread, as each of the lineage's two data-parallel ranks does,
on one fixed augmented batch of real training images (so the loader costs nothing here), for
--seconds after a warm-up; `loader` times the data loader alone (augmentation and prior
matching in one worker process, as each rank has). Images/s per process; the lineage's two
ranks run two such processes. Nothing is saved.
"""
import argparse
import time
from pathlib import Path

import torch

from .data.voc import ImageCache, train_val_records
from .engine.optimise import bf16_is_native, make_optimizer, train_loader, train_step
from .net.model import TinySSD
from .paths import DEFAULT_DATA_ROOT

VARIANTS = {  # name: (bf16, channels_last, torch.compile, batch)
    "fp32": (False, False, False, 16),
    "fp32 channels_last": (False, True, False, 16),
    "bf16": (True, False, False, 16),
    "bf16 channels_last (the lineage's rank)": (True, True, False, 16),
    "bf16 channels_last, batch 32": (True, True, False, 32),
    "bf16 channels_last, torch.compile": (True, True, True, 16),
    "fp32 channels_last, torch.compile": (False, True, True, 16),
}


def batch_of(records, images, size: int):
    """One augmented batch of `size` training images, as the lineage's loader makes them."""
    loader = train_loader(records, images, 0, 3.0, size, 0, 0, torch.device("cpu"))
    return next(iter(loader))


def time_steps(bf16: bool, channels_last: bool, compile_: bool, batch, seconds: float, warmup: int) -> float:
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = TinySSD(batch_norm=True).to(memory_format=memory_format).train()
    optimizer = make_optimizer(model, 2e-3, 0.05)
    step_model = torch.compile(model) if compile_ else model
    device = torch.device("cpu")
    for _ in range(warmup):  # the first steps of a compiled model compile it
        train_step(step_model, optimizer, batch, 2e-3, device, bf16=bf16, memory_format=memory_format)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        train_step(step_model, optimizer, batch, 2e-3, device, bf16=bf16, memory_format=memory_format)
        steps += 1
    return steps * batch[0].shape[0] / (time.perf_counter() - start)


def time_loader(records, images, seconds: float) -> float:
    loader = iter(train_loader(records, images, 0, 3.0, 16, 0, 1, torch.device("cpu")))
    next(loader)  # the worker's start
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        count += next(loader)[0].shape[0]
    return count / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--only", action="append", choices=[*VARIANTS, "loader"])
    args = p.parse_args()
    torch.set_num_threads(1)
    records, _ = train_val_records(args.data)
    images = ImageCache(records, "train")
    print(f"torch {torch.__version__}, bf16 native here: {bf16_is_native('cpu')}, 1 thread\n"
          "| variant | images/s |\n| --- | --- |", flush=True)
    batches = {size: batch_of(records, images, size) for size in (16, 32)}
    for name in args.only or [*VARIANTS, "loader"]:
        if name == "loader":
            rate = time_loader(records, images, args.seconds)
            name = "loader alone (1 worker, batch 16)"
        else:
            bf16, channels_last, compile_, size = VARIANTS[name]
            rate = time_steps(bf16, channels_last, compile_, batches[size], args.seconds, args.warmup_steps)
        print(f"| {name} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
