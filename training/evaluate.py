"""VOC2007-protocol evaluation: per-class AP (11-point and all-point), mAP over 20 classes.

    python -m training.evaluate --model models/tinyssd_voc.safetensors --data ../shared/data/voc \
        --split training/val_split.txt --out runs/eval

Detections: softmax, decode, per-class score > 0.01, per-class NMS (IoU 0.45), top 200 per
image, boxes mapped to the image's own pixel frame. Difficult objects are neither true
nor false positives; a detection is correct at IoU >= 0.5 with an unmatched ground truth.
Those numbers are read from src/eval/protocol.json, which `tinyssd eval` reads too.
"""
import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision.ops import batched_nms
from tqdm import tqdm

from .data.dataset import EvalDataset
from .data.voc import ImageFiles, Record, records_for_ids
from .net.arch import CLASS_NAMES, NUM_CLASSES
from .net.box_coder import decode, iou
from .net.model import TinySSD
from .net.model_io import load_checkpoint_model, load_model_file, normalize
from .net.priors import default_boxes
from .paths import DEFAULT_DATA_ROOT, REPO_ROOT, VAL_SPLIT_PATH


PROTOCOL_PATH = REPO_ROOT / "src" / "eval" / "protocol.json"
PROTOCOL: dict = json.loads(PROTOCOL_PATH.read_text(encoding="utf-8"))


@dataclass
class DetectConfig:
    score_threshold: float = PROTOCOL["score_threshold"]
    nms_iou: float = PROTOCOL["nms_iou"]
    # pre-NMS cap per class, as torchvision's topk_candidates
    candidates_per_class: int = PROTOCOL["candidates_per_class"]
    detections_per_image: int = PROTOCOL["detections_per_image"]


@dataclass
class Detections:
    boxes: torch.Tensor  # [D, 4] normalised corners
    scores: torch.Tensor  # [D]
    labels: torch.Tensor  # [D], 1..20


def postprocess(loc: torch.Tensor, conf: torch.Tensor, priors: torch.Tensor,
                config: DetectConfig = DetectConfig()) -> list[Detections]:
    """Raw outputs [N, P, 4] and [N, P, C] -> per-image detections."""
    probs = F.softmax(conf.float(), dim=-1)
    boxes = decode(loc.float(), priors)
    results = []
    for b in range(loc.shape[0]):
        cand_boxes, cand_scores, cand_labels = [], [], []
        for c in range(1, NUM_CLASSES):
            scores = probs[b, :, c]
            keep = torch.nonzero(scores > config.score_threshold).squeeze(1)
            if keep.numel() > config.candidates_per_class:
                keep = keep[scores[keep].topk(config.candidates_per_class).indices]
            cand_boxes.append(boxes[b, keep])
            cand_scores.append(scores[keep])
            cand_labels.append(torch.full_like(keep, c))
        all_boxes, all_scores, all_labels = torch.cat(cand_boxes), torch.cat(cand_scores), torch.cat(cand_labels)
        kept = batched_nms(all_boxes, all_scores, all_labels, config.nms_iou)[: config.detections_per_image]
        # Clipped to the image after NMS, as the Rust post-processing does.
        results.append(Detections(all_boxes[kept].clamp(0, 1), all_scores[kept], all_labels[kept]))
    return results


def ap_11_point(recall: np.ndarray, precision: np.ndarray) -> float:
    return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                          for t in np.linspace(0, 1, 11)]))


def ap_all_point(recall: np.ndarray, precision: np.ndarray) -> float:
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    changes = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


def precision_recall(detections: list[tuple[int, float, np.ndarray]], gt_boxes: list[np.ndarray],
                     gt_difficult: list[np.ndarray], iou_threshold: float = PROTOCOL["match_iou"]):
    """One class: detections (image index, score, box) over the split; per-image GT boxes and flags.

    Returns (recall, precision) arrays over the score-sorted detections (difficult-matched ones dropped).
    """
    num_positives = int(sum((~d).sum() for d in gt_difficult))
    matched = [np.zeros(len(g), bool) for g in gt_boxes]
    outcomes = []  # 1 = true positive, 0 = false positive; ignored detections are left out
    for image, _, box in sorted(detections, key=lambda d: -d[1]):
        gts = gt_boxes[image]
        best, best_iou = -1, 0.0
        if len(gts):
            overlaps = iou(torch.from_numpy(box[None].astype(np.float64)), torch.from_numpy(gts.astype(np.float64)))[0]
            best, best_iou = int(overlaps.argmax()), float(overlaps.max())
        if best_iou >= iou_threshold and gt_difficult[image][best]:
            continue  # difficult: neither true nor false positive
        is_tp = best_iou >= iou_threshold and not matched[image][best]
        if is_tp:
            matched[image][best] = True
        outcomes.append(int(is_tp))
    tp = np.array(outcomes, np.float64)
    fp = 1.0 - tp
    tp_cum, fp_cum = np.cumsum(tp), np.cumsum(fp)
    recall = tp_cum / max(num_positives, 1)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    return recall, precision


