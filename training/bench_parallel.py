"""Training images/s on this machine's cores for the ways of using two of them (issue: "both cores").

    python -m training.bench_parallel --seconds 150          # pause the lineage first: it needs a quiet machine

Configurations, each the lineage's own training loop (LineageTrainer: augmentation in loader
workers, bf16 autocast where native, AdamW, the EMA) on the lineage's data and from its state, for --seconds
after a warm-up of --warmup-steps:
  1thread   1 torch thread, 2 loader workers, batch 32 (`train --ranks 1`)
  2threads  2 torch threads, 2 loader workers, batch 32 (`train --ranks 1 --threads 2`)
  ddp       2 processes of 1 thread each, DistributedDataParallel (gloo), batch 16 + 16, 1 worker
            each (`train`, the default `--ranks 2`)
Nothing is saved.
"""
import argparse
import time
from pathlib import Path

import torch

from .data.voc import ImageCache, train_val_records
from .lineage.ranks import RankGroup, rank_group
from .lineage.state import STATE_PATH, data_hash, load_state
from .lineage.trainer import LineageTrainer
from .paths import DEFAULT_DATA_ROOT


def _trainer(group: RankGroup, state_path: Path, records, images, workers: int) -> LineageTrainer:
    return LineageTrainer(load_state(state_path, data_hash(records)), records, images, workers,
                          log=lambda _: None, group=group)


def measure(group: RankGroup, state_path: Path, records, images, workers: int, seconds: float,
            warmup_steps: int) -> float:
    """Images/s of the lineage's loop over `seconds` (rank 0's clock decides when all ranks stop)."""
    trainer = _trainer(group, state_path, records, images, workers)
    trainer.run(steps=warmup_steps)
    start = time.perf_counter()
    deadline = time.time() + seconds if group.is_main else None
    done = trainer.run(deadline=deadline)
    return done * trainer.state.meta["batch_size"] / (time.perf_counter() - start)


def single(args, records, images, threads: int) -> float:
    torch.set_num_threads(threads)
    return measure(RankGroup(), args.state, records, images, 2, args.seconds, args.warmup_steps)


def ddp(args, records, images) -> float:
    torch.set_num_threads(1)
    measured = (args.state, records, images, 1, args.seconds, args.warmup_steps)
    with rank_group(2, 1, measure, measured) as group:
        return measure(group, *measured)


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
            "ddp": lambda: ddp(args, records, images)}
    print("| setting | images/s |\n| --- | --- |")
    for name in args.only or list(runs):
        print(f"| {name} | {runs[name]():.1f} |", flush=True)


if __name__ == "__main__":
    main()
