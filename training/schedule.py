"""Learning rate as a function of images seen: one warm-up, a constant peak, and cooldown branches.

Counting images rather than time or planned steps lets one schedule span any number of
working periods on any machines: training holds the peak, and each period's candidate
model comes from a short branch whose rate falls linearly to zero (warmup-stable-decay;
Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
Durations").
"""
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
