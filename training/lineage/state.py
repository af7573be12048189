"""The training lineage's state: one safetensors file that any clone can continue exactly.

    training/state/lineage.safetensors
      model/<name>          float32 weights, batch-norm parameters and running statistics
      ema/<name>            float16 exponential moving average of the same (integer buffers as they are)
      adam/exp_avg/<name>   AdamW first moments, bfloat16
      adam/exp_avg_sq/<name> AdamW second moments, bfloat16
      __metadata__.lineage  JSON: images seen, steps, training seconds, schedule, seed,
                            hashes of the training file list and of the architecture,
                            the current working period, provenance

Saving rounds the live optimiser moments to bfloat16 and the live EMA to float16 as well, so
training that goes on after a save is exactly what resuming from the file gives. Between saves
(5 minutes, some 200 steps) the EMA accumulates its 2e-4 updates in float32; the rounding at a
save is at most half a float16 step, the precision the exported model has anyway.
"""
import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..engine.optimise import make_optimizer
from ..engine.schedule import Schedule
from ..net.arch import ARCH
from ..net.ema import ModelEMA
from ..net.model import TinySSD
from ..net.model_io import safe_open, write_safetensors
from ..paths import STATE_DIR

STATE_PATH = STATE_DIR / "lineage.safetensors"
FORMAT_VERSION = 1
MOMENT_DTYPE = torch.bfloat16
EMA_DTYPE = torch.float16


class LineageError(Exception):
    """A state that cannot be continued as asked (missing, or made for other data or another network)."""


def architecture_hash(arch: dict = ARCH) -> str:
    return hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]


def data_hash(records) -> str:
    """Hash of the training file list, in order (the sampler's order depends on it)."""
    return hashlib.sha256("\n".join(r.key for r in records).encode()).hexdigest()[:16]


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class LineageState:
    model: TinySSD
    ema: ModelEMA
    optimizer: torch.optim.AdamW
    meta: dict

    @property
    def schedule(self) -> Schedule:
        return Schedule(**self.meta["schedule"])

    @property
    def images_seen(self) -> int:
        return self.meta["images_seen"]

    @classmethod
    def create(cls, model: TinySSD, meta: dict, optimizer_state: dict | None = None) -> "LineageState":
        """A new lineage around `model` (batch norm on); `meta` must hold schedule, seed, batch_size,
        weight_decay, max_expand, ema_decay, data_hash and origin."""
        optimizer = make_optimizer(model, meta["schedule"]["peak_lr"], meta["weight_decay"])
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        full = {"format": FORMAT_VERSION, "architecture_hash": architecture_hash(), "images_seen": 0, "steps": 0,
                "train_seconds": 0.0, "ema_updates": 0, "created": now_iso(), "period": new_period(), **meta}
        return cls(model, ModelEMA(model, full["ema_decay"], full["ema_updates"]), optimizer, full)

    def ema_model(self) -> TinySSD:
        """The EMA weights and batch-norm buffers as a network on the CPU, in eval mode (what is exported)."""
        model = network(self.meta)
        model.load_state_dict({k: v.detach().cpu() for k, v in self.ema.shadow.items()})
        return model.eval()

    # --- saving -----------------------------------------------------------------------
    def round_moments(self) -> dict[str, torch.Tensor]:
        """Rounds the live optimiser moments to their stored precision; returns them as stored.
        Every data-parallel rank does this when rank 0 saves, so their weights stay identical."""
        stored = {}
        for name, p in self.model.named_parameters():
            state = self.optimizer.state.get(p)
            if not state:
                continue
            for kind in ("exp_avg", "exp_avg_sq"):
                stored[f"adam/{kind}/{name}"] = state[kind].to(MOMENT_DTYPE)
                state[kind].copy_(stored[f"adam/{kind}/{name}"])
        return stored

    def round_ema(self) -> dict[str, torch.Tensor]:
        """Rounds the live EMA's floating tensors to their stored precision; returns them as stored.
        A tensor beyond the float16 range (never seen: the largest is a running variance near 50)
        stays float32 rather than turn infinite."""
        stored = {}
        for k, v in self.ema.shadow.items():
            rounded = v.to(EMA_DTYPE) if v.is_floating_point() else v
            if rounded is not v and torch.isfinite(rounded).all():
                v.copy_(rounded)
            else:
                rounded = v
            stored[f"ema/{k}"] = rounded.clone()
        return stored

    def tensors(self) -> dict[str, torch.Tensor]:
        """Everything the file holds; rounds the live moments and EMA to their stored precision first."""
        out = {f"model/{k}": v.detach().clone() for k, v in self.model.state_dict().items()}
        out.update(self.round_ema())
        out.update(self.round_moments())
        return out

    def save(self, path: Path = STATE_PATH) -> None:
        self.meta["ema_updates"] = self.ema.updates
        self.meta["saved"] = now_iso()
        self.meta["adam_step"] = self._adam_step()
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        write_safetensors(self.tensors(), tmp, {"lineage": json.dumps(self.meta, sort_keys=True)})
        tmp.replace(path)  # atomic: a crash leaves the previous state whole

    def _adam_step(self) -> int:
        steps = {int(s["step"]) for s in self.optimizer.state.values() if "step" in s}
        if len(steps) > 1:
            raise LineageError(f"optimiser parameters disagree on the step count: {sorted(steps)}")
        return steps.pop() if steps else 0


