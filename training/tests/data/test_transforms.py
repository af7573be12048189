import numpy as np
import pytest
from PIL import Image

from training.data.transforms import FILL, geometric_augment, photometric_distort, resize_only, train_transform
from training.golden import RESIZE_CASES, RESIZE_DIR, resize_reference_name
from training.paths import REPO_ROOT

RECT = (60, 40, 140, 100)  # x0, y0, x1, y1 in pixels (continuous corners)
COLOUR = (255, 0, 255)


def _synthetic():
    image = np.zeros((150, 200, 3), np.uint8)
    image[...] = (0, 200, 0)
    x0, y0, x1, y1 = RECT
    image[y0:y1, x0:x1] = COLOUR
    return image, np.array([RECT], np.float32), np.array([3])


def _rectangle_extent(out):
    """Bounding box (continuous corners) of the pixels that are mostly the rectangle's colour."""
    mask = (out[..., 0] > 150) & (out[..., 1] < 100) & (out[..., 2] > 150)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


@pytest.mark.parametrize("max_expand", [1.0, 3.0])
def test_box_follows_the_rectangle_through_geometry(max_expand):
    image, boxes, labels = _synthetic()
    kept = 0
    for seed in range(60):
        out, out_boxes, out_labels = geometric_augment(image, boxes, labels, np.random.default_rng(seed), max_expand)
        assert out.shape == (300, 300, 3) and out.dtype == np.uint8
        extent = _rectangle_extent(out)
        if len(out_boxes) == 0:
            continue  # the crop dropped the rectangle (its centre left the window)
        kept += 1
        assert out_labels.tolist() == [3]
        box = out_boxes[0] * 300
        assert extent is not None
        # the box covers the rectangle, and not much more (bilinear edges: 2 px)
        np.testing.assert_allclose(box, extent, atol=2.0)
    assert kept > 30


def test_zoom_out_fills_with_the_mean_colour():
    image, boxes, labels = _synthetic()
    fills = 0
    for seed in range(30):
        out, _, _ = geometric_augment(image, boxes, labels, np.random.default_rng(seed), 3.0)
        fills += int((out == np.array(FILL, np.uint8)).all(axis=-1).any())
    assert fills > 0


def test_photometric_keeps_shape_and_changes_colours():
    image, _, _ = _synthetic()
    changed = 0
    for seed in range(10):
        out = photometric_distort(image, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8
        changed += int(not np.array_equal(out, image))
    assert changed >= 5


def test_train_transform_boxes_are_normalised_and_valid():
    image, boxes, labels = _synthetic()
    for seed in range(20):
        _, out_boxes, _ = train_transform(image, boxes, labels, np.random.default_rng(seed))
        assert ((out_boxes >= 0) & (out_boxes <= 1)).all()
        assert (out_boxes[:, 2:] > out_boxes[:, :2]).all()


@pytest.mark.parametrize("asset, crop, size", RESIZE_CASES)
def test_resize_only_gives_the_references_the_rust_preprocessing_matches(asset, crop, size):
    # tests/parity.rs holds the Rust pre-processing to these same files (within rounding).
    image = Image.open(REPO_ROOT / "assets" / f"{asset}.png").convert("RGB")
    if crop is not None:
        image = image.crop(crop)
    expected = np.asarray(Image.open(RESIZE_DIR / resize_reference_name(asset, crop, size)).convert("RGB"))
    np.testing.assert_array_equal(resize_only(np.asarray(image), size), expected)


def test_resize_only_averages_every_pixel_when_it_shrinks():
    # One bright column in four, shrunk by 4: the widened triangle gives the stripes' mean
    # (255 / 4) inside; plain bilinear would read columns 1 and 2 of each four, both dark.
    stripes = np.zeros((40, 80, 3), np.uint8)
    stripes[:, ::4] = 255
    out = resize_only(stripes, 20)
    assert (out[1:-1, 1:-1] == 64).all()
