"""The end of a working period: score the candidates as the app does, ship only what is better, record it.

Scores come from `tinyssd eval` (the Rust engine reading the JPEG files and resizing them
as the app does) on training/val_split.txt; the shipped model is scored by the same binary
in the same run, so a change of the app's preprocessing never favours one side. Each
period adds a row to training/state/record.csv, and models/MODEL_CARD.md's lineage
section and models/lineage_map.png are drawn again from the whole record.
"""
import csv
import datetime
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..engine.csv_log import append_csv_row
from ..data.voc import train_val_records
from ..net.model_io import safe_open, set_class_thresholds
from ..paths import REPO_ROOT, STATE_DIR
from .state import load_state, new_period

RECORD_PATH = STATE_DIR / "record.csv"
CARD_PATH = REPO_ROOT / "models" / "MODEL_CARD.md"
PLOT_PATH = REPO_ROOT / "models" / "lineage_map.png"
SUMMARY_CHART_PATH = REPO_ROOT / "models" / "eval_summary.png"
CARD_BEGIN, CARD_END = "<!-- lineage record: begin (written by training/lineage/record.py) -->", "<!-- lineage record: end -->"
# train_images: the size of the training list the period ran on, so the curve shows where the data grew
RECORD_FIELDS = ["date", "kind", "machine", "cores", "train_images", "train_minutes", "images", "images_per_s",
                 "cooldown_images", "lineage_hours", "lineage_images", "candidate", "map11", "map_all",
                 "shipped_map11", "shipped"]


def machine_description() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return os.uname().machine


