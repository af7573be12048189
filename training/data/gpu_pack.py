"""Packs the training images for a GPU machine that cannot reach the data (training.lineage.gpu_burst).

    python -m training.data.gpu_pack                 # -> cache/gpu_pack (git-ignored), 35.9 MiB

Writes OUT/images.bin (the training images of training.data.voc, longer side 300 px, as WebP, back
to back) and OUT/index.json (annotations and byte ranges, in the lineage's training order). The
quality is the highest whose size, estimated on a sample, fits --max-mib (WebP quality 35 for the 7334 images here):
the pack travels with the working tree and the lineage state, 64 MiB in all. The validation
images stay here: the burst does not evaluate. On these images WebP keeps about 2 dB more PSNR
than JPEG of the same size (WebP q45: 32.7 dB at 30 MiB of images, JPEG q30: 31.1 dB at 31 MiB);
`--format jpeg` for a machine whose Pillow lacks WebP (torchvision decodes WebP there too).
"""
import argparse
import io
import json
import subprocess
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from ..net.arch import INPUT_SIZE
from ..paths import CACHE_DIR, DEFAULT_DATA_ROOT, REPO_ROOT
from .voc import ImageCache, Record, record_from_json, record_to_json, train_val_records

DEFAULT_PACK = CACHE_DIR / "gpu_pack"
BLOB_NAME, INDEX_NAME = "images.bin", "index.json"
QUALITIES = {"webp": (80, 70, 60, 50, 45, 40, 35, 30), "jpeg": (90, 80, 70, 60, 50, 40, 35, 30, 25)}
ENCODER_OPTIONS = {"webp": {"format": "WEBP", "method": 6}, "jpeg": {"format": "JPEG", "optimize": True}}
TRAVEL_LIMIT_MIB = 64
_source: dict = {}  # the image cache, set before the worker processes fork (they inherit it)


def encode(image: np.ndarray, image_format: str, quality: int) -> bytes:
    """One image, its longer side brought down to the network's input size."""
    pil = Image.fromarray(image)
    scale = INPUT_SIZE / max(pil.size)
    if scale < 1:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, quality=quality, **ENCODER_OPTIONS[image_format])
    return buf.getvalue()


def _encode_cached(job: tuple[int, str, int]) -> bytes:
    index, image_format, quality = job
    return encode(_source["images"][index], image_format, quality)


def choose_quality(count: int, image_format: str, max_bytes: int, pool) -> int:
    """Highest quality whose images, estimated on a sample of 200, fit `max_bytes`."""
    sample = range(0, count, max(1, count // 200))
    for quality in QUALITIES[image_format]:
        sizes = pool.map(_encode_cached, [(i, image_format, quality) for i in sample])
        estimate = np.mean([len(b) for b in sizes]) * count
        print(f"{image_format} quality {quality}: about {estimate / 2**20:.1f} MiB")
        if estimate < 0.97 * max_bytes:
            return quality
    raise ValueError(f"even {image_format} quality {QUALITIES[image_format][-1]} does not fit {max_bytes / 2**20:.0f} MiB")


def write_pack(out: Path, records: list[Record], encoded, image_format: str, quality: int) -> int:
    """Writes the pack from (record, bytes) in order; returns its size in bytes."""
    out.mkdir(parents=True, exist_ok=True)
    entries, offset = [], 0
    with open(out / BLOB_NAME, "wb") as blob:
        for record, data in zip(records, encoded):
            blob.write(data)
            entries.append(record_to_json(record) | {"offset": offset, "length": len(data)})
            offset += len(data)
    if len(entries) != len(records):
        raise ValueError(f"{len(records)} records but {len(entries)} encoded images")
    (out / INDEX_NAME).write_text(json.dumps({"format": image_format, "quality": quality, "train": entries}))
    return offset + (out / INDEX_NAME).stat().st_size


def read_pack(pack: Path) -> tuple[list[Record], list[bytes]]:
    """(training records, encoded images) of a pack, in the lineage's order."""
    index = json.loads((Path(pack) / INDEX_NAME).read_text())
    blob = (Path(pack) / BLOB_NAME).read_bytes()
    return ([record_from_json(e) for e in index["train"]],
            [blob[e["offset"]: e["offset"] + e["length"]] for e in index["train"]])


def tree_bytes() -> int:
    """Size of what the run tool copies of the working tree: tracked and untracked, not ignored, files."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode()
    return sum((REPO_ROOT / p).stat().st_size for p in listing.split("\0") if p and (REPO_ROOT / p).is_file())


def main() -> None:
    from tqdm import tqdm  # here only: read_pack runs on the GPU machine, which has no tqdm
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--out", type=Path, default=DEFAULT_PACK)
    parser.add_argument("--format", choices=sorted(QUALITIES), default="webp")
    parser.add_argument("--max-mib", type=float, default=38.0, help="the whole pack, index included")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    train, _ = train_val_records(args.data)
    _source["images"] = ImageCache(train, "train")
    with Pool(args.workers) as pool:
        index_bytes = len(json.dumps([record_to_json(r) | {"offset": 0, "length": 0} for r in train]))
        quality = choose_quality(len(train), args.format, int(args.max_mib * 2**20) - index_bytes, pool)
        jobs = [(i, args.format, quality) for i in range(len(train))]
        encoded = tqdm(pool.imap(_encode_cached, jobs, chunksize=32), total=len(jobs), desc="packing")
        size = write_pack(args.out, train, encoded, args.format, quality)
    tree = tree_bytes()
    print(f"wrote {args.out}: {len(train)} training images, {args.format} quality {quality}, {size / 2**20:.1f} MiB; "
          f"with the working tree ({tree / 2**20:.1f} MiB, the lineage state included) "
          f"{(size + tree) / 2**20:.1f} of the {TRAVEL_LIMIT_MIB} MiB that travel")


if __name__ == "__main__":
    main()
