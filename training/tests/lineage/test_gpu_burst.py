"""The GPU burst: a CPU dry run of training/gpu_burst.sh as the GPU machine would run it, and adoption."""
import itertools
import json
import os
import shutil
import subprocess
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import pytest
import safetensors
import torch

from training.data.dataset import training_order
from training.data.gpu_pack import encode, read_pack, write_pack
from training.lineage import gpu_burst
from training.lineage import record as lineage_record
from training.lineage.gpu_burst import MODEL_FILE, STATE_FILE, SUMMARY_FILE, BurstError
from training.lineage.state import LineageError, data_hash, load_state, read_meta
from training.net import model_io
from training.net.model_io import read_model_file, write_safetensors
from training.paths import REPO_ROOT

from ..synthetic import new_state, synthetic_set, trainer

ABSENT_THERE = ("safetensors", "tqdm", "matplotlib")  # not installed on the GPU machine


@dataclass
class Burst:
    root: Path
    out: Path
    records: list
    images: list
    summary: dict
    output: str


@pytest.fixture(scope="module")
def burst(tmp_path_factory) -> Burst:
    """training/gpu_burst.sh on the CPU, with the packages the GPU machine lacks made unimportable."""
    root = tmp_path_factory.mktemp("burst")
    records, images = synthetic_set(6)
    write_pack(root / "pack", records, [encode(image, "webp", 80) for image in images], "webp", 80)
    new_state(records).save(root / "state.safetensors")
    for name in ABSENT_THERE:
        (root / "absent" / name).mkdir(parents=True)
        (root / "absent" / name / "__init__.py").write_text(f"raise ImportError('{name} is not on the GPU machine')")
    env = {**os.environ, "PYTHONPATH": str(root / "absent"), "PYTHON": sys.executable, "OUT": str(root / "out")}
    result = subprocess.run([str(REPO_ROOT / "training" / "gpu_burst.sh"), "--device", "cpu", "--batch-size", "4",
                             "--minutes", "0.05", "--threads", "1", "--log-every", "2", "--pack", str(root / "pack"),
                             "--state", str(root / "state.safetensors")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((root / "out" / SUMMARY_FILE).read_text())
    return Burst(root, root / "out", records, images, summary, result.stdout)


def test_dry_run_returns_four_files_within_the_run_tools_limits(burst):
    assert sorted(p.name for p in burst.out.iterdir()) == sorted(gpu_burst.RETURNED_FILES)
    summary = burst.summary
    assert summary["status"] == "ok" and summary["returned_files"]["fits_run_tool"]
    assert summary["returned_files"]["count"] == 4
    assert summary["returned_files"]["bytes"][SUMMARY_FILE] == (burst.out / SUMMARY_FILE).stat().st_size
    assert summary["main"]["steps"] >= 1 and summary["main"]["images_per_s"] > 0
    assert summary["cooldown"]["complete"] and summary["cooldown"]["steps"] == summary["cooldown"]["planned_steps"]
    log = (burst.out / gpu_burst.LOG_FILE).read_text().splitlines()
    assert log[0].split(",") == gpu_burst.LOG_FIELDS
    assert {row.split(",")[0] for row in log[1:]} == {"main", "cooldown"}
    read_model_file(burst.out / MODEL_FILE)


def test_the_returned_state_continues_the_lineage_and_the_cpu_run_resumes_from_it(burst):
    before = load_state(burst.root / "state.safetensors")
    after = load_state(burst.out / STATE_FILE, data_hash(burst.records))
    main = burst.summary["main"]
    entry = after.meta["bursts"][-1]
    assert after.images_seen == before.images_seen + main["images"] == entry["images_seen_before"] + entry["images"]
    assert after.meta["steps"] == before.meta["steps"] + main["steps"]
    assert after.meta["ema_updates"] == before.meta["ema_updates"] + main["steps"]  # saved before the cooldown
    # the CPU settings stay; the burst's own are in its entry
    assert after.meta["batch_size"] == before.meta["batch_size"] == 2 and entry["batch_size"] == 4
    assert after.meta["period"] == before.meta["period"]
    # the CPU warms up again from where the burst left the lineage, its peak unchanged
    schedule = after.schedule
    assert schedule.peak_lr == before.schedule.peak_lr
    assert schedule.warmup_start == after.images_seen
    assert schedule.lr(after.images_seen) == pytest.approx(gpu_burst.REWARM_FROM * schedule.peak_lr)
    assert schedule.lr(after.images_seen + gpu_burst.REWARM_STEPS * 2) == pytest.approx(schedule.peak_lr)
    assert entry["peak_lr"] == pytest.approx(before.meta["schedule"]["peak_lr"] * 2 ** 0.5)
    assert after.ema.max_decay == before.meta["ema_decay"]
    assert not torch.equal(after.model.state_dict()["conv1.conv.weight"], before.model.state_dict()["conv1.conv.weight"])
    # the CPU lineage resumes from the new position, in its own batch size
    trainer(after, (burst.records, burst.images)).run(steps=1)
    assert after.images_seen == before.images_seen + main["images"] + 2


def test_fallback_reader_reads_what_safetensors_reads(tmp_path):
    tensors = {"weights": torch.randn(3, 4), "moments": torch.randn(5).to(torch.bfloat16),
               "counts": torch.arange(6).view(2, 3), "half": torch.randn(2, 2).half(), "empty": torch.zeros(0, 3)}
    path = tmp_path / "t.safetensors"
    write_safetensors(tensors, path, {"lineage": "{}"})
    with safetensors.safe_open(str(path), framework="pt") as real, \
            model_io.FallbackSafeOpen(str(path), framework="pt") as ours:
        assert ours.metadata() == real.metadata() == {"lineage": "{}"}
        assert ours.keys() == sorted(real.keys()) == sorted(tensors)
        for key in tensors:
            assert ours.get_tensor(key).dtype == real.get_tensor(key).dtype
            assert torch.equal(ours.get_tensor(key), real.get_tensor(key)), key
    assert model_io.safe_open is safetensors.safe_open, "the real package is used where installed"


def test_pack_round_trip_keeps_the_records_and_their_order(burst):
    records, encoded = read_pack(burst.root / "pack")
    assert [r.key for r in records] == [r.key for r in burst.records]
    assert data_hash(records) == data_hash(burst.records)
    for record, original in zip(records, burst.records):
        assert torch.equal(torch.from_numpy(record.boxes), torch.from_numpy(original.boxes))
    assert gpu_burst.decode_image(encoded[0]).shape == burst.images[0].shape


# --- adoption ----------------------------------------------------------------------------------
def lineage_here(burst, tmp_path) -> Path:
    path = tmp_path / "lineage.safetensors"
    shutil.copyfile(burst.root / "state.safetensors", path)
    return path


def test_adopt_installs_the_burst_state_and_keeps_the_replaced_one(burst, tmp_path):
    path = lineage_here(burst, tmp_path)
    original = path.read_bytes()
    stops = []
    installed = gpu_burst.adopt(burst.out, path, burst.records, lambda: stops.append(True), tmp_path / "backups",
                                accept_cpu_run=True)
    assert stops == [True]
    assert path.read_bytes() == (burst.out / STATE_FILE).read_bytes()
    backups = list((tmp_path / "backups").iterdir())
    assert len(backups) == 1 and backups[0].read_bytes() == original
    assert installed["discarded_cpu_images"] == 0
    assert installed["cooldown_images"] == burst.summary["cooldown"]["images"]
    with pytest.raises(BurstError, match="already"):
        gpu_burst.adopt(burst.out, path, burst.records, lambda: None, tmp_path / "backups", accept_cpu_run=True)


def test_adopt_refuses_dry_runs_other_data_another_lineage_and_unfinished_bursts(burst, tmp_path):
    path = lineage_here(burst, tmp_path)
    original = path.read_bytes()

    def stop():
        raise AssertionError("a refused burst must not stop the CPU training")

    with pytest.raises(BurstError, match="CPU dry run"):
        gpu_burst.adopt(burst.out, path, burst.records, stop, tmp_path / "backups")
    with pytest.raises(LineageError, match="another list of training images"):
        gpu_burst.adopt(burst.out, path, burst.records[::-1], stop, tmp_path / "backups", accept_cpu_run=True)
    assert path.read_bytes() == original
    other = new_state(burst.records)
    other.meta["created"] = "2000-01-01T00:00:00+00:00"
    other.save(path)
    other_lineage = path.read_bytes()
    with pytest.raises(BurstError, match="created"):
        gpu_burst.adopt(burst.out, path, burst.records, stop, tmp_path / "backups", accept_cpu_run=True)
    failed = tmp_path / "failed"
    shutil.copytree(burst.out, failed)
    summary = json.loads((failed / SUMMARY_FILE).read_text()) | {"status": "failed", "error": "RuntimeError: OOM"}
    (failed / SUMMARY_FILE).write_text(json.dumps(summary))
    with pytest.raises(BurstError, match="did not finish"):
        gpu_burst.adopt(failed, path, burst.records, stop, tmp_path / "backups")
    assert path.read_bytes() == other_lineage and not (tmp_path / "backups").exists()


def test_the_record_row_describes_the_burst_and_ships_a_better_model(burst, tmp_path, monkeypatch):
    model = burst.out / MODEL_FILE
    scores = {str(model): {"map11": 0.30, "map_all": 0.28}, "shipped": {"map11": 0.25, "map_all": 0.24}}
    shipped, rows, cards = [], [], []
    monkeypatch.setattr(lineage_record, "tinyssd_eval",
                        lambda binary, path, data, split, plots=None: scores.get(str(path), scores["shipped"]))
    monkeypatch.setattr(lineage_record, "ship", lambda candidate, target: shipped.append((candidate, target)))
    monkeypatch.setattr(lineage_record, "append_row", rows.append)
    monkeypatch.setattr(lineage_record, "update_card", lambda final, args: cards.append(final))
    tuned = []
    monkeypatch.setattr(lineage_record, "tinyssd_tune", lambda binary, path, data, split, out: {"person": 0.3})
    monkeypatch.setattr(lineage_record, "set_class_thresholds", lambda path, t: tuned.append((path, t)))
    calibrated = []
    monkeypatch.setattr(lineage_record, "calibration_images", lambda data: [data / "a.jpg"])
    monkeypatch.setattr(lineage_record, "tinyssd_calibrate",
                        lambda binary, path, images: calibrated.append((path, images)))
    args = Namespace(work=tmp_path, tinyssd=Path("tinyssd"), shipped=tmp_path / "shipped.safetensors",
                     data=Path("voc"), split=Path("split.txt"), state=burst.out / STATE_FILE)
    entry = read_meta(burst.out / STATE_FILE)["bursts"][-1]
    row = gpu_burst.score_and_record(args, model, entry, burst.summary["cooldown"]["images"], len(burst.records))
    assert rows == [row] and set(row) == set(lineage_record.RECORD_FIELDS)
    assert row["kind"] == "GPU burst" and row["machine"] == entry["device"] and row["images"] == entry["images"]
    assert row["candidate"] == gpu_burst.CANDIDATE and row["map11"] == "30.00" and row["shipped"] == "yes"
    assert row["lineage_images"] == read_meta(burst.out / STATE_FILE)["images_seen"]
    assert row["train_images"] == len(burst.records)
    assert shipped == [(model, args.shipped)] and cards == [scores[str(model)]]
    assert tuned == [(args.shipped, {"person": 0.3})], "the shipped model gets its thresholds"
    assert calibrated == [(args.shipped, [Path("voc/a.jpg")])], "and its int8 calibration"
    assert json.loads((tmp_path / "eval" / "shipped.json").read_text()) == scores["shipped"]


def test_a_repeat_factor_state_is_drawn_in_the_cpu_trainers_order(tmp_path):
    """A state of a repeat-factor lineage: the burst draws the repeat-factor order the CPU trainer
    draws (items (epoch, index, copy)), from where the state stands, and makes batches of it."""
    records, images = synthetic_set(6)
    state = new_state(records)
    state.meta["repeat_factor_threshold"] = 0.5  # every class in 1 of 6 images: each repeated ~1.7 times
    state.meta["images_seen"] = 5
    data = gpu_burst.PackOnDevice(records, [encode(image, "webp", 80) for image in images], torch.device("cpu"), 1)
    burst_trainer = gpu_burst.BurstTrainer(state, records, data, {"batch_size": 4}, torch.device("cpu"),
                                           tmp_path / "log.csv", 2, 0.0)
    cpu_order = training_order(records, state.meta["seed"], 5, 0.5)
    drawn = list(itertools.islice(burst_trainer.order, 20))
    assert drawn == list(itertools.islice(iter(cpu_order), 20))
    assert all(len(item) == 3 for item in drawn) and len({index for _, index, _ in drawn}) == 6
    images_batch = burst_trainer.next_batch()[0]
    assert images_batch.shape[0] == 4
