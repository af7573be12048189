"""Torch datasets over cached images: augmentation and prior matching run in the workers.

Sampling is deterministic: the sampler yields (epoch, index) pairs and each item's
augmentation RNG is seeded from (seed, epoch, index), so a resumed run sees exactly the
batches it would have seen without the interruption.
"""
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .data import Record
from .loss import match
from .priors import default_boxes
from .transforms import resize_only, train_transform


def cached_boxes(record: Record, image: np.ndarray) -> np.ndarray:
    """The record's boxes in the cached image's pixel frame (the cache may be downscaled)."""
    sx, sy = image.shape[1] / record.width, image.shape[0] / record.height
    return record.boxes * np.array([sx, sy, sx, sy], np.float32)


class TrainDataset(Dataset):
    """Items: (uint8 image [3, 300, 300], loc targets [P, 4], class targets [P])."""

    def __init__(self, records: list[Record], images, seed: int, max_expand: float):
        if len(records) != len(images):
            raise ValueError(f"{len(records)} records but {len(images)} cached images")
        self.records, self.images, self.seed, self.max_expand = records, images, seed, max_expand
        self.priors = default_boxes()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: tuple[int, int]):
        epoch, index = item
        rng = np.random.default_rng([self.seed, epoch, index])
        record, image = self.records[index], self.images[index]
        out, boxes, labels = train_transform(image, cached_boxes(record, image), record.labels, rng, self.max_expand)
        loc_t, conf_t = match(torch.from_numpy(boxes), torch.from_numpy(labels), self.priors)
        return torch.from_numpy(out).permute(2, 0, 1).contiguous(), loc_t, conf_t


class EpochSampler(Sampler):
    """Seeded permutation per epoch, as (epoch, index) pairs, starting at a given position (for resume)."""

    def __init__(self, size: int, seed: int, start_epoch: int = 0, start_position: int = 0):
        self.size, self.seed = size, seed
        self.start_epoch, self.start_position = start_epoch, start_position

    def __iter__(self):
        epoch, position = self.start_epoch, self.start_position
        while True:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))
            for index in order[position:].tolist():
                yield epoch, index
            epoch, position = epoch + 1, 0


class RankShare(Sampler):
    """One data-parallel rank's share of another sampler's order: of each run of `batch_size` items,
    the rank-th of `world_size` equal slices. The ranks' batches together are the one-process batches."""

    def __init__(self, order: Sampler, batch_size: int, rank: int, world_size: int):
        if batch_size % world_size:
            raise ValueError(f"batch {batch_size} does not split evenly between {world_size} ranks")
        self.order, self.batch_size = order, batch_size
        share = batch_size // world_size
        self.first, self.end = rank * share, (rank + 1) * share

    def __iter__(self):
        for position, item in enumerate(self.order):
            if self.first <= position % self.batch_size < self.end:
                yield item


class EvalDataset(Dataset):
    """Items: (uint8 image [3, 300, 300], index into records)."""

    def __init__(self, records: list[Record], images):
        self.records, self.images = records, images

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        return torch.from_numpy(resize_only(self.images[index])).permute(2, 0, 1).contiguous(), index
