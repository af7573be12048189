"""Learning rate as a function of images seen: one warm-up, a constant peak, and cooldown branches.

Counting images rather than time or planned steps lets one schedule span any number of
working periods on any machines: training holds the peak, and each period's candidate
model comes from a short branch whose rate falls linearly to zero (warmup-stable-decay;
Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
Durations").

Every trainer's rate comes from here: the lineage's, the GPU burst's (its warm-up is a
`Schedule`, its cooldown `cooldown_lr`) and train.py's single planned run (`warmup_cosine_lr`).
"""
import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Schedule:
    peak_lr: float
    warmup_start: int  # images seen when the lineage began
    warmup_images: int
    warmup_from: float  # learning rate at warmup_start

    def lr(self, images_seen: int) -> float:
        progress = (images_seen - self.warmup_start) / max(1, self.warmup_images)
        if progress >= 1:
            return self.peak_lr
        return self.warmup_from + (self.peak_lr - self.warmup_from) * max(0.0, progress)

    def to_json(self) -> dict:
        return asdict(self)


def cooldown_lr(start_lr: float, images_done: int, images_total: int) -> float:
    """Linear decay from start_lr to zero over the branch's images."""
    return start_lr * max(0.0, 1.0 - images_done / images_total)


def warmup_cosine_lr(progress: float, base_lr: float, warmup: float) -> float:
    """Linear warm-up from 1 % of base_lr over the first `warmup` fraction of a planned run, then
    cosine decay to zero at progress 1 (train.py's schedule)."""
    if progress < warmup:
        return base_lr * (0.01 + 0.99 * progress / warmup)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))
