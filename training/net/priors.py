"""Default boxes (priors), generated from the architecture table.

Returns [8030, 4] (cx, cy, w, h) normalised by the input size, not clipped, in the
order (source, row i, column j, box b) that matches the predictor layout in model.py.
"""
import math

import torch

from .arch import INPUT_SIZE, SOURCES


def cell_box_sizes(source: dict) -> list[tuple[float, float]]:
    """(w, h) in pixels per box of one cell, in SSD order."""
    min_size, max_size = source["min_size"], source["max_size"]
    sizes = [(min_size, min_size), (math.sqrt(min_size * max_size),) * 2]
    for r in source["aspect_ratios"]:
        sizes.append((min_size * math.sqrt(r), min_size / math.sqrt(r)))
        sizes.append((min_size / math.sqrt(r), min_size * math.sqrt(r)))
    return sizes


def default_boxes(sources: list[dict] = SOURCES, input_size: int = INPUT_SIZE) -> torch.Tensor:
    boxes = []
    for source in sources:
        n, step = source["feature_size"], source["step"]
        sizes = cell_box_sizes(source)
        for i in range(n):
            for j in range(n):
                cx, cy = (j + 0.5) * step, (i + 0.5) * step
                boxes.extend((cx, cy, w, h) for w, h in sizes)
    return torch.tensor(boxes, dtype=torch.float64).div_(input_size).float()
