"""Loads the architecture table, src/model/architecture.json.

That JSON is the single source of truth for the network shared with the Rust engine:
the layer list, the default-box configuration and the class names. Nothing in
`training/` repeats those numbers.
"""
import json
from pathlib import Path

from ..paths import ARCHITECTURE_PATH


def load_architecture(path: Path = ARCHITECTURE_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        arch = json.load(f)
    names = [layer["name"] for layer in arch["layers"]]
    for source in arch["default_boxes"]["sources"]:
        if source["layer"] not in names:
            raise ValueError(f"default-box source layer {source['layer']!r} is not in the layer list {names}")
    return arch


ARCH = load_architecture()
CLASS_NAMES: list[str] = ARCH["class_names"]
NUM_CLASSES: int = len(CLASS_NAMES)
INPUT_SIZE: int = ARCH["input_size"]
DEFAULT_BOXES: dict = ARCH["default_boxes"]
VARIANCES: tuple[float, ...] = tuple(DEFAULT_BOXES["variances"])
SOURCES: list[dict] = DEFAULT_BOXES["sources"]


def boxes_per_cell(source: dict) -> int:
    """Two squares (min, sqrt(min*max)) plus a box and its flip per aspect ratio."""
    return 2 + 2 * len(source["aspect_ratios"])
