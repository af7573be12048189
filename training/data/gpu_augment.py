"""transforms.py's SSD augmentation for a whole batch at once, on the GPU (any torch device).

The same semantics, batched, with no device-to-host synchronisation:

- Zoom-out and the IoU-constrained crop are sampled for all images together: each image draws
  its CROP_MODE_TRIES crop modes x CROP_TRIALS windows at once, and, as `sample_crop` tries them
  in turn, the first mode that is "whole image" or has a good window decides, with its first
  good window.
- The geometry (the image on a mean-coloured canvas, the crop window, the resize to 300, the flip)
  is rendered with two resampling matrices per image, one for rows and one for columns, applied
  as batched matrix products. They hold the weights of PIL's bilinear resize (a triangle filter
  widened by the downscale factor, so downscaling is antialiased) including its rounding to
  uint8 after each pass, so the two paths differ by a grey level at most (before the colour map).
  `affine_grid`/`grid_sample` would be the obvious tool, but it samples without antialiasing: on a
  noisy test texture its 1.8-2.8x downscales (zoom-outs) were up to 77-164 grey levels (mean 2-3)
  away from PIL's.
- The colour distortion is transforms.colour_matrix per image (parameters drawn on the host).
- Prior matching is loss.match_batch.

Geometry is computed in float64, as transforms.py does in numpy; boxes leave as float32.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..net.arch import INPUT_SIZE
from ..net.box_coder import iou
from ..net.loss import match_batch
from ..net.tensor_cache import constant
from .transforms import (BRIGHTNESS_DELTA, CONTRAST_RANGE, CROP_MIN_IOUS, CROP_MODE_TRIES, CROP_TRIALS, FILL,
                         HUE_DEGREES, SATURATION_RANGE, Geometry, colour_matrix)

CROP_MIN_SIDE = 0.3  # of the canvas side, as in transforms.sample_crop
CROP_ASPECT_RANGE = (0.5, 2.0)


@dataclass
class GeometryBatch:
    """transforms.Geometry for N images: canvas [N, 2] (w, h), offset [N, 2] (left, top) of the image
    on it, window [N, 4] of the canvas that becomes the output, flip [N]."""
    canvas: torch.Tensor
    offset: torch.Tensor
    window: torch.Tensor
    flip: torch.Tensor

    def geometry(self, i: int) -> Geometry:
        cw, ch = self.canvas[i].tolist()
        left, top = self.offset[i].tolist()
        return Geometry(cw, ch, left, top, self.window[i].cpu().numpy().astype(np.float64), bool(self.flip[i]))

    @classmethod
    def stack(cls, geometries: list[Geometry], device: torch.device | str = "cpu") -> "GeometryBatch":
        f64 = {"dtype": torch.float64, "device": device}
        return cls(torch.tensor([[g.canvas_w, g.canvas_h] for g in geometries], **f64),
                   torch.tensor([[g.left, g.top] for g in geometries], **f64),
                   torch.tensor(np.stack([g.window for g in geometries]), **f64),
                   torch.tensor([g.flip for g in geometries], device=device))


def sample_geometry_batch(sizes: torch.Tensor, boxes: torch.Tensor, valid: torch.Tensor, max_expand: float,
                          generator: torch.Generator) -> GeometryBatch:
    """transforms.sample_geometry for images of `sizes` [N, 2] (w, h) with boxes [N, G, 4] (pixel corners,
    padded; `valid` [N, G] marks the real ones)."""
    n, device = sizes.shape[0], sizes.device

    def uniform(*shape):
        return torch.rand(shape, generator=generator, device=device, dtype=torch.float64)

    # zoom-out with p 0.5: a canvas up to max_expand times the image, the image anywhere on it
    expand = uniform(n) >= 0.5 if max_expand > 1 else torch.zeros(n, dtype=torch.bool, device=device)
    ratio = torch.where(expand, 1 + (max_expand - 1) * uniform(n), 1.0)
    sizes = sizes.double()
    canvas = sizes * ratio[:, None]
    offset = uniform(n, 2) * (canvas - sizes)
    canvas_boxes = boxes.double() + offset.repeat(1, 2)[:, None]

    # every crop mode and trial at once: [N, modes, trials]
    modes, trials = CROP_MODE_TRIES, CROP_TRIALS
    min_ious = constant(tuple(math.nan if m is None else m for m in CROP_MIN_IOUS), torch.float64, device)
    mode = torch.randint(len(CROP_MIN_IOUS), (n, modes), generator=generator, device=device)
    whole_mode = torch.isnan(min_ious)[mode]
    side = (CROP_MIN_SIDE + (1 - CROP_MIN_SIDE) * uniform(n, modes, trials, 2)) * canvas[:, None, None]
    corner = uniform(n, modes, trials, 2) * (canvas[:, None, None] - side)
    windows = torch.cat([corner, corner + side], dim=-1).view(n, modes * trials, 4)
    best_overlap = iou(windows, canvas_boxes).masked_fill(~valid[:, None], -1.0).amax(dim=-1)
    centres = (canvas_boxes[..., :2] + canvas_boxes[..., 2:]) / 2
    centre_inside = ((centres[:, None] > windows[:, :, None, :2]) & (centres[:, None] < windows[:, :, None, 2:])).all(-1)
    any_inside = (centre_inside & valid[:, None]).any(dim=-1)
    aspect = side[..., 1] / side[..., 0]
    good = ((aspect >= CROP_ASPECT_RANGE[0]) & (aspect <= CROP_ASPECT_RANGE[1])
            & (best_overlap.view(n, modes, trials) >= min_ious[mode][..., None])
            & any_inside.view(n, modes, trials))

    mode_decides = whole_mode | good.any(dim=-1)
    first = mode_decides.to(torch.uint8).argmax(dim=1)  # argmax returns the first maximum
    rows = torch.arange(n, device=device)
    trial = good[rows, first].to(torch.uint8).argmax(dim=1)
    take_window = mode_decides.any(dim=1) & ~whole_mode[rows, first] & valid.any(dim=1)
    whole = torch.cat([torch.zeros_like(canvas), canvas], dim=1)
    window = torch.where(take_window[:, None], windows.view(n, modes, trials, 4)[rows, first, trial], whole)
    return GeometryBatch(canvas, offset, window, uniform(n) < 0.5)


def transform_boxes(boxes: torch.Tensor, valid: torch.Tensor, geometry: GeometryBatch):
    """transforms.apply_geometry's boxes, batched: (normalised corners [N, G, 4] float32, kept [N, G])."""
    canvas_boxes = boxes.double() + geometry.offset.repeat(1, 2)[:, None]
    low, high = geometry.window[:, None, :2], geometry.window[:, None, 2:]
    centres = (canvas_boxes[..., :2] + canvas_boxes[..., 2:]) / 2
    keep = ((centres > low) & (centres < high)).all(dim=-1) & valid
    low4, high4 = low.repeat(1, 1, 2), high.repeat(1, 1, 2)
    out = (torch.minimum(torch.maximum(canvas_boxes, low4), high4) - low4) / (high4 - low4)
    flipped = torch.stack([1 - out[..., 2], out[..., 1], 1 - out[..., 0], out[..., 3]], dim=-1)
    out = torch.where(geometry.flip[:, None, None], flipped, out)
    keep = keep & (out[..., 2] > out[..., 0]) & (out[..., 3] > out[..., 1])
    return out.float(), keep


