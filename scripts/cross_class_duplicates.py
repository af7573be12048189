#!/usr/bin/env python3
"""What `--cross-class-iou` removes at the model's own thresholds.

Reads `tinyssd detect --json` runs over the same images, the first without the
suppression and the others with it (the IoU taken from the file name, `..._0.85.json`),
matches every detection to the VOC ground truth (same class, IoU >= 0.5, each object
taken once, best score first; a match on a *difficult* object counts as neither) and
prints per run the true and false positives, and the boxes the suppression removed:
how many were true positives, and which class kept the object over which.

Usage (from the repository root, after `cargo build --release`):
  ids=$(sed 's#^#../shared/data/voc/VOC2007/JPEGImages/#; s#$#.jpg#' training/val_split.txt)
  for x in off 0.7 0.85; do
    target/release/tinyssd detect --cross-class-iou $x --json $ids > /tmp/detect_$x.json
  done
  python3 scripts/cross_class_duplicates.py ../shared/data/voc/VOC2007/trainval.jsonl \\
      /tmp/detect_off.json /tmp/detect_0.7.json /tmp/detect_0.85.json
"""
import collections
import json
import sys
from pathlib import Path


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def corners(detection):
    return tuple(detection["box"])  # [x_min, y_min, x_max, y_max], as detect --json writes it


def image_id(report):
    return Path(report["image"]).stem


def judge(report, objects):
    """'tp', 'fp' or 'difficult' for each detection of one image, in its order."""
    verdicts = [None] * len(report["detections"])
    taken = set()
    order = sorted(enumerate(report["detections"]), key=lambda kd: -kd[1]["score"])
    for k, d in order:
        best, match = 0.0, None
        for j, o in enumerate(objects):
            if o["name"] == d["class"]:
                overlap = iou(corners(d), o["bbox"])
                if overlap > best:
                    best, match = overlap, j
        if best < 0.5:
            verdicts[k] = "fp"
        elif objects[match]["difficult"]:
            verdicts[k] = "difficult"
        elif match in taken:
            verdicts[k] = "fp"
        else:
            taken.add(match)
            verdicts[k] = "tp"
    return verdicts


def main(annotations, baseline, *suppressed):
    truth = {}
    with open(annotations) as lines:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                truth[record["id"]] = record["objects"]
    off = json.load(open(baseline))
    objects = sum(
        1 for r in off for o in truth[image_id(r)] if not o["difficult"]
    )
    off_verdicts = [judge(r, truth[image_id(r)]) for r in off]

    def line(name, run):
        counts = collections.Counter(
            v for r in run for v in judge(r, truth[image_id(r)])
        )
        tp, fp = counts["tp"], counts["fp"]
        return (
            f"{name}: TP {tp}, FP {fp}, precision {tp / max(1, tp + fp):.3f}, "
            f"recall {tp / max(1, objects):.3f} ({objects} objects)"
        )

    print(line("off", off))
    for path in suppressed:
        limit = float(Path(path).stem.rsplit("_", 1)[1])
        run = json.load(open(path))
        removed = collections.Counter()
        pairs = collections.Counter()
        for before, after in zip(off, run, strict=True):
            kept = {(d["class"], d["score"], corners(d)) for d in after["detections"]}
            verdicts = off_verdicts[off.index(before)]
            for k, d in enumerate(before["detections"]):
                if (d["class"], d["score"], corners(d)) in kept:
                    continue
                removed[verdicts[k]] += 1
                by = max(
                    (
                        x
                        for x in after["detections"]
                        if x["class"] != d["class"] and iou(corners(x), corners(d)) > limit
                    ),
                    key=lambda x: x["score"],
                )
                pairs[(by["class"], d["class"])] += 1
        print(line(f"IoU {limit}", run))
        print(
            f"  removed {sum(removed.values())} boxes: {removed['tp']} true positives, "
            f"{removed['fp']} false positives, {removed['difficult']} on difficult objects"
        )
        print(
            "  kept > removed: "
            + ", ".join(f"{a} > {b} {n}" for (a, b), n in pairs.most_common(10))
        )


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