@torch.no_grad()
def evaluate(model: TinySSD, records: list[Record], images, batch_size: int = 32, device: str = "cpu",
             workers: int = 2, progress: bool = True) -> dict:
    """Runs the model over `records` and scores it. Returns {'map11', 'map_all', 'per_class': {...}, 'curves'}."""
    model.eval().to(memory_format=torch.channels_last)
    priors = default_boxes().to(device)
    loader = DataLoader(EvalDataset(records, images), batch_size=batch_size, num_workers=workers)
    per_class = {c: [] for c in range(1, NUM_CLASSES)}
    for batch, indices in tqdm(loader, desc="evaluating", disable=not progress):
        x = normalize(batch.to(device)).contiguous(memory_format=torch.channels_last)
        loc, conf = model(x)
        for det, index in zip(postprocess(loc, conf, priors), indices.tolist()):
            r = records[index]
            scale = torch.tensor([r.width, r.height, r.width, r.height], dtype=torch.float32, device=device)
            boxes = (det.boxes * scale).cpu().numpy()
            for box, score, label in zip(boxes, det.scores.tolist(), det.labels.tolist()):
                per_class[label].append((index, score, box))
    results = {"per_class": {}, "curves": {}}
    for c in range(1, NUM_CLASSES):
        gt_boxes = [r.boxes[r.labels == c] for r in records]
        gt_difficult = [r.difficult[r.labels == c] for r in records]
        recall, precision = precision_recall(per_class[c], gt_boxes, gt_difficult)
        results["per_class"][CLASS_NAMES[c]] = {
            "ap11": ap_11_point(recall, precision), "ap_all": ap_all_point(recall, precision),
            "num_gt": int(sum((~d).sum() for d in gt_difficult)), "num_detections": len(per_class[c])}
        results["curves"][CLASS_NAMES[c]] = (recall, precision)
    results["map11"] = float(np.mean([v["ap11"] for v in results["per_class"].values()]))
    results["map_all"] = float(np.mean([v["ap_all"] for v in results["per_class"].values()]))
    return results


def markdown_table(results: dict, title: str) -> str:
    lines = [f"# {title}", "", "| class | AP (VOC07 11-point) | AP (all-point) | ground truths (non-difficult) |",
             "| --- | --- | --- | --- |"]
    for name, v in results["per_class"].items():
        lines.append(f"| {name} | {100 * v['ap11']:.1f} | {100 * v['ap_all']:.1f} | {v['num_gt']} |")
    lines.append(f"| **mAP** | **{100 * results['map11']:.2f}** | **{100 * results['map_all']:.2f}** | |")
    return "\n".join(lines) + "\n"


def write_report(results: dict, out_dir: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(markdown_table(results, title))
    for name, (recall, precision) in results["curves"].items():
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(recall, precision)
        ap = results["per_class"][name]
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall", ylabel="precision",
               title=f"{name}: AP {100 * ap['ap11']:.1f} (11-pt) / {100 * ap['ap_all']:.1f}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / f"pr_{name}.png", dpi=80)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="exported .safetensors model file")
    source.add_argument("--checkpoint", type=Path, help="training checkpoint (.pt)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--split", type=Path, default=VAL_SPLIT_PATH)
    parser.add_argument("--out", type=Path, help="folder for results.md and the PR curves")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    model = load_model_file(args.model) if args.model else load_checkpoint_model(args.checkpoint)[0]
    records = records_for_ids(args.data, args.split)
    images = ImageFiles(records)  # full-size files, not the training cache: the pixels the Rust `eval` reads
    split_name = args.split.name
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = evaluate(model.to(device), records, images, args.batch_size, device=device)
    title = f"{args.model or args.checkpoint} on {split_name} ({len(records)} images)"
    print(markdown_table(results, title))
    if args.out:
        write_report(results, args.out, title)
        print(f"wrote {args.out}/results.md and {len(results['curves'])} PR curves")


if __name__ == "__main__":
    main()
