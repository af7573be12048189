"""The lineage on two data-parallel ranks (DistributedDataParallel, gloo): the pytest process is
rank 0, rank 1 is spawned, as `python -m training.lineage train --ranks 2` does."""
import contextlib
import os
import signal
from unittest import mock

import torch

from training.engine.optimise import train_loader
from training.lineage import cli, process, trainer
from training.lineage.ranks import RankGroup, rank_group
from training.lineage.state import data_hash, load_state, read_meta

from ..synthetic import everything, new_state, synthetic_set

BATCH = 4  # 2 + 2: batch norm in training mode needs more than one image per rank


def on_two_ranks(rank_main, *args):
    """Runs rank_main(group, *args) on rank 0 (here) and on a spawned rank 1; returns rank 0's result."""
    torch.set_num_threads(1)
    with rank_group(2, 1, rank_main, args) as group:
        return rank_main(group, *args)


def quiet_trainer(state, data, group):
    return trainer.LineageTrainer(state, *data, workers=0, log=lambda _: None, group=group)


def test_the_ranks_share_each_batch_of_the_one_process_order():
    records, images = synthetic_set()  # 6 images: batches of 4 straddle the epochs
    start = 3

    def batches(rank, world_size, count=4):
        loader = iter(train_loader(records, images, 3, 3.0, BATCH, start, 0, torch.device("cpu"), rank, world_size))
        return [next(loader) for _ in range(count)]

    for whole, first, second in zip(batches(0, 1), batches(0, 2), batches(1, 2)):
        assert first[0].shape[0] == second[0].shape[0] == BATCH // 2
        for a, b, c in zip(whole, first, second):
            assert torch.equal(a, torch.cat([b, c]))


def _straight_and_resumed(group, start, data, out_dir):
    """4 steps straight through with the periodic save a long run makes after 2, then a second pair of
    states loaded from that save (every rank reads the file, a new DDP wrapper) and trained 2 steps."""
    straight = load_state(start, data_hash(data[0]))
    trainer = quiet_trainer(straight, data, group)
    trainer.run(steps=2)
    trainer.save(out_dir / "middle.safetensors")
    trainer.run(steps=2)
    resumed = load_state(out_dir / "middle.safetensors", data_hash(data[0]))
    quiet_trainer(resumed, data, group).run(steps=2)
    if not group.is_main:
        torch.save(resumed.model.state_dict(), out_dir / "rank1_model.pt")
    return straight, resumed


def test_two_ranks_resume_from_a_saved_state_exactly(tmp_path):
    data = synthetic_set()
    start = tmp_path / "start.safetensors"
    new_state(data[0], BATCH).save(start)
    a, b = on_two_ranks(_straight_and_resumed, start, data, tmp_path)

    assert a.meta["images_seen"] == b.meta["images_seen"] == 4 * BATCH
    assert a.meta["steps"] == b.meta["steps"] == 4 and a.ema.updates == b.ema.updates == 4
    x, y = everything(a), everything(b)
    assert x.keys() == y.keys()
    for key in x:
        assert torch.equal(x[key], y[key]), key
    assert read_meta(tmp_path / "middle.safetensors")["images_seen"] == 2 * BATCH
    # rank 1 rounded its moments at the save too, so both ranks still hold the same weights
    rank1 = torch.load(tmp_path / "rank1_model.pt")
    for key, value in b.model.state_dict().items():
        if "running" not in key and "num_batches" not in key:  # batch-norm statistics stay per rank
            assert torch.equal(value, rank1[key]), key
    assert not torch.equal(x["model/conv1.conv.weight"], new_state(data[0], BATCH).model.conv1.conv.weight)


def _train_in_float32_without_batch_norm(group, data, steps):
    with mock.patch("torch.autocast", lambda *_args, **_kwargs: contextlib.nullcontext()):
        state = new_state(data[0], BATCH, batch_norm=False)
        quiet_trainer(state, data, group).run(steps=steps)
    return state


def close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> bool:
    """|a - b| within `tolerance` of |b| (norms; a layer no box reaches has zero moments on both sides)."""
    return float((a - b).detach().norm()) <= tolerance * float(b.detach().norm())


