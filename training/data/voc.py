"""PASCAL VOC annotations and an in-memory image cache.

Reads either the JSON-lines layout of shared/data/voc (`<year>/<split>.jsonl`) or the
standard VOCdevkit layout (`<year>/Annotations/*.xml` + `ImageSets/Main/<split>.txt`),
skipping entries whose JPEG is absent. Boxes are converted from VOC's 1-based inclusive
pixels to continuous coordinates (pixel k covers [k-1, k]): [xmin-1, ymin-1, xmax, ymax].
With that frame, plain IoU equals VOC's "+1" IoU on the original numbers.

Images are decoded once, resized so the longer side is at most CACHE_MAX_SIDE, and kept
in one flat uint8 array saved under cache/ (git-ignored), memory-mapped by later runs.
"""
import hashlib
import json
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from ..net.arch import CLASS_NAMES
from ..paths import CACHE_DIR, VAL_SPLIT_PATH

CACHE_MAX_SIDE = 320
VAL_SPLIT_SIZE = 500
VAL_SPLIT_SEED = 2007
CLASS_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}


@dataclass
class Record:
    """One annotated image. boxes: [n, 4] float32 continuous pixel corners in the (width, height) frame."""
    year: str
    image_id: str
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray  # int64, 1..20 (0 is background)
    difficult: np.ndarray  # bool

    @property
    def key(self) -> str:
        return f"{self.year}/{self.image_id}"


def _record(year: str, root: Path, image_id: str, width: int, height: int, objects: list[dict]) -> Record:
    boxes, labels, difficult = [], [], []
    for obj in objects:
        if obj["name"] not in CLASS_INDEX:
            raise ValueError(f"{year}/{image_id}: unknown class name {obj['name']!r}")
        xmin, ymin, xmax, ymax = obj["bbox"]
        boxes.append([xmin - 1.0, ymin - 1.0, xmax, ymax])
        labels.append(CLASS_INDEX[obj["name"]])
        difficult.append(bool(obj.get("difficult", 0)))
    return Record(year, image_id, root / year / "JPEGImages" / f"{image_id}.jpg", int(width), int(height),
                  np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64),
                  np.asarray(difficult, bool))


