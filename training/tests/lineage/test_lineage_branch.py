"""A/B branches: batch norm in the predictors (ScratchDet) folds away and starts from the lineage's
function; a peak-rate branch warms up from today's rate; a repeat-factor branch trains and resumes in
its own order; `train --for-images` stops on the count."""
import copy
from argparse import Namespace

import pytest
import torch

from training.engine.optimise import calibration_batches, train_loader
from training.engine.schedule import Schedule
from training.lineage import cli
from training.lineage.branch import head_norms, make_branch, with_peak_lr
from training.lineage.state import LineageError, data_hash, load_state
from training.net.model import TinySSD, load_reference_state_dict, reference_state_dict

from ..synthetic import everything, new_state, reloaded, synthetic_set, trained, trainer


def test_predictor_batch_norm_folds_into_the_contract_tensors():
    torch.manual_seed(1)
    model = TinySSD(batch_norm=True, head_batch_norm=True).eval()
    with torch.no_grad():  # statistics far from identity, as trained ones are
        for norm in head_norms(model):
            norm.running_mean.uniform_(-2, 2)
            norm.running_var.uniform_(0.2, 4)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-1, 1)
    assert len(head_norms(model)) == 12
    plain = TinySSD()
    tensors = reference_state_dict(model)
    assert set(tensors) == set(reference_state_dict(plain)), "the model file's names: the engine does not change"
    load_reference_state_dict(plain, tensors)
    x = torch.randn(2, 3, 300, 300)
    with torch.no_grad():
        (loc, conf), (ref_loc, ref_conf) = model(x), plain.eval()(x)
    torch.testing.assert_close(loc, ref_loc, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conf, ref_conf, rtol=1e-4, atol=1e-4)


def _outputs(model, x, training=False):
    with torch.no_grad():
        return copy.deepcopy(model).train(training)(x)  # a copy: training mode moves the running statistics


