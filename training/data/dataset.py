"""Torch datasets over cached images: augmentation and prior matching run in the workers.

Sampling is deterministic: the sampler yields (epoch, index) pairs and each item's
augmentation RNG is seeded from (seed, epoch, index), so a resumed run sees exactly the
batches it would have seen without the interruption. Repeat-factor sampling (LVIS; an A/B
branch's option) yields (epoch, index, copy) triples instead: the copies of an image in one
epoch are augmented differently.
"""
import math

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..net.arch import NUM_CLASSES
from .voc import Record
from ..net.loss import match
from ..net.priors import default_boxes
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

    def __getitem__(self, item: tuple[int, ...]):
        """`item`: (epoch, index), or (epoch, index, copy) from a RepeatFactorSampler."""
        epoch, index, *copy = item
        rng = np.random.default_rng([self.seed, epoch, index, *copy])
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
            yield from self.epoch_items(epoch)[position:]
            epoch, position = epoch + 1, 0

    def epoch_items(self, epoch: int) -> list[tuple[int, ...]]:
        order = torch.randperm(self.size, generator=epoch_generator(self.seed, epoch))
        return [(epoch, index) for index in order.tolist()]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The sampling order's random stream for one epoch. A torch generator, apart from the numpy streams
    of the augmentation (seeded by (seed, epoch, index, ...))."""
    return torch.Generator().manual_seed(seed * 100003 + epoch)


# --- repeat-factor sampling (LVIS: Gupta et al. 2019) ------------------------------------
def class_presence(records: list[Record]) -> np.ndarray:
    """[images, NUM_CLASSES] bool: whether each image holds an object of each class (difficult ones
    count: training sees them). Column 0, the background, stays False."""
    presence = np.zeros((len(records), NUM_CLASSES), bool)
    for row, record in zip(presence, records):
        row[record.labels] = True
    return presence


def class_repeat_factors(presence: np.ndarray, threshold: float) -> np.ndarray:
    """r_c = max(1, sqrt(t / f_c)), f_c the fraction of images holding class c; 1 for a class no
    image holds (nothing to repeat)."""
    fraction = presence.mean(axis=0)
    ratio = np.divide(threshold, fraction, out=np.ones_like(fraction), where=fraction > 0)
    return np.maximum(1.0, np.sqrt(ratio))


def image_repeat_factors(presence: np.ndarray, threshold: float) -> np.ndarray:
    """r_i = the largest r_c of the image's classes (1 for an image without objects)."""
    return np.where(presence, class_repeat_factors(presence, threshold), 1.0).max(axis=1)


def expanded_epoch_length(factors: np.ndarray) -> int:
    """Items in every epoch of repeat-factor sampling: the factors' sum, rounded up (see epoch_copies)."""
    return math.ceil(factors.sum())


def epoch_copies(factors: np.ndarray, length: int, generator: torch.Generator) -> np.ndarray:
    """How many times each image appears in one epoch of exactly `length` items.

    Detectron2's RepeatFactorTrainingSampler rounds each r_i up or down at random, so its epochs
    differ in length and the position of `images seen` would need every past epoch's length. Here
    every epoch has the same length, so the position stays divmod(images seen, length), computed
    from images seen alone: systematic sampling (one uniform offset u, the images in a fresh random
    order per epoch) gives image i floor or ceil of w_i = r_i * length / sum(r) copies, w_i on
    average; w_i >= r_i as length >= sum(r), so every image appears at least once an epoch.
    """
    order = torch.randperm(len(factors), generator=generator).numpy()
    ends = np.cumsum(factors[order] * (length / factors.sum()))
    ends[-1] = length  # exactly: the counts below telescope to floor(length + u) = length
    starts = np.concatenate([[0.0], ends[:-1]])
    offset = torch.rand((), generator=generator, dtype=torch.float64).item()
    copies = np.empty(len(factors), np.int64)
    copies[order] = np.floor(ends + offset) - np.floor(starts + offset)
    return copies


def expanded_epoch(factors: np.ndarray, length: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of repeat-factor sampling in order: (image index, copy number) per item, `length` items,
    drawn from (seed, epoch) alone."""
    generator = epoch_generator(seed, epoch)
    copies = epoch_copies(factors, length, generator)
    indices = np.repeat(np.arange(len(factors)), copies)
    copy_numbers = np.arange(length) - np.repeat(np.cumsum(copies) - copies, copies)
    order = torch.randperm(length, generator=generator).numpy()  # the copies of an image spread over the epoch
    return indices[order], copy_numbers[order]


class RepeatFactorSampler(EpochSampler):
    """Repeat-factor sampling as (epoch, index, copy) triples: each epoch an expanded list of
    expanded_epoch_length(factors) items in a seeded order, starting at a given position (for resume)."""

    def __init__(self, factors: np.ndarray, seed: int, start_epoch: int = 0, start_position: int = 0):
        super().__init__(expanded_epoch_length(factors), seed, start_epoch, start_position)
        self.factors = factors

    def epoch_items(self, epoch: int) -> list[tuple[int, ...]]:
        indices, copies = expanded_epoch(self.factors, self.size, self.seed, epoch)
        return [(epoch, index, copy) for index, copy in zip(indices.tolist(), copies.tolist())]


def training_order(records: list[Record], seed: int, position: int,
                   repeat_factor_threshold: float | None = None) -> EpochSampler:
    """The training sampler from `position` items on (images seen since the order began): a seeded
    permutation per epoch, or with a threshold, repeat-factor sampling (lineage branch
    --repeat-factor-threshold)."""
    if repeat_factor_threshold is None:
        return EpochSampler(len(records), seed, *divmod(position, len(records)))
    factors = image_repeat_factors(class_presence(records), repeat_factor_threshold)
    return RepeatFactorSampler(factors, seed, *divmod(position, expanded_epoch_length(factors)))


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
