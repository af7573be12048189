"""SSD data augmentation with PIL/numpy only.

Geometry (zoom-out, IoU-constrained crop, flip, resize to 300) is composed into one
window on a virtual expanded canvas and rendered with a single PIL resize of the visible
part of the image: no big canvas is ever allocated. Photometric distortion (brightness,
contrast, saturation, hue) is one affine colour map applied to the 300x300 result.

Boxes are continuous pixel corners in; normalised [0, 1] corners out. Sampling and applying are
separate steps (`sample_geometry` / `apply_geometry`, `sample_colour` / `apply_colour`), so that
gpu_augment.py's batched version can be checked against this one on the same parameters.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..net.arch import INPUT_SIZE
from ..net.box_coder import iou
from ..net.model_io import MEAN

FILL = tuple(round(255 * m) for m in MEAN)  # zoom-out fill: the mean colour, i.e. zero after normalisation
# SSD crop modes: None = whole image, else the minimum IoU any kept box must have with the crop.
CROP_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9, 0.0)
CROP_MODE_TRIES = 20  # modes drawn before giving up and keeping the whole canvas
CROP_TRIALS = 50  # windows tried per mode
# colour distortion, each applied with p 0.5
BRIGHTNESS_DELTA = 32.0
CONTRAST_RANGE = (0.5, 1.5)
SATURATION_RANGE = (0.5, 1.5)
HUE_DEGREES = 18.0

# RGB <-> YIQ: hue is a rotation of the (I, Q) chroma plane, saturation its scaling.
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def sample_expand(width: float, height: float, max_expand: float, rng: np.random.Generator):
    """Zoom-out with probability 0.5: canvas size and where the image sits in it."""
    if max_expand <= 1 or rng.random() < 0.5:
        return width, height, 0.0, 0.0
    ratio = rng.uniform(1, max_expand)
    cw, ch = width * ratio, height * ratio
    return cw, ch, rng.uniform(0, cw - width), rng.uniform(0, ch - height)


def sample_crop(canvas_w: float, canvas_h: float, boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SSD random crop: a window [x0, y0, x1, y1] whose IoU with every kept box meets a sampled minimum."""
    whole = np.array([0, 0, canvas_w, canvas_h], np.float64)
    if len(boxes) == 0:
        return whole
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for _ in range(CROP_MODE_TRIES):  # each mode gets CROP_TRIALS tries, drawn at once
        min_iou = CROP_MIN_IOUS[rng.integers(len(CROP_MIN_IOUS))]
        if min_iou is None:
            return whole
        w = rng.uniform(0.3 * canvas_w, canvas_w, CROP_TRIALS)
        h = rng.uniform(0.3 * canvas_h, canvas_h, CROP_TRIALS)
        x0, y0 = rng.uniform(0, 1, CROP_TRIALS) * (canvas_w - w), rng.uniform(0, 1, CROP_TRIALS) * (canvas_h - h)
        windows = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
        overlaps = iou(torch.from_numpy(windows), torch.from_numpy(boxes.astype(np.float64))).numpy()
        inside = ((centres[None] > windows[:, None, :2]) & (centres[None] < windows[:, None, 2:])).all(axis=2)
        good = (h / w >= 0.5) & (h / w <= 2) & (overlaps.max(axis=1) >= min_iou) & inside.any(axis=1)
        if good.any():
            return windows[np.argmax(good)]
    return whole


def render(image: Image.Image, window: np.ndarray, left: float, top: float, size: int) -> Image.Image:
    """The canvas region `window` resized to size x size, the image placed at (left, top), mean fill elsewhere."""
    out = Image.new("RGB", (size, size), FILL)
    sx, sy = size / (window[2] - window[0]), size / (window[3] - window[1])
    # visible part of the image, in canvas coordinates
    vx0, vy0 = max(window[0], left), max(window[1], top)
    vx1, vy1 = min(window[2], left + image.width), min(window[3], top + image.height)
    if vx1 <= vx0 or vy1 <= vy0:
        return out
    px0, py0 = round((vx0 - window[0]) * sx), round((vy0 - window[1]) * sy)
    px1, py1 = round((vx1 - window[0]) * sx), round((vy1 - window[1]) * sy)
    if px1 > px0 and py1 > py0:
        patch = image.resize((px1 - px0, py1 - py0), Image.BILINEAR,
                             box=(vx0 - left, vy0 - top, vx1 - left, vy1 - top))
        out.paste(patch, (px0, py0))
    return out


@dataclass(frozen=True)
class Geometry:
    """One sampled zoom-out + crop + flip: the image sits at (left, top) on a canvas_w x canvas_h
    canvas filled with the mean colour; `window` [x0, y0, x1, y1] of the canvas becomes the output."""
    canvas_w: float
    canvas_h: float
    left: float
    top: float
    window: np.ndarray
    flip: bool


