"""The batched augmentation (gpu_augment.py) against transforms.py, on the CPU."""
import numpy as np
import pytest
import torch

from training.data.gpu_augment import (GeometryBatch, colour_batch, render_batch, sample_colour_batch,
                                  sample_geometry_batch, transform_boxes)
from training.data.transforms import apply_colour, apply_geometry, sample_geometry
from training.net.loss import match, match_batch
from training.net.priors import default_boxes

SHAPES = [(225, 300), (300, 200), (300, 300), (113, 150), (260, 300), (300, 240)]


def textured_set(count: int, seed: int = 0):
    """Images with detail at every scale (blocks plus noise), so resampling differences show."""
    rng = np.random.default_rng(seed)
    images, boxes, labels = [], [], []
    for i in range(count):
        h, w = SHAPES[i % len(SHAPES)]
        blocks = np.kron(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3)), np.ones((8, 8, 1)))[:h, :w]
        images.append(np.clip(blocks + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8))
        k = int(rng.integers(1, 4))
        x0, y0 = rng.uniform(0, 0.6 * w, k), rng.uniform(0, 0.6 * h, k)
        boxes.append(np.stack([x0, y0, x0 + rng.uniform(10, 0.4 * w, k), y0 + rng.uniform(10, 0.4 * h, k)], 1)
                     .astype(np.float32))
        labels.append(rng.integers(1, 21, k))
    return images, boxes, labels


def batched(images, boxes, labels, pixels: bool = True):
    """The padded tensors PackOnDevice gives: images [N, 3, 300, 300] (None without `pixels`), sizes,
    boxes [N, G, 4], labels, valid."""
    n, most = len(images), max(len(b) for b in boxes)
    store = torch.zeros(n, 3, 300, 300, dtype=torch.uint8) if pixels else None
    box_t, label_t = torch.zeros(n, most, 4), torch.zeros(n, most, dtype=torch.int64)
    valid = torch.zeros(n, most, dtype=torch.bool)
    for i, (image, b, lab) in enumerate(zip(images, boxes, labels)):
        if pixels:
            store[i, :, : image.shape[0], : image.shape[1]] = torch.from_numpy(image).permute(2, 0, 1)
        box_t[i, : len(b)], label_t[i, : len(b)], valid[i, : len(b)] = torch.from_numpy(b), torch.from_numpy(lab), True
    sizes = torch.tensor([[im.shape[1], im.shape[0]] for im in images], dtype=torch.float64)
    return store, sizes, box_t, label_t, valid


@pytest.mark.parametrize("sampler", ["batched", "transforms"])
def test_same_parameters_give_the_same_targets_and_close_pixels(sampler):
    """Both paths render the same sampled geometry and colour: box targets equal, pixels within a few levels."""
    images, boxes, labels = textured_set(12)
    store, sizes, box_t, label_t, valid = batched(images, boxes, labels)
    if sampler == "batched":
        geometry = sample_geometry_batch(sizes, box_t, valid, 3.0, torch.Generator().manual_seed(1))
    else:
        rng = np.random.default_rng(1)
        geometry = GeometryBatch.stack([sample_geometry(im.shape[1], im.shape[0], b, rng, 3.0)
                                        for im, b in zip(images, boxes)])
    colour, brightness = sample_colour_batch(len(images), np.random.default_rng(2))
    pixels = colour_batch(render_batch(store, sizes, geometry), torch.from_numpy(colour).float(),
                          torch.from_numpy(brightness).float())
    out_boxes, kept = transform_boxes(box_t, valid, geometry)
    priors = default_boxes()
    loc_batch, conf_batch = match_batch(out_boxes, label_t, kept, priors)

    diffs = []
    for i in range(len(images)):
        cpu, cpu_boxes, cpu_labels = apply_geometry(images[i], boxes[i], labels[i], geometry.geometry(i))
        cpu = apply_colour(cpu, colour[i], brightness[i])
        np.testing.assert_allclose(out_boxes[i][kept[i]].numpy(), cpu_boxes, atol=1e-6)
        assert label_t[i][kept[i]].tolist() == cpu_labels.tolist()
        loc, conf = match(torch.from_numpy(cpu_boxes), torch.from_numpy(cpu_labels), priors)
        assert torch.equal(conf_batch[i], conf)
        positive = conf > 0
        torch.testing.assert_close(loc_batch[i][positive], loc[positive], atol=1e-5, rtol=0)
        diffs.append(np.abs(pixels[i].permute(1, 2, 0).numpy() - cpu.astype(np.float32)))
    diffs = np.stack(diffs)
    # PIL rounds its fixed-point weights differently by one level at most; the colour matrix scales that
    assert diffs.max() <= 3 and diffs.mean() < 0.1, (diffs.max(), diffs.mean())
    # the sample covered what it has to: zoom-outs, crops, flips, several kept boxes
    zoomed = (geometry.canvas > sizes + 1e-9).any(dim=1)
    cropped = (geometry.window[:, :2] > 0).any(dim=1)
    assert zoomed.any() and cropped.any() and geometry.flip.any() and (~geometry.flip).any()
    assert kept.sum() > len(images)


def test_batched_sampler_draws_like_sample_geometry():
    """The batched sampler follows sample_geometry's distribution (same rules, other random numbers)."""
    images, boxes, labels = textured_set(6, seed=3)
    count = 400
    rng = np.random.default_rng(5)
    cpu = [sample_geometry(images[i % 6].shape[1], images[i % 6].shape[0], boxes[i % 6], rng, 3.0)
           for i in range(count)]
    cpu = GeometryBatch.stack(cpu)
    repeat = [i % 6 for i in range(count)]
    _, sizes, box_t, _, valid = batched([images[i] for i in repeat], [boxes[i] for i in repeat],
                                        [labels[i] for i in repeat], pixels=False)
    gpu = sample_geometry_batch(sizes, box_t, valid, 3.0, torch.Generator().manual_seed(6))

    def statistics(g: GeometryBatch) -> dict:
        whole = (g.window[:, :2] == 0).all(1) & (g.window[:, 2:] == g.canvas).all(1)
        area = ((g.window[:, 2:] - g.window[:, :2]).prod(1) / g.canvas.prod(1))
        return {"zoomed": (g.canvas > sizes + 1e-9).any(1).double().mean().item(),
                "flipped": g.flip.double().mean().item(), "whole": whole.double().mean().item(),
                "area": area.mean().item()}

    a, b = statistics(cpu), statistics(gpu)
    for key in a:
        assert abs(a[key] - b[key]) < 0.1, (key, a, b)

    # every crop obeys sample_crop's rules
    crop = ~((gpu.window[:, :2] == 0).all(1) & (gpu.window[:, 2:] == gpu.canvas).all(1))
    side = gpu.window[:, 2:] - gpu.window[:, :2]
    aspect = side[:, 1] / side[:, 0]
    assert ((aspect[crop] >= 0.5) & (aspect[crop] <= 2)).all()
    assert (side[crop] >= 0.3 * gpu.canvas[crop] - 1e-9).all()
    assert (gpu.window[:, :2] >= 0).all() and (gpu.window[:, 2:] <= gpu.canvas + 1e-9).all()
    _, kept = transform_boxes(box_t, valid, gpu)
    assert kept[crop].any(dim=1).all(), "a crop keeps at least one box centre"