def test_a_head_batch_norm_branch_starts_from_the_lineage_and_keeps_its_state(tmp_path):
    torch.set_num_threads(1)
    data = synthetic_set()
    lineage_state = reloaded(trained(data), data, tmp_path / "lineage.safetensors")
    x = next(iter(calibration_batches(*data, count=2, batch_size=2)))
    before_loc, before_conf = _outputs(lineage_state.model, x)
    train_loc, train_conf = _outputs(lineage_state.model, x, training=True)
    old_moments = {name: lineage_state.optimizer.state[p]["exp_avg"].clone()
                   for name, p in lineage_state.model.named_parameters()}
    old_ema = {k: v.clone() for k, v in lineage_state.ema.shadow.items()}

    branch = make_branch(lineage_state, "head-bn", True, None, 8, [x])

    # the same function in eval mode, and in training mode on batches like the calibration's (here: the
    # calibration batch itself); uncalibrated norms would standardise every predictor's output
    after_loc, after_conf = _outputs(branch.model, x)
    torch.testing.assert_close(after_loc, before_loc, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(after_conf, before_conf, rtol=1e-3, atol=1e-3)
    after_loc, after_conf = _outputs(branch.model, x, training=True)  # float32 batch variances: 1e-3-ish
    torch.testing.assert_close(after_loc, train_loc, rtol=1e-2, atol=5e-3)
    torch.testing.assert_close(after_conf, train_conf, rtol=1e-2, atol=5e-3)
    # weights, EMA and moments of the old tensors carry over; the new ones start at zero moments, same step
    for name, p in branch.model.named_parameters():
        moments = branch.optimizer.state[p]
        assert int(moments["step"]) == branch.meta["adam_step"] == 2
        if name in old_moments:
            assert torch.equal(moments["exp_avg"], old_moments[name]), name
        else:
            assert "_bn." in name and not moments["exp_avg"].any(), name
    for k, v in old_ema.items():
        assert torch.equal(branch.ema.shadow[k], v), k
    assert branch.meta["head_batch_norm"] and branch.meta["branch"]["name"] == "head-bn"
    assert branch.meta["period"]["images"] == 0 and branch.images_seen == lineage_state.images_seen

    # it saves, loads as a head-batch-norm network, trains on and exports to the plain contract
    loaded = reloaded(branch, data, tmp_path / "branch.safetensors")
    assert loaded.model.head_batch_norm and len(head_norms(loaded.ema_model())) == 12
    trainer(loaded, data).run(steps=1)
    assert set(reference_state_dict(loaded.ema_model())) == set(reference_state_dict(TinySSD()))
    with pytest.raises(LineageError, match="already has batch norm"):
        make_branch(loaded, "again", True, None, 8, calibration_batches(*data, count=2, batch_size=2))


def test_a_peak_rate_branch_warms_up_from_todays_rate():
    data = synthetic_set()
    state = new_state(data[0])
    state.meta["images_seen"] = 100  # past the lineage's own warm-up (4 images in new_state)
    today = state.schedule.lr(100)
    meta = with_peak_lr(state.meta, 2 * today, warmup_images=50)
    schedule = Schedule(**meta["schedule"])
    assert schedule.lr(100) == pytest.approx(today)
    assert schedule.lr(125) == pytest.approx(1.5 * today)
    assert schedule.lr(150) == pytest.approx(2 * today) == schedule.lr(10_000)
    assert state.meta["schedule"]["peak_lr"] == today, "the lineage's own meta is untouched"


def test_a_repeat_factor_branch_samples_so_and_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    data = synthetic_set()
    records, images = data
    lineage_state = new_state(records)
    trainer(lineage_state, data).run(steps=1)
    with pytest.raises(LineageError, match="must be positive"):
        make_branch(lineage_state, "none", False, None, 8, None, repeat_factor_threshold=0.0)
    branch = make_branch(lineage_state, "repeat-factor", False, None, 8, None, repeat_factor_threshold=0.5)
    assert branch.meta["repeat_factor_threshold"] == branch.meta["branch"]["repeat_factor_threshold"] == 0.5
    branch.save(tmp_path / "branch.safetensors")

    # its trainer (train and cooldown alike) draws the repeat-factor order from the images seen
    loaded = load_state(tmp_path / "branch.safetensors", data_hash(records))
    assert loaded.meta["repeat_factor_threshold"] == 0.5
    meta = loaded.meta
    expected = next(iter(train_loader(records, images, meta["seed"], meta["max_expand"], meta["batch_size"],
                                      meta["images_seen"], 0, torch.device("cpu"), repeat_factor_threshold=0.5)))
    plain = next(iter(train_loader(records, images, meta["seed"], meta["max_expand"], meta["batch_size"],
                                   meta["images_seen"], 0, torch.device("cpu"))))
    first = next(trainer(loaded, data).batches())
    assert torch.equal(first[0], expected[0]) and not torch.equal(first[0], plain[0])

    # straight through, against stopping at a save and resuming from the file
    trainer(loaded, data).run(steps=2)
    loaded.save(tmp_path / "middle.safetensors")
    trainer(loaded, data).run(steps=2)
    resumed = load_state(tmp_path / "middle.safetensors", data_hash(records))
    trainer(resumed, data).run(steps=2)
    a, b = everything(loaded), everything(resumed)
    assert resumed.images_seen == loaded.images_seen == 10
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_train_for_images_stops_on_the_count(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    data = synthetic_set()
    state = new_state(data[0])
    assert trainer(state, data).run(until_images=4) == 2 and state.images_seen == 4
    # the command refuses to replace a file with a branch
    path = tmp_path / "b.safetensors"
    path.write_bytes(b"the user's file")
    args = Namespace(out=path, head_batch_norm=False, peak_lr=None)
    with pytest.raises(LineageError, match="never replaces"):
        cli.cmd_branch(args)
    assert path.read_bytes() == b"the user's file"

