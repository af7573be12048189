"""Trains TinySSD (with BatchNorm) on PASCAL VOC.

    python -m training.train --data ../shared/data/voc --out runs/main --minutes 100
    python -m training.train --data ../shared/data/voc --out runs/main --minutes 100 --resume
    python -m training.train --out runs/ft --minutes 60 --init models/tinyssd_voc.safetensors

AdamW with linear warm-up then cosine decay over the planned duration (--minutes of
training time, or --iterations), bf16 autocast where native, channels_last. Writes runs/NAME/log.csv,
loss.png, last.pt every --checkpoint-minutes (model, optimizer, step, elapsed time, RNG
state; --resume continues exactly) and best.pt by validation mAP (evaluated every
--eval-minutes and at the end).
"""
import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .data.voc import ImageCache, train_val_records
from .engine.csv_log import append_csv_row
from .engine.optimise import calibration_batches, make_optimizer, train_loader, train_step
from .engine.schedule import warmup_cosine_lr
from .evaluate import evaluate
from .net.bn_calibration import model_from_file
from .net.model import TinySSD
from .paths import DEFAULT_DATA_ROOT

LOG_FIELDS = ["step", "epoch", "train_seconds", "lr", "loss", "loc_loss", "conf_loss", "images_per_s", "val_map11", "val_map_all"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="VOC root holding VOC2007/ and VOC2012/")
    p.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/main")
    duration = p.add_mutually_exclusive_group()
    duration.add_argument("--minutes", type=float, help="planned training time; the LR schedule spans it")
    duration.add_argument("--iterations", type=int, help="planned iterations; the LR schedule spans them")
    p.add_argument("--resume", action="store_true", help="continue runs/NAME/last.pt exactly")
    p.add_argument("--init", type=Path, help="start from an exported .safetensors model (BN calibrated to keep its function)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=0.03, help="fraction of the schedule spent warming up")
    p.add_argument("--max-expand", type=float, default=3.0, help="largest zoom-out ratio of the augmentation")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads of the main process (1 is faster than 2 when the 2 cores are shared)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--eval-minutes", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.minutes is None and args.iterations is None:
        p.error("give --minutes or --iterations")
    return args


class Trainer:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        np.random.seed(args.seed)
        self.device = torch.device(args.device)
        self.train_records, self.val_records = train_val_records(args.data)
        self.train_images = ImageCache(self.train_records, "train")
        self.val_images = ImageCache(self.val_records, "val")
        print(f"training on {len(self.train_records)} images, validating on {len(self.val_records)}")
        if args.init:
            self.model = model_from_file(args.init, calibration_batches(self.train_records, self.train_images, 256))
            print(f"initialised from {args.init}, batch norm calibrated on 256 training images")
        else:
            self.model = TinySSD(batch_norm=True)
        self.model.to(self.device).to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, args.lr, args.weight_decay)
        self.step, self.train_seconds, self.best_map, self.last_map = 0, 0.0, -1.0, None
        args.out.mkdir(parents=True, exist_ok=True)
        if args.resume:
            self._load(args.out / "last.pt")
        (args.out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))

    # --- checkpoints -------------------------------------------------------------------
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "batch_norm": True,
                "step": self.step, "train_seconds": self.train_seconds, "best_map": self.best_map,
                "val_map": self.last_map, "epoch": self.epoch, "args": {k: str(v) for k, v in vars(self.args).items()},
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}}

    def _save(self, name: str) -> None:
        tmp = self.args.out / (name + ".tmp")
        torch.save(self._state(), tmp)
        tmp.rename(self.args.out / name)

    def _load(self, path: Path) -> None:
        if not path.exists():
            raise ValueError(f"--resume given but {path} does not exist")
        ckpt = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step, self.train_seconds, self.best_map = ckpt["step"], ckpt["train_seconds"], ckpt["best_map"]
        self.last_map = ckpt.get("val_map")
        torch.set_rng_state(ckpt["rng"]["torch"])
        np.random.set_state(ckpt["rng"]["numpy"])
        random.setstate(ckpt["rng"]["python"])
        self._truncate_log()
        print(f"resumed {path} at step {self.step}, {self.train_seconds / 60:.1f} training minutes")

    def _truncate_log(self) -> None:
        """Drops log rows written after the checkpoint, which the resumed run will redo."""
        path = self.args.out / "log.csv"
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, LOG_FIELDS)
                writer.writeheader()
                writer.writerows(rows)

    # --- schedule ----------------------------------------------------------------------
    @property
    def epoch(self) -> float:
        return self.step * self.args.batch_size / len(self.train_records)

    def progress(self) -> float:
        if self.args.iterations:
            return self.step / self.args.iterations
        return self.train_seconds / (60 * self.args.minutes)

    # --- loop --------------------------------------------------------------------------
    def train_step(self, batch) -> tuple[float, float, float]:
        """One optimiser step; returns (lr, loc loss, conf loss)."""
        lr = warmup_cosine_lr(self.progress(), self.args.lr, self.args.warmup)
        loc_loss, conf_loss = train_step(self.model, self.optimizer, batch, lr, self.device)
        return lr, loc_loss.item(), conf_loss.item()

    def validate(self) -> None:
        results = evaluate(self.model, self.val_records, self.val_images, device=self.args.device,
                           workers=self.args.workers, progress=False)
        self.model.train()
        self.last_map = results["map11"]
        print(f"\nstep {self.step}: validation mAP {100 * results['map11']:.2f} (11-point), "
              f"{100 * results['map_all']:.2f} (all-point)")
        self._log({"step": self.step, "epoch": f"{self.epoch:.3f}", "train_seconds": f"{self.train_seconds:.0f}",
                   "val_map11": f"{results['map11']:.4f}", "val_map_all": f"{results['map_all']:.4f}"})
        if results["map11"] > self.best_map:
            self.best_map = results["map11"]
            self._save("best.pt")

    def _log(self, row: dict) -> None:
        append_csv_row(self.args.out / "log.csv", LOG_FIELDS, row)

    def run(self) -> None:
        args = self.args
        self.model.train()
        total = args.iterations or None
        bar = tqdm(total=total, initial=self.step, desc="training", unit="it",
                   bar_format=None if total else "{desc}: {n_fmt} it [{elapsed}{postfix}]")
        last_checkpoint = last_eval = self.train_seconds
        window_loss, window_images, window_start = [], 0, time.perf_counter()
        batches = iter(train_loader(self.train_records, self.train_images, args.seed, args.max_expand,
                                    args.batch_size, self.step * args.batch_size, args.workers, self.device))
        while self.progress() < 1.0:
            tick = time.perf_counter()
            batch = next(batches)
            lr, loc_loss, conf_loss = self.train_step(batch)
            self.step += 1
            self.train_seconds += time.perf_counter() - tick
            window_loss.append((loc_loss, conf_loss))
            window_images += batch[0].shape[0]
            bar.update(1)
            if self.step % 10 == 0:
                rate = window_images / (time.perf_counter() - window_start)
                loc_m, conf_m = np.mean(window_loss, axis=0)
                bar.set_postfix(loss=f"{loc_m + conf_m:.3f}", img_s=f"{rate:.1f}", lr=f"{lr:.2e}",
                                min=f"{self.train_seconds / 60:.1f}")
                self._log({"step": self.step, "epoch": f"{self.epoch:.3f}", "train_seconds": f"{self.train_seconds:.0f}",
                           "lr": f"{lr:.3e}", "loss": f"{loc_m + conf_m:.4f}", "loc_loss": f"{loc_m:.4f}",
                           "conf_loss": f"{conf_m:.4f}", "images_per_s": f"{rate:.2f}"})
                window_loss, window_images, window_start = [], 0, time.perf_counter()
            if self.train_seconds - last_eval >= 60 * args.eval_minutes:
                self.validate()
                last_eval = self.train_seconds
                window_images, window_start = 0, time.perf_counter()
            if self.train_seconds - last_checkpoint >= 60 * args.checkpoint_minutes:
                self._save("last.pt")
                plot_log(args.out)
                last_checkpoint = self.train_seconds
        bar.close()
        self.validate()
        self._save("last.pt")
        plot_log(args.out)
        print(f"done: {self.step} steps, {self.epoch:.1f} epochs, best validation mAP {100 * self.best_map:.2f}")


def plot_log(run_dir: Path) -> None:
    """loss.png: training loss (and validation mAP) against training minutes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(run_dir / "log.csv") as f:
        rows = list(csv.DictReader(f))
    train = [(float(r["train_seconds"]) / 60, float(r["loss"])) for r in rows if r["loss"]]
    val = [(float(r["train_seconds"]) / 60, 100 * float(r["val_map11"])) for r in rows if r["val_map11"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), lw=0.8, label="train loss")
    ax.set(xlabel="training minutes", ylabel="loss (loc + conf)", title=run_dir.name)
    if val:
        ax2 = ax.twinx()
        ax2.plot(*zip(*val), "o-", color="tab:red", label="val mAP (11-pt)")
        ax2.set_ylabel("validation mAP %")
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=90)
    plt.close(fig)


def main() -> None:
    Trainer(parse_args()).run()


if __name__ == "__main__":
    main()
