"""Exports a training checkpoint as the app's model file (float16, BN folded).

    python -m training.export --checkpoint runs/main/best.pt --out models/tinyssd_voc.safetensors
"""
import argparse
import datetime
from pathlib import Path

from .net.model_io import DEFAULT_SCORE_THRESHOLD, load_checkpoint_model, save_model_file


def describe_checkpoint(ckpt: dict, path: Path) -> str:
    parts = [f"trained with training/train.py, checkpoint {path.name} of run {path.parent.name}"]
    if "step" in ckpt:
        parts.append(f"{ckpt['step']} iterations")
    if "epoch" in ckpt:
        parts.append(f"{ckpt['epoch']:.1f} epochs")
    if ckpt.get("val_map") is not None:
        parts.append(f"validation mAP (VOC07 11-point, training/val_split.txt, 500 VOC2007 trainval ids) {100 * ckpt['val_map']:.1f}%")
    parts.append(f"exported {datetime.date.today().isoformat()}")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source-note", default="", help="extra provenance text appended to the `source` metadata")
    parser.add_argument("--score-threshold", default=DEFAULT_SCORE_THRESHOLD)
    args = parser.parse_args()
    model, ckpt = load_checkpoint_model(args.checkpoint)
    source = describe_checkpoint(ckpt, args.checkpoint)
    if args.source_note:
        source += "; " + args.source_note
    save_model_file(model, args.out, source, args.score_threshold)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {source}")


if __name__ == "__main__":
    main()