def test_two_ranks_step_as_one_process_over_the_same_images():
    """Without batch norm (per rank over half the batch) and in float32, two ranks take one process's
    steps: the loss divides by the positives of the whole batch and DDP averages the gradients. Dividing
    by each rank's own positives instead is 10-50 % off here. (With bf16 autocast the two halves round
    differently: the ranks' steps then differ from one process's by ~2 %, bf16's from float32's by ~20 %.)"""
    torch.set_num_threads(1)
    data = synthetic_set()
    ranks = on_two_ranks(_train_in_float32_without_batch_norm, data, 2)
    single = _train_in_float32_without_batch_norm(RankGroup(), data, 2)
    start = new_state(data[0], BATCH, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in ranks.model.modules())
    assert ranks.meta["images_seen"] == single.meta["images_seen"] == 2 * BATCH
    before = dict(start.model.named_parameters())
    for (name, p), q in zip(ranks.model.named_parameters(), single.model.parameters()):
        # Adam's early steps are nearly sign(gradient): a gradient near 0 may flip, hence 1 % for steps
        assert close(p - before[name], q - before[name], 1e-2), name
        for kind in ("exp_avg", "exp_avg_sq"):
            assert close(ranks.optimizer.state[p][kind], single.optimizer.state[q][kind], 1e-3), (name, kind)


class StopAfterChecks:
    """A stop request that arrives after the loop has looked `checks` times (one per step)."""

    def __init__(self, checks: int):
        self.checks = checks

    @property
    def requested(self) -> bool:
        self.checks -= 1
        return self.checks < 0


def _stop_on_rank1(group, state_path, data, out_dir):
    state = load_state(state_path, data_hash(data[0]))
    if group.is_main:  # rank 0 is not asked to stop; it must follow rank 1, well before this bound
        return quiet_trainer(state, data, group).run(steps=10)
    done = quiet_trainer(state, data, group).run(stop=StopAfterChecks(3))
    (out_dir / "rank1_done").write_text(str(done))


def test_a_stop_request_on_either_rank_stops_both_after_the_same_step(tmp_path):
    data = synthetic_set()
    new_state(data[0], BATCH).save(tmp_path / "s.safetensors")
    assert on_two_ranks(_stop_on_rank1, tmp_path / "s.safetensors", data, tmp_path) == 3
    assert (tmp_path / "rank1_done").read_text() == "3"


def test_sigterm_to_the_pid_file_stops_the_ranks_and_rank0_saves(tmp_path, monkeypatch):
    """`python -m training.lineage train --ranks 2`, with a SIGTERM to the pid its pid file names
    (what `training/lineage.sh stop` sends) arriving during the third step."""
    data = synthetic_set()
    path = tmp_path / "state.safetensors"
    new_state(data[0], BATCH).save(path)
    monkeypatch.setattr(process, "LINEAGE_WORK_DIR", tmp_path)
    monkeypatch.setattr(process, "LOG_DIR", tmp_path / "log")
    monkeypatch.setattr(cli, "_records", lambda _args: data[0])
    monkeypatch.setattr(cli, "ImageCache", lambda _records, _name: data[1])
    pid_seen, steps = [], [0]
    real_step = trainer.train_step

    def step_then_sigterm(*args):
        steps[0] += 1
        if steps[0] == 3:
            pid_seen.append(int(process.pid_path(path).read_text()))
            os.kill(pid_seen[0], signal.SIGTERM)
        return real_step(*args)

    monkeypatch.setattr(trainer, "train_step", step_then_sigterm)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # saves after every step as well, which both ranks must agree on
        assert cli.main(["--state", str(path), "train", "--ranks", "2", "--workers", "0",
                             "--save-minutes", "0.0001"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert pid_seen == [os.getpid()] and not process.pid_path(path).exists()
    meta = read_meta(path)
    assert meta["images_seen"] == 3 * BATCH and meta["steps"] == 3 and meta["ema_updates"] == 3
    assert "2 rank(s)" in (tmp_path / "log" / "train.log").read_text()


def test_a_stop_while_the_data_loads_is_honoured_before_the_first_step(tmp_path, monkeypatch):
    """`training/lineage.sh stop` right after `start`: the trainer already has its pid file and
    signal handler while it loads the data, and stops (saving, untrained) at its first step."""
    data = synthetic_set()
    path = tmp_path / "state.safetensors"
    new_state(data[0], BATCH).save(path)
    monkeypatch.setattr(process, "LINEAGE_WORK_DIR", tmp_path)
    monkeypatch.setattr(process, "LOG_DIR", tmp_path / "log")

    stopped = []

    def load_records(_args):
        pid = process.running_trainer(path)
        stopped.append(pid)
        os.kill(pid, signal.SIGTERM)
        return data[0]

    monkeypatch.setattr(cli, "_records", load_records)
    monkeypatch.setattr(cli, "ImageCache", lambda _records, _name: data[1])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cli.main(["--state", str(path), "train", "--ranks", "1", "--workers", "0"]) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert stopped == [os.getpid()] and not process.pid_path(path).exists()
    assert read_meta(path)["images_seen"] == 0
