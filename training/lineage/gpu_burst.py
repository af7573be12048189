"""A GPU training burst that continues the training lineage on a lent machine, and its adoption here.

    python -m training.data.gpu_pack                    # here, once per training list: cache/gpu_pack
    training/gpu_burst.sh                               # there (run tool), see training/README.md
    python -m training.lineage.gpu_burst adopt DIR      # here: DIR holds the files that came back

`run` continues training/state/lineage.safetensors (it travels with the working tree). It decodes
the pack once into one uint8 tensor on the GPU and trains with batched augmentation there
(gpu_augment.py), batch 256, bf16, fused AdamW, EMA, until --minutes after the command started;
then it saves the continued state, runs a cooldown branch (LR linear to 0 over --cooldown-fraction
of the steps, stopped at --hard-stop-minutes whatever happens) and exports the branch's EMA. OUT
then holds four files: lineage.safetensors (the continued, un-cooled state), tinyssd_voc.safetensors
(the cooled EMA), log.csv and summary.json. There is no evaluation there: `adopt` scores here.

How a burst joins the lineage:
- Sampling order: the burst draws the lineage's order (`dataset.training_order`: repeat-factor sampled
  where the state's meta says so) from where the state stands and
  advances images_seen by the images it trained on, so the CPU run resumes from the new position.
  Only the augmentation draws differ (a torch generator instead of per-image numpy streams).
- Batch size: meta["batch_size"] stays the CPU's 32; the burst's settings and tallies are appended to
  meta["bursts"]. Its peak rate is the CPU peak times sqrt(batch / 32) (Adam's square-root scaling
  rule, Malladi et al. 2022), warmed up from the CPU schedule's current rate; AdamW's weight decay
  and the EMA decay are rescaled so that their time scales, counted in images, stay the CPU's.
- AdamW moments carry over both ways: Adam normalises by its own second moments.
- images_seen, steps, train_seconds and ema_updates count the burst; meta["period"], the CPU working
  period in progress, is left as it was and goes on when the CPU run resumes, after a warm-up of its
  rate (REWARM_STEPS) while AdamW's second moments adapt to its smaller batches.
"""
import argparse
import csv
import datetime
import io
import itertools
import json
import math
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, features

from ..data.dataset import cached_boxes, training_order
from ..data.gpu_augment import augment_batch
from ..data.gpu_pack import DEFAULT_PACK, read_pack
from ..data.voc import Record
from ..engine.optimise import train_step
from ..engine.schedule import Schedule, cooldown_lr
from ..net.model_io import read_model_file, save_model_file
from ..net.priors import default_boxes
from ..paths import DEFAULT_DATA_ROOT, LINEAGE_WORK_DIR, SHIPPED_MODEL, TINYSSD_BINARY, VAL_SPLIT_PATH
from .state import STATE_PATH, LineageError, LineageState, data_hash, load_state, read_meta

STATE_FILE, MODEL_FILE, LOG_FILE, SUMMARY_FILE = "lineage.safetensors", "tinyssd_voc.safetensors", "log.csv", "summary.json"
RETURNED_FILES = (STATE_FILE, MODEL_FILE, LOG_FILE, SUMMARY_FILE)
RETURN_MAX_FILES, RETURN_MAX_FILE_BYTES = 8, 16 * 2**20  # what the run tool brings back from $OUT
LOG_FIELDS = ["phase", "step", "images", "seconds", "lr", "loss", "loc_loss", "conf_loss", "images_per_s"]
CANDIDATE = "burst_ema"
RECORD_KIND = "GPU burst"
BACKUP_DIR = LINEAGE_WORK_DIR / "backups"
PIL_READS_WEBP = features.check("webp")


class BurstError(Exception):
    """A burst that cannot go on (diverged), or a returned burst that must not join the lineage."""


# --- data --------------------------------------------------------------------------------
def decode_image(data: bytes) -> np.ndarray:
    """uint8 H x W x 3 of a packed image; torchvision decodes WebP when this Pillow was built without it."""
    if data[8:12] == b"WEBP" and not PIL_READS_WEBP:
        from torchvision.io import decode_webp
        return decode_webp(torch.frombuffer(bytearray(data), dtype=torch.uint8)).permute(1, 2, 0).numpy()
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))  # a writable copy, for torch.from_numpy


