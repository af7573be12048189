"""A synthetic data set and lineage states on it, for the tests that train (a few steps each)."""
from pathlib import Path

import numpy as np
import torch

from training.data.voc import Record
from training.lineage.state import LineageState, data_hash, load_state
from training.lineage.trainer import LineageTrainer, new_meta
from training.net.model import TinySSD


def synthetic_set(n: int = 6):
    rng = np.random.default_rng(0)
    records, images = [], []
    for i in range(n):
        h, w = 90 + 5 * i, 120 - 4 * i
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        box = np.array([[10 + i, 12, w - 20, h - 15 - i]], np.float32)
        image[12:h - 15 - i, 10 + i:w - 20] //= 2  # something box-shaped to find
        records.append(Record("synthetic", str(i), Path(f"{i}.jpg"), w, h, box, np.array([1 + i % 20]),
                              np.array([False])))
        images.append(image)
    return records, images


def new_state(records, batch_size: int = 2, batch_norm: bool = True) -> LineageState:
    torch.manual_seed(0)
    model = TinySSD(batch_norm=batch_norm).to(memory_format=torch.channels_last)
    meta = new_meta(records, {"kind": "test"}, seed=3)
    meta["batch_size"] = batch_size
    meta["schedule"].update(warmup_images=4)  # steps at both warm-up and peak rates
    return LineageState.create(model, meta)


def trainer(state, data):
    return LineageTrainer(state, *data, workers=0, log=lambda _: None)


def trained(data, steps: int = 2) -> LineageState:
    """A fresh state on `data`, trained `steps` steps."""
    state = new_state(data[0])
    trainer(state, data).run(steps=steps)
    return state


def reloaded(state: LineageState, data, path) -> LineageState:
    """`state` saved to `path` and loaded back, as a resumed run finds it."""
    state.save(path)
    return load_state(path, data_hash(data[0]))


def everything(state: LineageState) -> dict:
    out = {f"model/{k}": v.clone() for k, v in state.model.state_dict().items()}
    out.update({f"ema/{k}": v.clone() for k, v in state.ema.shadow.items()})
    for name, p in state.model.named_parameters():
        for kind in ("exp_avg", "exp_avg_sq"):
            out[f"{kind}/{name}"] = state.optimizer.state[p][kind].clone()
    return out
