"""Repeat-factor sampling (LVIS): the factors follow the rule, rare classes' images come more often by
their factor, the order is a function of (seed, images seen) alone, and without a threshold the
sampling is the plain per-epoch permutation it always was."""
import itertools
import math
from pathlib import Path

import numpy as np
import torch

from training.data.dataset import (TrainDataset, cached_boxes, class_presence, class_repeat_factors, expanded_epoch,
                                   expanded_epoch_length, image_repeat_factors, training_order)
from training.data.transforms import train_transform
from training.data.voc import Record
from training.net.loss import match

from ..synthetic import synthetic_set

# 16 images: class 1 in 15 of them, class 2 in one, class 3 in four, the last without objects;
# numbers exact in binary, so the factors' sum is exactly whole
TOY_LABELS = [[1, 2], [1, 3], [1, 3, 3], [3, 1], [1, 3]] + [[1]] * 10 + [[]]
TOY_THRESHOLD = 0.5625  # r_1 = 1, r_2 = sqrt(0.5625 / 0.0625) = 3, r_3 = sqrt(0.5625 / 0.25) = 1.5


def records_with(label_lists) -> list[Record]:
    return [Record("toy", str(i), Path(f"{i}.jpg"), 100, 100, np.zeros((len(labels), 4), np.float32),
                   np.array(labels, np.int64), np.zeros(len(labels), bool)) for i, labels in enumerate(label_lists)]


def take(sampler, count: int) -> list:
    return list(itertools.islice(sampler, count))


def test_repeat_factors_follow_the_lvis_rule():
    presence = class_presence(records_with(TOY_LABELS))
    per_class = class_repeat_factors(presence, TOY_THRESHOLD)
    for label, images_holding in ((1, 15), (2, 1), (3, 4)):
        assert per_class[label] == max(1.0, math.sqrt(TOY_THRESHOLD / (images_holding / 16)))
    assert per_class[[0, 4, 20]].tolist() == [1.0, 1.0, 1.0], "classes no image holds repeat nothing"
    np.testing.assert_allclose(per_class[1:4], [1.0, 3.0, 1.5])
    # an image repeats by its rarest class; one without objects once
    np.testing.assert_allclose(image_repeat_factors(presence, TOY_THRESHOLD), [3] + [1.5] * 4 + [1] * 11)
    assert expanded_epoch_length(image_repeat_factors(presence, TOY_THRESHOLD)) == 3 + 4 * 1.5 + 11 == 20


def test_rare_images_appear_more_often_by_their_factor():
    rng = np.random.default_rng(5)
    class_odds = [.5, .2, .1, .1, .04, .03, .02, .01]  # a common class, a few rare ones
    records = records_with([sorted(rng.choice(np.arange(1, 9), rng.integers(0, 3), p=class_odds)) for _ in range(40)])
    factors = image_repeat_factors(class_presence(records), 0.3)
    length = expanded_epoch_length(factors)
    expected = factors * (length / factors.sum())  # each image's copies an epoch on average (>= its factor)
    assert length > 40 and factors.max() > 2 and (expected >= factors).all()
    epochs = 400
    counts = np.zeros((epochs, len(records)), np.int64)
    for epoch in range(epochs):
        indices, copies = expanded_epoch(factors, length, seed=3, epoch=epoch)
        assert len(indices) == length, "every epoch has the same length"
        assert len(set(zip(indices.tolist(), copies.tolist()))) == length, "each copy numbered apart"
        counts[epoch] = np.bincount(indices, minlength=len(records))
    assert ((counts == np.floor(expected)) | (counts == np.ceil(expected))).all()
    assert counts.min() >= 1, "every image at least once an epoch"
    np.testing.assert_allclose(counts.mean(axis=0), expected, atol=0.1)

    # the toy list's sum is whole: the class-2 image comes exactly 3 times an epoch, class-3 ones 1.5 on average
    toy = image_repeat_factors(class_presence(records_with(TOY_LABELS)), TOY_THRESHOLD)
    toy_counts = np.array([np.bincount(expanded_epoch(toy, 20, 0, epoch)[0], minlength=16) for epoch in range(400)])
    assert (toy_counts[:, 0] == 3).all() and (toy_counts[:, 5:] == 1).all()
    np.testing.assert_allclose(toy_counts[:, 1:5].mean(), 1.5, atol=0.05)


def test_the_order_follows_from_images_seen_alone():
    records = records_with(TOY_LABELS)
    straight = take(training_order(records, 3, 0, TOY_THRESHOLD), 5 * 20)
    assert straight == take(training_order(records, 3, 0, TOY_THRESHOLD), 5 * 20)
    for position in (1, 19, 20, 47, 75):  # resuming anywhere, mid-epoch or at an epoch's start
        assert take(training_order(records, 3, position, TOY_THRESHOLD), 20) == straight[position:position + 20]
    epochs = [tuple(item[1:] for item in straight[e * 20:(e + 1) * 20]) for e in range(5)]
    assert [item[0] for item in straight] == [e for e in range(5) for _ in range(20)]
    assert len(set(epochs)) == 5, "each epoch draws afresh"
    assert take(training_order(records, 4, 0, TOY_THRESHOLD), 20) != straight[:20]


def test_without_a_threshold_the_order_and_augmentation_are_as_before():
    records, images = synthetic_set()
    for seed, position in ((3, 0), (3, 4), (0, 13)):
        before = []  # the sampler as it was: a seeded permutation per epoch, (epoch, index) pairs
        for epoch in range(position // 6, position // 6 + 3):
            order = torch.randperm(6, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
            before += [(epoch, index) for index in order.tolist()]
        assert take(training_order(records, seed, position), 10) == before[position % 6:position % 6 + 10]

    dataset = TrainDataset(records, images, 3, 3.0)
    image, boxes, labels = train_transform(images[2], cached_boxes(records[2], images[2]), records[2].labels,
                                           np.random.default_rng([3, 1, 2]), 3.0)
    loc_t, conf_t = match(torch.from_numpy(boxes), torch.from_numpy(labels), dataset.priors)
    pixels, loc, conf = dataset[(1, 2)]
    assert torch.equal(pixels, torch.from_numpy(image).permute(2, 0, 1))
    assert torch.equal(loc, loc_t) and torch.equal(conf, conf_t)
    # two copies of one image in an epoch are augmented differently
    assert not torch.equal(dataset[(1, 2, 0)][0], dataset[(1, 2, 1)][0])