class PackOnDevice:
    """The pack's images decoded once into one zero-padded uint8 tensor [N, 3, S, S] on the device
    (image i in the top-left corner of its slot), with sizes [N, 2] (w, h) and boxes padded to the
    most of any image, in pixels of the packed images."""

    def __init__(self, records: list[Record], encoded: list[bytes], device: torch.device, threads: int):
        with ThreadPoolExecutor(threads) as pool:  # Pillow releases the GIL while it decodes
            decoded = list(pool.map(decode_image, encoded))
        side = max(max(image.shape[:2]) for image in decoded)
        self.box_counts = np.array([len(r.boxes) for r in records])
        most = max(1, int(self.box_counts.max()))
        images = torch.zeros(len(decoded), 3, side, side, dtype=torch.uint8)
        boxes = torch.zeros(len(decoded), most, 4)
        labels = torch.zeros(len(decoded), most, dtype=torch.int64)
        for i, (record, image) in enumerate(zip(records, decoded)):
            images[i, :, : image.shape[0], : image.shape[1]] = torch.from_numpy(image).permute(2, 0, 1)
            boxes[i, : len(record.boxes)] = torch.from_numpy(cached_boxes(record, image))
            labels[i, : len(record.boxes)] = torch.from_numpy(record.labels)
        valid = torch.arange(most)[None] < torch.from_numpy(self.box_counts)[:, None]
        sizes = torch.tensor([[image.shape[1], image.shape[0]] for image in decoded], dtype=torch.float64)
        self.images, self.sizes, self.boxes, self.labels, self.valid = (
            t.to(device) for t in (images, sizes, boxes, labels, valid))

    def __len__(self) -> int:
        return len(self.box_counts)

    def batch(self, indices: np.ndarray):
        """(images, sizes, boxes, labels, valid) of `indices`, boxes cut to the batch's most (known here, no sync)."""
        most = max(1, int(self.box_counts[indices].max()))
        index = torch.from_numpy(indices)
        if self.images.is_cuda:  # from pinned memory the copy is asynchronous; from pageable memory it syncs
            index = index.pin_memory()
        index = index.to(self.images.device, non_blocking=True)
        return (self.images[index], self.sizes[index], self.boxes[index, :most], self.labels[index, :most],
                self.valid[index, :most])


# --- the burst ----------------------------------------------------------------------------
def burst_settings(meta: dict, batch_size: int, peak_lr: float | None, warmup_images: int,
                   cooldown_fraction: float) -> dict:
    """The burst's optimisation settings, derived from the CPU lineage's (see the module docstring)."""
    ratio = batch_size / meta["batch_size"]
    cpu_peak = meta["schedule"]["peak_lr"]
    peak = peak_lr if peak_lr is not None else cpu_peak * math.sqrt(ratio)
    return {"batch_size": batch_size, "peak_lr": peak,
            "start_lr": Schedule(**meta["schedule"]).lr(meta["images_seen"]),
            "warmup_images": warmup_images, "cooldown_fraction": cooldown_fraction,
            # AdamW shrinks weights by lr * wd per step: the same shrinkage per image as the CPU steps
            "weight_decay": meta["weight_decay"] * (cpu_peak / peak) * ratio,
            # the same averaging horizon in images: decay^(steps) with 1/ratio as many steps
            "ema_decay": meta["ema_decay"] ** ratio}


def prepare_state(state: LineageState, settings: dict, device: torch.device) -> None:
    """Moves the state to the device and sets the burst's optimiser, weight decay and EMA decay."""
    state.model.to(device).train()
    for key, value in state.ema.shadow.items():
        state.ema.shadow[key] = value.to(device)
    state.ema.max_decay = settings["ema_decay"]  # in memory only: meta["ema_decay"] stays the CPU's
    for group in state.optimizer.param_groups:
        group["fused"] = True  # one kernel for all parameters; load_state builds the optimiser unfused
        if group["weight_decay"]:
            group["weight_decay"] = settings["weight_decay"]
    for moments in state.optimizer.state.values():
        moments["step"] = moments["step"].to(device, torch.float32)  # fused AdamW keeps it on the device
        for kind in ("exp_avg", "exp_avg_sq"):
            moments[kind] = moments[kind].to(device)