def network(meta: dict) -> TinySSD:
    """The training network a state's tensors belong to: batch norm everywhere, in the predictors too
    when the state says so (`head_batch_norm`, see `lineage branch`)."""
    return TinySSD(batch_norm=True, head_batch_norm=meta.get("head_batch_norm", False))


def new_period() -> dict:
    """The working period's tally; `finish` turns it into a row of the record and starts a new one."""
    return {"started": now_iso(), "train_seconds": 0.0, "images": 0, "steps": 0}


def read_meta(path: Path = STATE_PATH) -> dict:
    path = Path(path)
    if not path.exists():
        raise LineageError(f"no lineage state at {path}: create one with `python -m training.lineage convert` "
                           "or `python -m training.lineage init`")
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if "lineage" not in metadata:
        raise LineageError(f"{path} is not a lineage state (no `lineage` metadata)")
    return json.loads(metadata["lineage"])


def load_state(path: Path = STATE_PATH, expected_data_hash: str | None = None,
               new_lineage: bool = False) -> LineageState:
    """Loads a state to continue; refuses one made for another network, or for other data unless
    `new_lineage` (then the data hash and sampler position start afresh, weights kept)."""
    meta = read_meta(path)
    if meta.get("format") != FORMAT_VERSION:
        raise LineageError(f"{path}: state format {meta.get('format')} is not {FORMAT_VERSION}")
    if meta["architecture_hash"] != architecture_hash():
        raise LineageError(
            f"{path} was trained for another network (architecture hash {meta['architecture_hash']}, "
            f"src/model/architecture.json gives {architecture_hash()}); its weights do not fit. Start a new "
            "lineage from a model of this architecture: `python -m training.lineage init --new-lineage`")
    if expected_data_hash is not None and meta["data_hash"] != expected_data_hash:
        if not new_lineage:
            raise LineageError(
                f"{path} was trained on another list of training images (hash {meta['data_hash']}, this data "
                f"gives {expected_data_hash}); continuing would break the sampling order and the record. "
                "Pass --new-lineage to start a new lineage from these weights on this data")
        meta["restarts"] = meta.get("restarts", []) + [{"at": now_iso(), "images_seen": meta["images_seen"],
                                                        "old_data_hash": meta["data_hash"]}]
        meta["data_hash"] = expected_data_hash
        meta["sampler_offset"] = meta["images_seen"]
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model = network(meta)
    model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    model.to(memory_format=torch.channels_last)
    ema = ModelEMA(model, meta["ema_decay"])
    ema.load_shadow({k[len("ema/"):]: v for k, v in tensors.items() if k.startswith("ema/")}, meta["ema_updates"])
    optimizer = make_optimizer(model, meta["schedule"]["peak_lr"], meta["weight_decay"])
    step = torch.tensor(float(meta["adam_step"]))
    for name, p in model.named_parameters():
        key = f"adam/exp_avg/{name}"
        if key in tensors:
            # same memory layout as the moments AdamW creates itself (channels-last weights)
            optimizer.state[p] = {"step": step.clone(),
                                  "exp_avg": torch.empty_like(p).copy_(tensors[key]),
                                  "exp_avg_sq": torch.empty_like(p).copy_(tensors[f"adam/exp_avg_sq/{name}"])}
    return LineageState(model, ema, optimizer, meta)
