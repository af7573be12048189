"""Packs the training and validation images for a GPU machine that cannot reach the data.

    python -m training.pack_gpu_data --data ../shared/data/voc --out cache/gpu_pack

Writes OUT/images.bin (300-px JPEGs back to back) and OUT/index.json (annotations and
byte ranges for the train and val splits of training.data), with the JPEG quality
lowered until the pack fits --max-mib (it travels with the repository copy, 64 MiB cap).
"""
import argparse
import io
import json
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .arch import INPUT_SIZE, REPO_ROOT
from .data import DEFAULT_DATA_ROOT, ImageCache, record_to_json, train_val_records

QUALITIES = (90, 85, 80, 75, 70, 65, 60, 50)
_cache: dict = {}


def _encode(args: tuple[int, int, int]) -> bytes:
    split, index, quality = args
    image = Image.fromarray(_cache[split][index])
    scale = INPUT_SIZE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def choose_quality(total_images: int, max_bytes: int, workers: int) -> int:
    """Highest quality whose size, estimated on a sample of 200 images, fits the budget."""
    sample = [("train", i, 0) for i in range(0, len(_cache["train"]), max(1, len(_cache["train"]) // 200))]
    with Pool(workers) as pool:
        for quality in QUALITIES:
            sizes = pool.map(_encode, [(s, i, quality) for s, i, _ in sample])
            estimate = np.mean([len(b) for b in sizes]) * total_images
            print(f"quality {quality}: about {estimate / 2**20:.1f} MiB")
            if estimate < 0.95 * max_bytes:
                return quality
    raise ValueError(f"even quality {QUALITIES[-1]} does not fit {max_bytes / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "cache" / "gpu_pack")
    parser.add_argument("--max-mib", type=float, default=55.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    train, val = train_val_records(args.data)
    _cache["train"], _cache["val"] = ImageCache(train, "train"), ImageCache(val, "val")
    quality = choose_quality(len(train) + len(val), int(args.max_mib * 2**20), args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    index, offset = {"quality": quality}, 0
    with open(args.out / "images.bin", "wb") as blob, Pool(args.workers) as pool:
        for split, records in (("train", train), ("val", val)):
            jobs = [(split, i, quality) for i in range(len(records))]
            entries = []
            for record, data in zip(records, tqdm(pool.imap(_encode, jobs, chunksize=32), total=len(jobs), desc=split)):
                blob.write(data)
                entries.append(record_to_json(record) | {"offset": offset, "length": len(data)})
                offset += len(data)
            index[split] = entries
    (args.out / "index.json").write_text(json.dumps(index))
    size = (args.out / "images.bin").stat().st_size + (args.out / "index.json").stat().st_size
    print(f"wrote {args.out}: {len(train)} train + {len(val)} val images, JPEG quality {quality}, {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