class BurstTrainer:
    """Training steps on GPU-augmented batches in the lineage's sampling order; logs without per-step syncs."""

    def __init__(self, state: LineageState, records: list[Record], data: PackOnDevice, settings: dict,
                 device: torch.device, log_path: Path, log_every: int, started: float):
        self.state, self.data, self.settings, self.device = state, data, settings, device
        self.log_every, self.started = log_every, started
        meta = state.meta
        position = meta["images_seen"] - meta.get("sampler_offset", 0)
        # The CPU trainer's own order, repeat-factor sampling included where the state says so.
        self.order = iter(training_order(records, meta["seed"], position, meta.get("repeat_factor_threshold")))
        self.augmentation_seed = [meta["seed"], meta["images_seen"]]
        seed = int(np.random.SeedSequence(self.augmentation_seed).generate_state(1)[0])
        self.generator = torch.Generator(device).manual_seed(seed)
        self.colour_rng = np.random.default_rng(self.augmentation_seed)
        self.priors = default_boxes().to(device)
        self.log_path = log_path
        with open(log_path, "w", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS).writeheader()

    def next_batch(self):
        size = self.settings["batch_size"]
        # Items are (epoch, index) or, repeat-factor sampled, (epoch, index, copy).
        indices = np.fromiter((item[1] for item in itertools.islice(self.order, size)), np.int64, count=size)
        images, sizes, boxes, labels, valid = self.data.batch(indices)
        return augment_batch(images, sizes, boxes, labels, valid, self.priors, self.state.meta["max_expand"],
                             self.generator, self.colour_rng)

    def run(self, phase: str, lr_at, until: float, steps: int | None = None, min_steps: int = 0) -> dict:
        """Steps until `steps` or the wall-clock time `until` (but at least `min_steps`); lr_at(images done)."""
        batch = self.settings["batch_size"]
        done, window, lr = 0, [], 0.0
        start = window_start = time.time()
        while (steps is None or done < steps) and (done < min_steps or time.time() < until):
            lr = lr_at(done * batch)
            loc_loss, conf_loss = train_step(self.state.model, self.state.optimizer, self.next_batch(), lr, self.device)
            self.state.ema.update()
            window.append(torch.stack([loc_loss, conf_loss]))
            done += 1
            if done % self.log_every == 0:
                self._log(phase, done, lr, window, window_start)
                window, window_start = [], time.time()
        if window:
            self._log(phase, done, lr, window, window_start)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.time() - start
        return {"steps": done, "images": done * batch, "seconds": seconds, "images_per_s": done * batch / seconds}

    def _log(self, phase: str, done: int, lr: float, window: list, window_start: float) -> None:
        loc_loss, conf_loss = torch.stack(window).mean(dim=0).tolist()  # the one sync, every log_every steps
        if not math.isfinite(loc_loss + conf_loss):
            raise BurstError(f"{phase} step {done}: the loss is {loc_loss + conf_loss} (diverged); nothing saved")
        seconds = time.time() - window_start
        row = {"phase": phase, "step": done, "images": done * self.settings["batch_size"],
               "seconds": f"{time.time() - self.started:.1f}", "lr": f"{lr:.3e}", "loss": f"{loc_loss + conf_loss:.4f}",
               "loc_loss": f"{loc_loss:.4f}", "conf_loss": f"{conf_loss:.4f}",
               "images_per_s": f"{len(window) * self.settings['batch_size'] / max(seconds, 1e-9):.1f}"}
        with open(self.log_path, "a", newline="") as f:  # appended row by row: a timeout still leaves the log
            csv.DictWriter(f, LOG_FIELDS).writerow(row)


