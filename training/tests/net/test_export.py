import json

import torch

from training.net.arch import ARCH
from training.net.model import TinySSD
import pytest

from training.net.model_io import load_model_file, read_model_file, save_model_file, set_class_thresholds


def test_export_round_trip_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = TinySSD(batch_norm=True)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    model.eval()
    path = tmp_path / "m.safetensors"
    save_model_file(model, path, source="test run")
    first = path.read_bytes()
    save_model_file(model, path, source="test run")
    assert path.read_bytes() == first, "export must be byte-deterministic"

    tensors, meta = read_model_file(path)
    assert all(t.dtype == torch.float16 for t in tensors.values())
    assert not any("bn" in k for k in tensors)
    assert meta["architecture"] == "tinyssd" and meta["architecture_version"] == "1"
    assert json.loads(meta["class_names"]) == ARCH["class_names"]
    assert meta["input_size"] == "300"
    assert json.loads(meta["normalization"]) == {"channel_order": "RGB", "mean": [0.485, 0.456, 0.406],
                                                  "std": [0.229, 0.224, 0.225]}
    assert json.loads(meta["default_boxes"]) == ARCH["default_boxes"]
    assert meta["source"] == "test run" and float(meta["score_threshold"]) > 0

    reloaded = load_model_file(path).eval()
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        for a, b in zip(model(x), reloaded(x)):
            assert torch.allclose(a, b, atol=0.05, rtol=0.02)  # float16 weights


def test_class_thresholds_go_into_the_metadata_and_leave_the_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_model_file(TinySSD(batch_norm=False).eval(), path, source="test run")
    before, _ = read_model_file(path)
    set_class_thresholds(path, {"person": 0.29, "bottle": 0.1})
    after, meta = read_model_file(path)
    assert json.loads(meta["class_score_thresholds"]) == {"bottle": 0.1, "person": 0.29}
    assert meta["source"] == "test run" and meta["score_threshold"] == "0.4"
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not list(tmp_path.glob("*.rewriting")), "no temporary left"
    with pytest.raises(ValueError, match="unicorn"):
        set_class_thresholds(path, {"unicorn": 0.3})
    with pytest.raises(ValueError, match="between 0 and 1"):
        set_class_thresholds(path, {"person": 1.5})