def sample_geometry(width: float, height: float, boxes: np.ndarray, rng: np.random.Generator,
                    max_expand: float = 3.0) -> Geometry:
    """Zoom-out, crop window and flip for an image of width x height with `boxes` (pixel corners);
    the draws come in geometric_augment's order, so seeded runs keep their augmentation."""
    cw, ch, left, top = sample_expand(width, height, max_expand, rng)
    window = sample_crop(cw, ch, boxes.astype(np.float64) + [left, top, left, top], rng)
    return Geometry(cw, ch, left, top, window, bool(rng.random() < 0.5))


def apply_geometry(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, geometry: Geometry,
                   size: int = INPUT_SIZE):
    """The output image (uint8 size x size x 3) and its boxes: those whose centre stays inside the
    window, clipped to it, normalised to [0, 1] and flipped with the image; empty ones dropped."""
    window = geometry.window
    canvas_boxes = boxes.astype(np.float64) + [geometry.left, geometry.top, geometry.left, geometry.top]
    centres = (canvas_boxes[:, :2] + canvas_boxes[:, 2:]) / 2
    keep = ((centres > window[:2]) & (centres < window[2:])).all(axis=1)
    kept = np.clip(canvas_boxes[keep], np.tile(window[:2], 2), np.tile(window[2:], 2))
    scale = np.tile([window[2] - window[0], window[3] - window[1]], 2)
    out_boxes = (kept - np.tile(window[:2], 2)) / scale
    out = render(Image.fromarray(image), window, geometry.left, geometry.top, size)
    if geometry.flip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
        out_boxes = np.stack([1 - out_boxes[:, 2], out_boxes[:, 1], 1 - out_boxes[:, 0], out_boxes[:, 3]], axis=1)
    valid = (out_boxes[:, 2] > out_boxes[:, 0]) & (out_boxes[:, 3] > out_boxes[:, 1])
    return np.array(out), out_boxes[valid].astype(np.float32).reshape(-1, 4), labels[keep][valid]


def geometric_augment(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                      max_expand: float = 3.0, size: int = INPUT_SIZE):
    """Zoom-out, crop, flip, resize. Returns (uint8 HxWx3, normalised boxes [m, 4], labels [m])."""
    geometry = sample_geometry(image.shape[1], image.shape[0], boxes, rng, max_expand)
    return apply_geometry(image, boxes, labels, geometry, size)


def sample_colour(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(brightness, contrast, saturation, hue in radians), each changed with p 0.5."""
    brightness = rng.uniform(-BRIGHTNESS_DELTA, BRIGHTNESS_DELTA) if rng.random() < 0.5 else 0.0
    contrast = rng.uniform(*CONTRAST_RANGE) if rng.random() < 0.5 else 1.0
    saturation = rng.uniform(*SATURATION_RANGE) if rng.random() < 0.5 else 1.0
    hue = math.radians(rng.uniform(-HUE_DEGREES, HUE_DEGREES)) if rng.random() < 0.5 else 0.0
    return brightness, contrast, saturation, hue


def colour_matrix(contrast, saturation, hue) -> np.ndarray:
    """The RGB -> RGB matrix [..., 3, 3] of contrast, saturation and hue (scalars, or arrays for a batch)."""
    contrast, saturation, hue = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (contrast, saturation, hue)))
    c, s = np.cos(hue) * saturation, np.sin(hue) * saturation
    one, zero = np.ones_like(c), np.zeros_like(c)
    chroma = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, c, -s], -1), np.stack([zero, s, c], -1)], -2)
    return contrast[..., None, None] * (_YIQ_TO_RGB @ chroma @ _RGB_TO_YIQ)


def apply_colour(image: np.ndarray, colour: np.ndarray, brightness: float) -> np.ndarray:
    """colour @ pixel + brightness, clipped and truncated to uint8."""
    pixels = image.astype(np.float32)
    # per-channel sums: much faster than a (H*W, 3) @ (3, 3) matmul
    out = np.empty_like(pixels)
    for c_out in range(3):
        out[..., c_out] = (colour[c_out, 0] * pixels[..., 0] + colour[c_out, 1] * pixels[..., 1]
                           + colour[c_out, 2] * pixels[..., 2] + brightness)
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def photometric_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast, saturation and hue (`sample_colour`) as one affine colour map."""
    brightness, contrast, saturation, hue = sample_colour(rng)
    return apply_colour(image, colour_matrix(contrast, saturation, hue), brightness)


def resize_only(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Evaluation transform: the whole image squashed to size x size with PIL's BILINEAR, as
    training's images were made (`render`, `data._decode`) and as the Rust app resamples
    frames (src/detect/resample.rs: the same filter, unrounded), so both sides score alike.
    PIL's BILINEAR is a triangle filter on half-pixel centres whose half-width grows to the
    reduction when an axis shrinks (it averages every pixel it covers); plain bilinear when it grows."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.BILINEAR))


def train_transform(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                    max_expand: float = 3.0):
    out, out_boxes, out_labels = geometric_augment(image, boxes, labels, rng, max_expand)
    return photometric_distort(out, rng), out_boxes, out_labels