# The CPU's warm-up after a burst: from a tenth of its peak rate over AdamW's second-moment time constant.
REWARM_FROM, REWARM_STEPS = 0.1, 1000


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"


def record_burst(meta: dict, settings: dict, main: dict, started: float, device: torch.device, seed: list) -> dict:
    """Counts the main phase in the lineage and appends the burst's entry to meta["bursts"]."""
    entry = {"started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds"),
             "device": device_name(device), "host_cores": os.cpu_count(), "torch": torch.__version__, **settings,
             "images_seen_before": meta["images_seen"], "images": main["images"], "steps": main["steps"],
             "train_seconds": main["seconds"], "images_per_s": main["images_per_s"], "augmentation_seed": seed}
    meta["images_seen"] += main["images"]
    meta["steps"] += main["steps"]
    meta["train_seconds"] += main["seconds"]
    meta["bursts"] = meta.get("bursts", []) + [entry]
    # The CPU resumes with second moments from the burst's large batches, whose gradient variance is
    # a fraction of its own: at its full rate the first steps would be up to sqrt(burst batch / CPU
    # batch) too large (after the first burst, 2026-12-06: CPU loss 4.7 before it, 5.1-5.4 after).
    # So it warms up again, over the moments' time constant 1 / (1 - beta2) steps.
    schedule = meta["schedule"]
    schedule.update(warmup_start=meta["images_seen"], warmup_from=schedule["peak_lr"] * REWARM_FROM,
                    warmup_images=REWARM_STEPS * meta["batch_size"])
    return entry


def write_summary(out: Path, summary: dict) -> None:
    """summary.json, with what would come back from OUT: every file, its size, and whether it fits."""
    own_size = 0
    while True:  # the summary lists its own size: settle it (two or three rounds)
        files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file() and p.name != SUMMARY_FILE}
        files[SUMMARY_FILE] = own_size
        summary["returned_files"] = {
            "count": len(files), "bytes": files, "total_mib": round(sum(files.values()) / 2**20, 2),
            "fits_run_tool": len(files) <= RETURN_MAX_FILES and max(files.values()) <= RETURN_MAX_FILE_BYTES}
        text = json.dumps(summary, indent=1)
        if len(text.encode()) == own_size:
            break
        own_size = len(text.encode())
    (out / SUMMARY_FILE).write_text(text)


def run_burst(args) -> dict:
    started = args.started_at if args.started_at is not None else time.time()
    deadline, hard_stop = started + 60 * args.minutes, started + 60 * args.hard_stop_minutes
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    summary = {"status": "running", "device": device_name(device), "torch": torch.__version__,
               "minutes": args.minutes, "hard_stop_minutes": args.hard_stop_minutes}
    try:
        torch.set_num_threads(args.threads)
        torch.backends.cudnn.benchmark = True
        records, encoded = read_pack(args.pack)
        state = load_state(args.state, data_hash(records))  # refuses another network or another image list
        data = PackOnDevice(records, encoded, device, args.threads)
        settings = burst_settings(state.meta, args.batch_size, args.lr, args.warmup_images, args.cooldown_fraction)
        prepare_state(state, settings, device)
        trainer = BurstTrainer(state, records, data, settings, device, args.out / LOG_FILE, args.log_every, started)
        summary |= {"settings": settings, "images_seen_before": state.images_seen,
                    "setup_seconds": round(time.time() - started, 1)}
        print(f"{len(data)} images on {summary['device']} after {summary['setup_seconds']} s; training until "
              f"{args.minutes} min: batch {settings['batch_size']}, lr {settings['start_lr']:.2e} -> "
              f"{settings['peak_lr']:.2e}", flush=True)

        warmup = Schedule(settings["peak_lr"], 0, settings["warmup_images"], settings["start_lr"])
        main = trainer.run("main", warmup.lr, until=deadline, min_steps=1)
        record_burst(state.meta, settings, main, started, device, trainer.augmentation_seed)
        state.save(args.out / STATE_FILE)  # the lineage goes on from here, un-cooled
        summary |= {"main": main, "images_seen_after": state.images_seen}
        write_summary(args.out, summary)
        print(f"main phase: {main['steps']} steps, {main['images_per_s']:.0f} images/s; state saved", flush=True)

        planned = max(1, math.ceil(args.cooldown_fraction * main["steps"]))
        batch = settings["batch_size"]
        top = warmup.lr(main["images"])  # the peak, unless the main phase ended inside the warm-up
        cooldown = trainer.run("cooldown", lambda done: cooldown_lr(top, done, planned * batch), until=hard_stop,
                               steps=planned)
        cooldown |= {"planned_steps": planned, "complete": cooldown["steps"] == planned, "start_lr": top}
        meta = state.meta
        save_model_file(state.ema_model(), args.out / MODEL_FILE,
                        f"tinyssd training lineage, {meta['train_seconds'] / 3600:.2f} training hours, {meta['images_seen']} "
                        f"images seen, the last {main['images']} in a GPU burst ({summary['device']}, batch {batch}, "
                        f"{main['seconds'] / 60:.1f} min); EMA of a cooldown over {cooldown['images']} images, exported "
                        f"{datetime.date.today().isoformat()}")
        summary |= {"status": "ok", "cooldown": cooldown, "wall_seconds": round(time.time() - started, 1)}
        print(f"cooldown: {cooldown['steps']} of {planned} steps; model exported after {summary['wall_seconds']} s")
        return summary
    except BaseException as err:
        summary |= {"status": "failed", "error": f"{type(err).__name__}: {err}",
                    "wall_seconds": round(time.time() - started, 1)}
        raise
    finally:
        write_summary(args.out, summary)