def resampling_matrix(in0: torch.Tensor, in1: torch.Tensor, out0: torch.Tensor, out1: torch.Tensor,
                      in_size: torch.Tensor, in_length: int, out_length: int) -> torch.Tensor:
    """Per image, PIL's bilinear weights [N, out_length, in_length] that resize the source span
    [in0, in1] (of a line in_size pixels long) onto output pixels [out0, out1); other rows are zero.

    As PIL's precompute_coeffs: scale = span / count, the triangle filter widened by max(1, scale),
    sampled at source pixel centres, clipped to the line and normalised per output pixel. PIL takes
    the box as C floats, hence the float32 rounding of the span."""
    device = in0.device
    in0, in1 = in0.float(), in1.float()
    count = (out1 - out0).clamp(min=1)
    scale = ((in1 - in0) / count.float()).double()
    filter_scale = scale.clamp(min=1.0)
    out_pixels = torch.arange(out_length, device=device, dtype=torch.float64)
    centre = in0.double()[:, None] + (out_pixels[None] - out0[:, None] + 0.5) * scale[:, None]
    source = torch.arange(in_length, device=device, dtype=torch.float64)
    distance = (source[None, None] + 0.5 - centre[..., None]).abs() / filter_scale[:, None, None]
    weight = (1 - distance).clamp(min=0) * (source[None, None] < in_size[:, None, None])
    in_patch = (out_pixels[None] >= out0[:, None]) & (out_pixels[None] < out1[:, None])
    total = weight.sum(dim=-1, keepdim=True)
    return torch.where(in_patch[..., None] & (total > 0), weight / total.clamp(min=1e-12), 0.0)


