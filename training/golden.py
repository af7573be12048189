"""Regenerates the Rust parity-test files, deterministically.

    python -m training.golden

tests/golden/weights.safetensors: a randomly initialised network in the model-file format.
tests/golden/tensors.safetensors: `input` (float16), and float32 `loc`, `conf`, `priors`,
`feature.<source>` maps, computed in float64 from the float16 weights and input exactly
as stored, so the reference carries no rounding of its own.
tests/golden/pil_bilinear/*.png: assets (or a crop of one) resized to a square with PIL's
BILINEAR, the filter training resizes with, for the Rust resampling test (tests/parity.rs)
and the Python evaluation transform's (training/tests/data/test_transforms.py).
"""
import argparse
import math

import torch
from PIL import Image
from torch import nn

from .net.arch import INPUT_SIZE
from .net.model import TinySSD
from .net.model_io import MEAN, STD, load_model_file, save_model_file, write_safetensors
from .net.priors import default_boxes
from .paths import REPO_ROOT

GOLDEN_DIR = REPO_ROOT / "tests" / "golden"
FEATURES = ("fire8", "fire9", "fire10", "conv13_2")
RESIZE_DIR = GOLDEN_DIR / "pil_bilinear"
# (asset, crop box or None, output side): shrinking both axes, shrinking a lot, shrinking one
# axis while growing the other, and growing both.
RESIZE_CASES = (("astronaut", None, 300), ("coffee", None, 150), ("chelsea", None, 320),
                ("chelsea", (200, 60, 300, 140), 160))


def resize_reference_name(asset: str, crop, size: int) -> str:
    crop_part = "" if crop is None else "_crop_" + "_".join(map(str, crop))
    return f"{asset}{crop_part}_{size}.png"


def write_resize_references() -> None:
    RESIZE_DIR.mkdir(parents=True, exist_ok=True)
    for asset, crop, size in RESIZE_CASES:
        image = Image.open(REPO_ROOT / "assets" / f"{asset}.png").convert("RGB")
        if crop is not None:
            image = image.crop(crop)
        path = RESIZE_DIR / resize_reference_name(asset, crop, size)
        image.resize((size, size), Image.BILINEAR).save(path)
        print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size / 1e3:.0f} kB)")


def random_model(seed: int = 0) -> TinySSD:
    """Kaiming-normal (fan_in) weights keep activations O(1) through the depth; biases U(-0.1, 0.1)."""
    torch.manual_seed(seed)
    model = TinySSD(batch_norm=False)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.uniform_(module.bias, -0.1, 0.1)
    return model


def smooth_image(seed: int = 0, size: int = INPUT_SIZE) -> torch.Tensor:
    """An image-like [1, 3, H, W] input: seeded low-frequency waves and blobs, RGB in [0, 255], normalised."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size, dtype=torch.float64),
                            torch.linspace(0, 1, size, dtype=torch.float64), indexing="ij")
    channels = []
    for _ in range(3):
        img = torch.zeros(size, size, dtype=torch.float64)
        for _ in range(4):
            fx, fy, phase = (torch.rand(3, generator=g, dtype=torch.float64) * torch.tensor([6.0, 6.0, 2 * math.pi], dtype=torch.float64)).tolist()
            img += torch.sin(2 * math.pi * (fx * xx + fy * yy) + phase)
        for _ in range(3):
            cx, cy, r = torch.rand(3, generator=g, dtype=torch.float64).tolist()
            img += 2.0 * torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 + 0.05 * r))
        img = (img - img.min()) / (img.max() - img.min()) * 255.0
        channels.append(img)
    pixels = torch.stack(channels).round()
    mean = torch.tensor(MEAN, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(3, 1, 1)
    return ((pixels / 255.0 - mean) / std).unsqueeze(0)


def main() -> None:
    # No options: the parser is there so that `--help` explains instead of regenerating.
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    weights_path = GOLDEN_DIR / "weights.safetensors"
    save_model_file(random_model(0), weights_path, source="random init, seed 0, for tests")

    model = load_model_file(weights_path, dtype=torch.float64).eval()
    input_f16 = smooth_image(0).to(torch.float16)
    with torch.no_grad():
        features = model.forward_features(input_f16.to(torch.float64))
        loc, conf = model.head(features)
    tensors = {
        "input": input_f16.contiguous(),
        "loc": loc[0].float().contiguous(),
        "conf": conf[0].float().contiguous(),
        "priors": default_boxes().contiguous(),
    }
    for name in FEATURES:
        tensors[f"feature.{name}"] = features[name].float().contiguous()
    tensors_path = GOLDEN_DIR / "tensors.safetensors"
    write_safetensors(tensors, tensors_path)
    for path in (weights_path, tensors_path):
        print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size / 1e6:.2f} MB)")
    for name in FEATURES:
        f = features[name]
        print(f"  feature.{name} {tuple(f.shape)} mean {f.mean():.3f} std {f.std():.3f}")
    print(f"  loc std {loc.std():.3f}, conf std {conf.std():.3f}")
    write_resize_references()


if __name__ == "__main__":
    main()