# --- back here: adoption into the lineage ---------------------------------------------------------
def adopt(burst_dir: Path, state_path: Path, records: list[Record], stop_trainer, backup_dir: Path = BACKUP_DIR,
          accept_cpu_run: bool = False) -> dict:
    """Checks a returned burst and installs its state as the lineage's, keeping the replaced one in
    `backup_dir`. `stop_trainer` stops a running CPU `lineage train` first (it saves on the way out)."""
    summary = json.loads((burst_dir / SUMMARY_FILE).read_text())
    if summary.get("status") != "ok":
        raise BurstError(f"{burst_dir}: the burst did not finish ({summary.get('status')}: {summary.get('error', '')})")
    if summary["device"].startswith("CPU") and not accept_cpu_run:
        raise BurstError(f"{burst_dir} holds a CPU dry run ({summary['device']}), not a GPU burst; "
                         "--accept-cpu-run adopts it all the same")
    burst = load_state(burst_dir / STATE_FILE, data_hash(records))  # architecture and training-list hashes
    broken = [k for k, v in burst.tensors().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise BurstError(f"{burst_dir / STATE_FILE}: non-finite values in {', '.join(broken[:5])}")
    if not burst.meta.get("bursts"):
        raise BurstError(f"{burst_dir / STATE_FILE} is not a burst's state (no meta['bursts'])")
    entry = burst.meta["bursts"][-1]
    read_model_file(burst_dir / MODEL_FILE)  # a model file of this architecture

    if state_path.exists():
        current = read_meta(state_path)
        if current["created"] != burst.meta["created"]:
            raise BurstError(f"the burst continued the lineage created {burst.meta['created']}, but {state_path} "
                             f"holds the one created {current['created']}")
        if any(b["started"] == entry["started"] for b in current.get("bursts", [])):
            raise BurstError(f"the burst of {entry['started']} is already in {state_path}")

    stop_trainer()
    discarded = 0
    if state_path.exists():
        current = read_meta(state_path)  # again: the stopped trainer has just saved
        discarded = current["images_seen"] - entry["images_seen_before"]
        backup_dir.mkdir(parents=True, exist_ok=True)
        backup = backup_dir / f"lineage-{current['images_seen']}-{datetime.datetime.now():%Y%m%d-%H%M%S}.safetensors"
        shutil.copyfile(state_path, backup)
        print(f"kept the replaced state as {backup}" + (
            f" (its {discarded} CPU images since the burst started are not in the lineage)" if discarded > 0 else ""))
    tmp = state_path.with_name(state_path.name + ".tmp")
    shutil.copyfile(burst_dir / STATE_FILE, tmp)
    tmp.replace(state_path)  # atomic, as LineageState.save
    print(f"installed {burst_dir / STATE_FILE} as {state_path}: {burst.images_seen} images seen")
    return {"entry": entry, "cooldown_images": summary["cooldown"]["images"], "discarded_cpu_images": max(0, discarded)}


def score_and_record(args, model_path: Path, entry: dict, cooldown_images: int, train_images: int) -> dict:
    """tinyssd eval of the burst's model and of the shipped one, ship if better, the record row and the card."""
    from . import record  # here only: it needs the tinyssd binary and matplotlib
    scored = record.score_candidates(args, {CANDIDATE: model_path}, args.work / "eval")
    row = record.record_row(RECORD_KIND, entry["device"], entry["host_cores"], train_images, entry, cooldown_images,
                            read_meta(args.state), scored)
    record.append_row(row)
    record.update_card(scored["shipped_now"], args)
    return row


def cmd_adopt(args) -> None:
    from ..data.voc import train_val_records
    from .process import stop_running_trainer
    records, _ = train_val_records(args.data)
    installed = adopt(args.dir, args.state, records, lambda: stop_running_trainer(args.state),
                      accept_cpu_run=args.accept_cpu_run)
    score_and_record(args, args.dir / MODEL_FILE, installed["entry"], installed["cooldown_images"], len(records))
    print("CPU training of the lineage is stopped: `training/lineage.sh start` continues it from the burst")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser("run", help="the burst (on the GPU machine; --device cpu for a dry run)")
    q.add_argument("--state", type=Path, default=STATE_PATH, help="the lineage state to continue")
    q.add_argument("--out", type=Path, required=True, help="where the four returned files go ($OUT there)")
    q.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    q.add_argument("--device", default="cuda")
    q.add_argument("--minutes", type=float, default=8.0, help="main phase ends this long after the command started")
    q.add_argument("--hard-stop-minutes", type=float, default=9.2,
                   help="the cooldown stops here even if unfinished (the run tool's limit is 10 min)")
    q.add_argument("--started-at", type=float, help="epoch seconds the command started (training/gpu_burst.sh)")
    q.add_argument("--batch-size", type=int, default=256)
    q.add_argument("--lr", type=float, help="peak rate (default: the lineage's peak x sqrt(batch / its batch))")
    q.add_argument("--warmup-images", type=int, default=51200, help="linear warm-up from the lineage's current rate")
    q.add_argument("--cooldown-fraction", type=float, default=0.12, help="cooldown steps as a share of the main steps")
    q.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1), help="decoding and torch CPU threads")
    q.add_argument("--log-every", type=int, default=25, help="steps per log row (each syncs with the device)")
    q = sub.add_parser("adopt", help="here: validate a returned burst, install its state, score, ship if better, record")
    q.add_argument("dir", type=Path, help="the folder holding the returned files")
    q.add_argument("--state", type=Path, default=STATE_PATH, help="the lineage state the burst replaces")
    q.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="VOC root holding VOC2007/ and VOC2012/")
    q.add_argument("--tinyssd", type=Path, default=TINYSSD_BINARY)
    q.add_argument("--split", type=Path, default=VAL_SPLIT_PATH)
    q.add_argument("--shipped", type=Path, default=SHIPPED_MODEL)
    q.add_argument("--work", type=Path, default=LINEAGE_WORK_DIR / "burst", help="evaluation outputs (git-ignored)")
    q.add_argument("--accept-cpu-run", action="store_true", help="adopt a CPU dry run's output too")
    args = p.parse_args(argv)
    if args.command == "run" and args.hard_stop_minutes <= args.minutes:
        p.error("--hard-stop-minutes must come after --minutes")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "run":
            run_burst(args)
        else:
            cmd_adopt(args)
    except (LineageError, BurstError, FileNotFoundError) as err:
        print(f"gpu_burst: {err}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