def tinyssd_eval(binary: Path, model: Path, data: Path, split: Path, plots: Path | None = None) -> dict:
    """`tinyssd eval --json` of one model file."""
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: build it with `cargo build --release --bin tinyssd`")
    command = [str(binary), "eval", "--data", str(data), "--split", str(split), "--model", str(model), "--json"]
    if plots:
        command += ["--plots", str(plots)]
    result = subprocess.run(command, capture_output=True, text=True)
    # exit 2 with a report: some images or records had problems, the rest was scored
    if result.returncode not in (0, 2) or not result.stdout.strip():
        raise RuntimeError(f"tinyssd eval of {model} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout)
    problems = {kind: n for kind, n in report.get("problems", {}).items() if n}
    if problems:
        print(f"warning: tinyssd eval of {model} skipped or counted problems: {problems}")
    return report


def tinyssd_tune(binary: Path, model: Path, data: Path, split: Path, out: Path) -> dict[str, float]:
    """Per-class thresholds of best F1 on the split (`tinyssd tune`), by class name."""
    command = [str(binary), "tune", "--data", str(data), "--split", str(split), "--model", str(model),
               "--out", str(out), "--force"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode not in (0, 2) or not out.exists():
        raise RuntimeError(f"tinyssd tune of {model} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    # three decimals: finer than a slider's step, and a readable file header
    return {name: round(value, 3) for name, value in json.loads(out.read_text())["thresholds"].items()}


CALIBRATION_IMAGES = 400


def calibration_images(data: Path, count: int = CALIBRATION_IMAGES) -> list[Path]:
    """`count` training images spread evenly over the training list (never the validation split)."""
    train, _ = train_val_records(data)
    present = [r.image_path for r in train if r.image_path.exists()]
    step = max(len(present) / count, 1.0)
    return [present[int(i * step)] for i in range(min(count, len(present)))]


def tinyssd_calibrate(binary: Path, model: Path, images: list[Path]) -> None:
    """Writes the int8 calibration (`tinyssd calibrate` on `images`) into the model file at `model`, replaced
    atomically; the weights stay byte for byte."""
    calibrated = model.with_name(model.name + ".calibrating")
    command = [str(binary), "calibrate", "--model", str(model), "--out", str(calibrated), "--force",
               *map(str, images)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not calibrated.exists():
        raise RuntimeError(f"tinyssd calibrate of {model} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    calibrated.replace(model)


def is_calibrated(model: Path) -> bool:
    """Whether the model file carries an int8 calibration."""
    with safe_open(str(model), framework="pt") as f:
        return "int8_input_scales" in (f.metadata() or {})


def choose(candidates: dict[str, dict], shipped: dict) -> tuple[str, bool]:
    """The best candidate by 11-point mAP (all-point breaks ties), and whether it beats the shipped model."""
    best = max(candidates, key=lambda name: (candidates[name]["map11"], candidates[name]["map_all"]))
    return best, candidates[best]["map11"] > shipped["map11"]


def read_record(path: Path = RECORD_PATH) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def append_row(row: dict, path: Path = RECORD_PATH) -> None:
    append_csv_row(path, RECORD_FIELDS, row)


def ship(candidate: Path, shipped: Path) -> None:
    """Replaces the shipped model atomically (a copy beside it, then a rename)."""
    tmp = shipped.with_name(shipped.name + ".tmp")
    shutil.copyfile(candidate, tmp)
    tmp.replace(shipped)


def score_candidates(args, candidates: dict[str, Path], eval_dir: Path) -> dict:
    """tinyssd eval of the shipped model and each candidate in one run; ships the best if it is better."""
    eval_dir.mkdir(parents=True, exist_ok=True)
    print("scoring with tinyssd eval (file-based, as the app sees images)")
    shipped = tinyssd_eval(args.tinyssd, args.shipped, args.data, args.split)
    scores = {name: tinyssd_eval(args.tinyssd, path, args.data, args.split) for name, path in candidates.items()}
    for name, result in {"shipped": shipped, **scores}.items():
        (eval_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
        print(f"  {name:10s} mAP {100 * result['map11']:.2f} (11-point) {100 * result['map_all']:.2f} (all-point)")
    best, better = choose(scores, shipped)
    if better:
        ship(candidates[best], args.shipped)
        print(f"shipped {best}: {100 * scores[best]['map11']:.2f} > {100 * shipped['map11']:.2f}")
    else:
        print(f"not shipped: best candidate {best} {100 * scores[best]['map11']:.2f} <= shipped {100 * shipped['map11']:.2f}")
    # Whichever model is shipped now carries the thresholds chosen on it, where the app's sliders start
    # (mAP does not depend on them; the same model gives the same thresholds and the same bytes).
    thresholds = tinyssd_tune(args.tinyssd, args.shipped, args.data, args.split, eval_dir / "thresholds.json")
    set_class_thresholds(args.shipped, thresholds)
    print("per-class thresholds (best F1) in the shipped model: "
          + ", ".join(f"{name} {value:.2f}" for name, value in thresholds.items()))
    # A newly shipped model gets the int8 calibration the app's --precision int8 (and auto) runs on.
    if better or not is_calibrated(args.shipped):
        tinyssd_calibrate(args.tinyssd, args.shipped, calibration_images(args.data))
        print(f"int8 calibration on {CALIBRATION_IMAGES} training images in the shipped model")
    return {"shipped": shipped, "scores": scores, "best": best, "better": better,
            "shipped_now": scores[best] if better else shipped}


def record_row(kind: str, machine: str, cores: int, train_images: int, tally: dict, cooldown_images: int, meta: dict,
               scored: dict) -> dict:
    """The record's row for a period (tally: its train_seconds and images) scored by score_candidates."""
    best = scored["scores"][scored["best"]]
    return {"date": datetime.date.today().isoformat(), "kind": kind, "machine": machine, "cores": cores,
            "train_images": train_images,
            "train_minutes": f"{tally['train_seconds'] / 60:.1f}", "images": tally["images"],
            "images_per_s": f"{tally['images'] / max(tally['train_seconds'], 1e-9):.1f}",
            "cooldown_images": cooldown_images, "lineage_hours": f"{meta['train_seconds'] / 3600:.3f}",
            "lineage_images": meta["images_seen"], "candidate": scored["best"], "map11": f"{100 * best['map11']:.2f}",
            "map_all": f"{100 * best['map_all']:.2f}", "shipped_map11": f"{100 * scored['shipped']['map11']:.2f}",
            "shipped": "yes" if scored["better"] else "no"}


def finish_period(args, cooled: dict) -> dict:
    """Scores the cooled candidates, ships if better, appends the row and starts a new period in the state."""
    scored = score_candidates(args, cooled["candidates"], args.out / "eval")
    state = load_state(args.state)
    row = record_row(args.kind, machine_description(), os.cpu_count(), cooled["train_images"], state.meta["period"],
                     cooled["images"], state.meta, scored)
    append_row(row)
    state.meta["period"] = new_period()
    state.save(args.state)
    update_card(scored["shipped_now"], args)
    return row


def plot_record(rows: list[dict], path: Path = PLOT_PATH) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    hours = [float(r["lineage_hours"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(hours, [float(r["map11"]) for r in rows], "o-", label="candidate, 11-point")
    ax.plot(hours, [float(r["map_all"]) for r in rows], "s--", ms=4, label="candidate, all-point")
    shipped = [(h, float(r["map11"])) for h, r in zip(hours, rows) if r["shipped"] == "yes"]
    if shipped:
        ax.plot(*zip(*shipped), "*", ms=14, color="tab:green", label="shipped")
    for before, after, h in zip(rows, rows[1:], hours):
        if before["train_images"] != after["train_images"]:  # the data grew (or shrank) after this row
            ax.axvline(h, color="gray", ls=":", lw=1)
            ax.annotate(f"training images {before['train_images']} -> {after['train_images']} ", (h, 0.55),
                        xycoords=("data", "axes fraction"), fontsize=7, color="gray", ha="right", va="center")
    ax.set(xlabel="cumulative training hours of the lineage", ylabel="validation mAP % (tinyssd eval)",
           title="Training lineage: file-based validation mAP")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def card_section(rows: list[dict], shipped: dict) -> str:
    lines = [CARD_BEGIN, "## Training lineage", "",
             "Every working period continues one training state (`training/state/lineage.safetensors`, see "
             "`training/README.md`); at its end a cooldown branch is exported and scored with `tinyssd eval "
             "--data ../shared/data/voc --split training/val_split.txt`, and it replaces the shipped model only "
             "when it scores higher. Rows from `training/state/record.csv`:", "",
             "| date | kind | machine (cores) | training images | training min | images | images/s | cooldown images "
             "| lineage hours | candidate | mAP 11-pt | mAP all-pt | shipped model before | shipped |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['date']} | {r['kind']} | {r['machine']} ({r['cores']}) | {r['train_images']} | "
                     f"{r['train_minutes']} | "
                     f"{r['images']} | {r['images_per_s']} | {r['cooldown_images']} | {float(r['lineage_hours']):.2f} | "
                     f"{r['candidate']} | {r['map11']} | {r['map_all']} | {r['shipped_map11']} | {r['shipped']} |")
    lines += ["", "![validation mAP against cumulative training hours](lineage_map.png)", "",
              "### The shipped model, per class (`tinyssd eval`, VOC07 11-point and all-point AP %)", "",
              "| class | AP 11-pt | AP all-pt | ground truths (non-difficult) | suggested threshold (best F1) |",
              "| --- | --- | --- | --- | --- |"]
    thresholds = shipped.get("thresholds", {})
    for c in shipped["classes"]:
        suggested = f"{thresholds[c['name']]:.2f}" if c["name"] in thresholds else "-"
        lines.append(f"| {c['name']} | {100 * c['ap11']:.1f} | {100 * c['ap_all']:.1f} | {c['num_gt']} | {suggested} |")
    lines += [f"| **mAP** | **{100 * shipped['map11']:.2f}** | **{100 * shipped['map_all']:.2f}** | | |", "",
              f"Source recorded in the file: {shipped.get('source', '(see the model metadata)')}", "", CARD_END]
    return "\n".join(lines)


def update_card(shipped_eval: dict, args, card: Path = CARD_PATH) -> None:
    """Redraws the record plot, the per-class chart and the card's lineage section."""
    rows = read_record()
    plot_record(rows)
    with tempfile.TemporaryDirectory() as plots:
        tinyssd_eval(args.tinyssd, args.shipped, args.data, args.split, Path(plots))
        shutil.copyfile(Path(plots) / "summary.png", SUMMARY_CHART_PATH)
    with safe_open(str(args.shipped), framework="pt") as f:
        metadata = f.metadata() or {}
    shipped_eval = {**shipped_eval, "source": metadata.get("source", ""),
                    "thresholds": json.loads(metadata.get("class_score_thresholds", "{}"))}
    text = card.read_text()
    section = card_section(rows, shipped_eval)
    if CARD_BEGIN in text and CARD_END in text:
        text = text[: text.index(CARD_BEGIN)] + section + text[text.index(CARD_END) + len(CARD_END):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    card.write_text(text)