def _read_jsonl(root: Path, year: str, split: str) -> list[Record]:
    records = []
    with open(root / year / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            records.append(_record(year, root, d["id"], d["width"], d["height"], d["objects"]))
    return records


def _read_xml(root: Path, year: str, split: str) -> list[Record]:
    ids = (root / year / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
    records = []
    for image_id in ids:
        xml_path = root / year / "Annotations" / f"{image_id}.xml"
        if not xml_path.exists():
            continue
        tree = ET.parse(xml_path).getroot()
        size = tree.find("size")
        objects = []
        for obj in tree.findall("object"):
            bb = obj.find("bndbox")
            difficult = obj.find("difficult")
            objects.append({"name": obj.findtext("name").strip(),
                            "bbox": [float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax")],
                            "difficult": int(difficult.text) if difficult is not None else 0})
        records.append(_record(year, root, image_id, int(size.findtext("width")), int(size.findtext("height")), objects))
    return records


def load_split(root: Path, year: str, split: str = "trainval", verbose: bool = True) -> list[Record]:
    """Annotated records of `<root>/<year>` whose image file exists."""
    root = Path(root)
    if (root / year / f"{split}.jsonl").exists():
        records = _read_jsonl(root, year, split)
    elif (root / year / "ImageSets" / "Main" / f"{split}.txt").exists():
        records = _read_xml(root, year, split)
    else:
        raise ValueError(f"no {year} {split} annotations under {root} (neither {split}.jsonl nor VOCdevkit XML)")
    present = [r for r in records if r.image_path.exists()]
    if verbose:
        print(f"{year} {split}: {len(present)} of {len(records)} annotated images present "
              f"({len(records) - len(present)} skipped, image absent)")
    return present


def validation_ids(voc2007_records: list[Record]) -> list[str]:
    """The fixed validation split: 500 seeded VOC2007 trainval ids, written once to val_split.txt."""
    if VAL_SPLIT_PATH.exists():
        return VAL_SPLIT_PATH.read_text().split()
    ids = sorted(r.image_id for r in voc2007_records)
    chosen = sorted(random.Random(VAL_SPLIT_SEED).sample(ids, VAL_SPLIT_SIZE))
    VAL_SPLIT_PATH.write_text("\n".join(chosen) + "\n")
    return chosen


def train_val_records(root: Path) -> tuple[list[Record], list[Record]]:
    """(train, val): val is the fixed VOC2007 split; train is all other present VOC2007 + VOC2012 images."""
    voc07 = load_split(root, "VOC2007")
    val_ids = set(validation_ids(voc07))
    val = [r for r in voc07 if r.image_id in val_ids]
    train = [r for r in voc07 if r.image_id not in val_ids]
    try:
        train += load_split(root, "VOC2012")
    except ValueError as err:
        print(f"VOC2012 not used: {err}")
    return train, val


def records_for_ids(root: Path, split_file: Path, year: str = "VOC2007") -> list[Record]:
    ids = set(Path(split_file).read_text().split())
    records = [r for r in load_split(root, year, verbose=False) if r.image_id in ids]
    if len(records) != len(ids):
        print(f"warning: {len(ids) - len(records)} ids of {split_file} have no image under {root}")
    return records


def _decode(path: Path) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    scale = CACHE_MAX_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    return np.asarray(img, np.uint8)


class ImageCache:
    """All images of a record list, decoded once, as one memory-mapped uint8 blob."""

    def __init__(self, records: list[Record], name: str, workers: int = 2):
        """`name` only labels the progress bar of the one-time build."""
        digest = hashlib.sha1("\n".join(r.key for r in records).encode()).hexdigest()[:12]
        # keyed by content only, so train/val/eval runs share one cache per image list
        stem = CACHE_DIR / f"images_{CACHE_MAX_SIDE}_{digest}"
        blob_path, index_path = stem.with_suffix(".bin"), stem.with_suffix(".json")
        if not index_path.exists():
            self._build(records, blob_path, index_path, workers, name)
        index = json.loads(index_path.read_text())
        self.offsets = index["offsets"]
        self.shapes = index["shapes"]
        self.blob_path = blob_path
        self.blob = np.memmap(blob_path, dtype=np.uint8, mode="r")

    def __getstate__(self) -> dict:
        # another process (a data-parallel rank) maps the same file rather than receiving a copy
        return {"offsets": self.offsets, "shapes": self.shapes, "blob_path": self.blob_path}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.blob = np.memmap(self.blob_path, dtype=np.uint8, mode="r")

    @staticmethod
    def _build(records: list[Record], blob_path: Path, index_path: Path, workers: int, name: str) -> None:
        from tqdm import tqdm  # here only: the GPU machine, which imports this module, has no tqdm
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        offsets, shapes, offset = [], [], 0
        tmp = blob_path.with_suffix(".tmp")
        with open(tmp, "wb") as f, Pool(workers) as pool:
            paths = [r.image_path for r in records]
            for arr in tqdm(pool.imap(_decode, paths, chunksize=16), total=len(paths), desc=f"caching {name} images"):
                f.write(arr.tobytes())
                offsets.append(offset)
                shapes.append(list(arr.shape))
                offset += arr.size
        tmp.rename(blob_path)
        index_path.write_text(json.dumps({"offsets": offsets, "shapes": shapes}))

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> np.ndarray:
        h, w, c = self.shapes[i]
        return np.asarray(self.blob[self.offsets[i]: self.offsets[i] + h * w * c]).reshape(h, w, c)


class ImageFiles:
    """Images decoded from their files at full size on access: what the Rust `eval` reads."""

    def __init__(self, records: list[Record]):
        self.paths = [r.image_path for r in records]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(Image.open(self.paths[i]).convert("RGB"), np.uint8)


def record_to_json(record: Record) -> dict:
    return {"year": record.year, "id": record.image_id, "width": record.width, "height": record.height,
            "boxes": record.boxes.tolist(), "labels": record.labels.tolist(), "difficult": record.difficult.tolist()}


def record_from_json(d: dict) -> Record:
    return Record(d["year"], d["id"], Path(d["year"]) / f"{d['id']}.jpg", d["width"], d["height"],
                  np.asarray(d["boxes"], np.float32).reshape(-1, 4), np.asarray(d["labels"], np.int64),
                  np.asarray(d["difficult"], bool))
