"""The lineage's trainer: steps of a state over the training list, on one rank or several, and the
lineage's recipe (the settings a new state starts with)."""
import datetime
import time
from pathlib import Path

import torch

from ..engine.optimise import train_loader, train_step
from ..net.ema import DEFAULT_MAX_DECAY
from .process import Stop
from .ranks import RankGroup
from .state import LineageError, LineageState, data_hash

DEFAULTS = {"peak_lr": 2e-3, "warmup_images": 8000, "batch_size": 32, "weight_decay": 0.05, "max_expand": 3.0,
            "ema_decay": DEFAULT_MAX_DECAY}


def new_meta(records, origin: dict, seed: int, images_seen: int = 0, train_seconds: float = 0.0,
             warmup_from: float | None = None) -> dict:
    """The metadata of a new lineage state: the recipe (DEFAULTS), the data's hash, where it starts."""
    return {"seed": seed, "batch_size": DEFAULTS["batch_size"], "weight_decay": DEFAULTS["weight_decay"],
            "max_expand": DEFAULTS["max_expand"], "ema_decay": DEFAULTS["ema_decay"], "data_hash": data_hash(records),
            "images_seen": images_seen, "train_seconds": train_seconds, "origin": origin,
            "schedule": {"peak_lr": DEFAULTS["peak_lr"], "warmup_start": images_seen,
                         "warmup_images": DEFAULTS["warmup_images"],
                         "warmup_from": DEFAULTS["peak_lr"] * 0.01 if warmup_from is None else warmup_from}}


class LineageTrainer:
    """Runs steps of a LineageState over a record list; the learning rate comes from `lr_at`.

    With a RankGroup of several ranks, each process holds the same state and trains on its share
    of every batch (DistributedDataParallel); rank 0 alone keeps the EMA, saves and logs."""

    def __init__(self, state: LineageState, records, images, workers: int = 2, device: str = "cpu",
                 log=print, log_every: int = 50, group: RankGroup | None = None):
        if data_hash(records) != state.meta["data_hash"]:
            raise LineageError("the state's data hash does not match these records")
        self.state, self.records, self.images = state, records, images
        self.workers, self.device, self.log_every = workers, torch.device(device), log_every
        self.group = group or RankGroup()
        self.log = log if self.group.is_main else (lambda _: None)
        self.state.model.to(self.device).train()
        self.model = self.group.wrap(self.state.model)

    def batches(self):
        meta = self.state.meta
        # A repeat-factor branch samples so in `train` and in its `cooldown` alike (the same state's meta).
        return iter(train_loader(self.records, self.images, meta["seed"], meta["max_expand"], meta["batch_size"],
                                 meta["images_seen"] - meta.get("sampler_offset", 0), self.workers, self.device,
                                 self.group.rank, self.group.world_size, meta.get("repeat_factor_threshold")))

    def save(self, path: Path | None) -> None:
        """Rank 0 writes the state; the other ranks round their moments as the save does."""
        if self.group.is_main:
            self.state.save(path)
        else:
            self.state.round_moments()

    def run(self, steps: int | None = None, deadline: float | None = None, stop: Stop | None = None,
            lr_at=None, save_every_s: float | None = None, save_path: Path | None = None,
            until_images: int | None = None) -> int:
        """Trains until `steps` steps, the deadline, `until_images` images seen or a stop request; returns
        the steps done. A periodic save happens before the step after it falls due (the ranks agree on it
        then), and so does a stop: every rank ends after the same step."""
        meta, period = self.state.meta, self.state.meta["period"]
        lr_at = lr_at or (lambda done: self.state.schedule.lr(meta["images_seen"]))
        batches = self.batches()
        done, last_save = 0, time.monotonic()
        window = {"loss": 0.0, "images": 0, "start": time.monotonic()}
        while steps is None or done < steps:
            tick = time.perf_counter()
            try:
                batch = next(batches)
            except Exception:
                if not (stop and stop.requested):  # else a worker was interrupted too
                    raise
                batch = None
            wants_stop = (batch is None or (stop is not None and stop.requested)
                          or (deadline is not None and time.time() >= deadline)
                          or (until_images is not None and meta["images_seen"] >= until_images))
            save_due = bool(save_every_s and save_path and time.monotonic() - last_save >= save_every_s)
            wants_stop, save_due, normaliser = self.group.agree(wants_stop, save_due, batch)
            if save_due and not wants_stop:  # a stopping run is saved by its caller
                self.save(save_path)
                last_save = time.monotonic()
            if wants_stop:
                break
            lr = lr_at(done)
            loc_loss, conf_loss = train_step(self.model, self.state.optimizer, batch, lr, self.device, normaliser)
            if self.group.is_main:
                self.state.ema.update()
            n = batch[0].shape[0] * self.group.world_size
            seconds = time.perf_counter() - tick
            meta["images_seen"] += n
            meta["steps"] += 1
            meta["train_seconds"] += seconds
            period["images"] += n
            period["steps"] += 1
            period["train_seconds"] += seconds
            done += 1
            window["loss"] += float(loc_loss + conf_loss)
            window["images"] += n
            if done % self.log_every == 0:
                loss = self.group.mean(window["loss"]) / self.log_every
                rate = window["images"] / (time.monotonic() - window["start"])
                self.log(f"{datetime.datetime.now():%H:%M:%S} images {meta['images_seen']} "
                         f"epoch {meta['images_seen'] / len(self.records):.2f} lr {lr:.2e} "
                         f"loss {loss:.3f} {rate:.1f} img/s "
                         f"period {period['train_seconds'] / 60:.1f} min")
                window = {"loss": 0.0, "images": 0, "start": time.monotonic()}
        return done