def render_batch(images: torch.Tensor, sizes: torch.Tensor, geometry: GeometryBatch,
                 size: int = INPUT_SIZE) -> torch.Tensor:
    """transforms.render (+ flip) for uint8 images [N, 3, S, S] (each in its top-left w x h corner):
    float32 [N, 3, size, size] holding whole grey levels 0..255."""
    window, offset = geometry.window, geometry.offset
    sizes = sizes.double()
    scale = size / (window[:, 2:] - window[:, :2])
    # the visible part of the image, in canvas coordinates, and where it lands in the output
    visible0 = torch.maximum(window[:, :2], offset)
    visible1 = torch.minimum(window[:, 2:], offset + sizes)
    patch0 = torch.round((visible0 - window[:, :2]) * scale)  # half to even, as Python's round()
    patch1 = torch.round((visible1 - window[:, :2]) * scale)
    shows = (visible1 > visible0).all(dim=1) & (patch1 > patch0).all(dim=1)
    patch1 = torch.where(shows[:, None], patch1, patch0)  # an empty patch: fill colour only
    source_side = images.shape[-1]
    columns = resampling_matrix(visible0[:, 0] - offset[:, 0], visible1[:, 0] - offset[:, 0], patch0[:, 0],
                                patch1[:, 0], sizes[:, 0], source_side, size)
    rows = resampling_matrix(visible0[:, 1] - offset[:, 1], visible1[:, 1] - offset[:, 1], patch0[:, 1],
                             patch1[:, 1], sizes[:, 1], images.shape[-2], size)
    columns = torch.where(geometry.flip[:, None, None], columns.flip(1), columns)
    # PIL resizes horizontally first and rounds to uint8 after each pass
    pixels = images.float()
    across = torch.matmul(pixels, columns.float().transpose(1, 2)[:, None]).round_().clamp_(0, 255)
    out = torch.matmul(rows.float()[:, None], across).round_().clamp_(0, 255)
    covered = (rows.sum(dim=-1) > 0)[:, :, None] & (columns.sum(dim=-1) > 0)[:, None, :]
    fill = constant(FILL, out.dtype, out.device).view(1, 3, 1, 1)
    return torch.where(covered[:, None], out, fill)


def sample_colour_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """transforms.sample_colour for n images, vectorised: (colour matrices [n, 3, 3], brightness [n])."""
    change = rng.random((4, n)) < 0.5
    brightness = np.where(change[0], rng.uniform(-BRIGHTNESS_DELTA, BRIGHTNESS_DELTA, n), 0.0)
    contrast = np.where(change[1], rng.uniform(*CONTRAST_RANGE, n), 1.0)
    saturation = np.where(change[2], rng.uniform(*SATURATION_RANGE, n), 1.0)
    hue = np.where(change[3], np.radians(rng.uniform(-HUE_DEGREES, HUE_DEGREES, n)), 0.0)
    return colour_matrix(contrast, saturation, hue), brightness


def colour_batch(pixels: torch.Tensor, colour: torch.Tensor, brightness: torch.Tensor) -> torch.Tensor:
    """transforms.apply_colour, batched: colour [N, 3, 3] @ pixel + brightness [N], clipped, truncated."""
    out = torch.einsum("nij,njhw->nihw", colour.to(pixels.dtype), pixels) + brightness.to(pixels.dtype)[:, None, None, None]
    return out.clamp_(0, 255).trunc_()


def augment_batch(images: torch.Tensor, sizes: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor,
                  valid: torch.Tensor, priors: torch.Tensor, max_expand: float, generator: torch.Generator,
                  colour_rng: np.random.Generator):
    """A training batch, as dataset.TrainDataset gives one per image: (float32 images [N, 3, 300, 300]
    with grey levels 0..255, loc targets [N, P, 4], class targets [N, P])."""
    geometry = sample_geometry_batch(sizes, boxes, valid, max_expand, generator)
    out_boxes, kept = transform_boxes(boxes, valid, geometry)
    colour, brightness = sample_colour_batch(images.shape[0], colour_rng)
    # one pinned host buffer: the copy to the GPU runs asynchronously
    params = torch.from_numpy(np.concatenate([colour.reshape(-1, 9), brightness[:, None]], axis=1)).float()
    if images.is_cuda:
        params = params.pin_memory()
    params = params.to(images.device, non_blocking=True)
    pixels = colour_batch(render_batch(images, sizes, geometry), params[:, :9].view(-1, 3, 3), params[:, 9])
    loc_t, conf_t = match_batch(out_boxes, labels, kept, priors)
    return pixels, loc_t, conf_t
