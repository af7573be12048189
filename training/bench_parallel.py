"""Training images/s on this machine's cores for the ways of using two of them (issue: "both cores").

    python -m training.bench_parallel --seconds 150          # pause the lineage first: it needs a quiet machine

Configurations, each a real training step (augmentation in loader workers, bf16 autocast, AdamW) on
the lineage's data for --seconds after a warm-up of --warmup-steps:
  1thread   1 torch thread, 2 loader workers, batch 32 (the lineage's default)
  2threads  2 torch threads, 2 loader workers, batch 32
  ddp       2 processes of 1 thread each, DistributedDataParallel (gloo), batch 16 + 16, 1 worker each
Starts from the lineage state's weights; nothing is saved.
"""
import argparse
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .data import DEFAULT_DATA_ROOT, ImageCache, train_val_records
from .lineage_state import STATE_PATH, load_state
from .optimise import make_optimizer, train_loader, train_step


def measure(model, optimizer, batches, seconds: float, warmup_steps: int, device, scale: int = 1) -> float:
    """Images/s over `seconds` of steps (after the warm-up); `scale` counts the other ranks' images too."""
    for _ in range(warmup_steps):
        train_step(model, optimizer, next(batches), 1e-4, device)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = next(batches)
        train_step(model, optimizer, batch, 1e-4, device)
        images += batch[0].shape[0] * scale
    return images / (time.perf_counter() - start)


def single(args, records, images, threads: int) -> float:
    torch.set_num_threads(threads)
    state = load_state(args.state)
    model = state.model.train()
    optimizer = make_optimizer(model, 1e-4, state.meta["weight_decay"])
    batches = iter(train_loader(records, images, 0, 3.0, 32, 0, 2, torch.device("cpu")))
    return measure(model, optimizer, batches, args.seconds, args.warmup_steps, torch.device("cpu"))


def _ddp_rank(rank: int, args, records, result) -> None:
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    images = ImageCache(records, "train")
    state = load_state(args.state)
    model = torch.nn.parallel.DistributedDataParallel(state.model.train())
    optimizer = make_optimizer(model.module, 1e-4, state.meta["weight_decay"])
    # each rank its own half of the data order: a different seed per rank is enough to measure speed
    batches = iter(train_loader(records, images, rank, 3.0, 16, 0, 1, torch.device("cpu")))
    rate = measure(model, optimizer, batches, args.seconds, args.warmup_steps, torch.device("cpu"), scale=2)
    if rank == 0:
        result.value = rate
    dist.destroy_process_group()


def ddp(args, records) -> float:
    result = mp.get_context("spawn").Value("d", 0.0)
    mp.spawn(_ddp_rank, args=(args, records, result), nprocs=2, join=True)
    return result.value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    p.add_argument("--state", type=Path, default=STATE_PATH)
    p.add_argument("--seconds", type=float, default=150)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--only", choices=["1thread", "2threads", "ddp"], action="append")
    args = p.parse_args()
    records, _ = train_val_records(args.data)
    images = ImageCache(records, "train")
    runs = {"1thread": lambda: single(args, records, images, 1), "2threads": lambda: single(args, records, images, 2),
            "ddp": lambda: ddp(args, records)}
    print("| setting | images/s |\n| --- | --- |")
    for name in args.only or list(runs):
        print(f"| {name} | {runs[name]():.1f} |", flush=True)


if __name__ == "__main__":
    main()
